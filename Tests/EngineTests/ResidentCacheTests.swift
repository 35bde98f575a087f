import Foundation
import Kernels
import XCTest
@testable import Engine

/// The engine's KV cache is resident from the start (every page written once at init), so a
/// block's first use faults nothing in mid-step; a bare storage stays lazy.
final class ResidentCacheTests: XCTestCase {
    /// The process's resident bytes (/proc/self/statm: pages, then resident pages).
    func residentBytes() throws -> Int {
        let statm = try String(contentsOfFile: "/proc/self/statm", encoding: .utf8)
        let fields = statm.split(separator: " ")
        let pages = try XCTUnwrap(Int(fields[1]))
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    func testBareStorageIsLazyUntilMadeResident() throws {
        let before = try residentBytes()
        // 4 layers × 1,024 blocks × 16 slots × 256 × 2 bytes, keys and values: 64 MiB.
        let storage = KVCacheStorage(layers: 4, kvDim: 256, blockSize: 16, blockCount: 1024, type: .f16)
        XCTAssertEqual(storage.bytes, 64 << 20)
        let allocated = try residentBytes()
        XCTAssertLessThan(allocated - before, storage.bytes / 4, "allocation alone touches the pages")
        storage.makeResident()
        let touched = try residentBytes()
        XCTAssertGreaterThan(touched - before, storage.bytes * 9 / 10, "makeResident leaves pages untouched")
    }

    func testEngineCacheIsResidentAfterInit() throws {
        let before = try residentBytes()
        // FakeModel stores one f32 key and value a token: 8 Mi tokens are 64 MiB.
        let engine = Engine(model: FakeModel(), endOfGeneration: [],
                            configuration: .init(maxBatchTokens: 64, maxSequences: 8, cacheTokens: 8 << 20, blockSize: 16))
        defer { engine.shutdown() }
        let grown = try residentBytes() - before
        XCTAssertGreaterThan(grown, (64 << 20) * 9 / 10, "the engine's cache is not resident after init")
    }
}
