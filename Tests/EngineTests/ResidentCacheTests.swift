#if os(Linux)
import Foundation
import XCTest
@testable import Engine
@testable import Kernels

/// The engine's KV cache is resident from the start (every page written once at init), so a
/// block's first use faults nothing in mid-step; a bare storage stays lazy. Residency is read
/// page by page with mincore(2), so other tests' memory does not blur it; each array is 48 MiB,
/// past glibc's largest mmap threshold (32 MiB), so it is fresh pages; but glibc can serve even
/// such a size from a free top chunk large enough, so the heap's free top is given back first
/// (malloc_trim). A fresh-clone CI once saw half the bare storage resident after the module's
/// earlier tests (not reproduced alone).
final class ResidentCacheTests: XCTestCase {
    /// The share of the whole pages of [p, p + bytes) that are resident.
    func residentShare(_ p: UnsafeMutableRawPointer, _ bytes: Int) -> Double {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = (Int(bitPattern: p) + page - 1) / page * page, end = (Int(bitPattern: p) + bytes) / page * page
        guard end > start else { return 0 }
        let pages = (end - start) / page
        var vec = [UInt8](repeating: 0, count: pages)
        let rc = mincore(UnsafeMutableRawPointer(bitPattern: start), end - start, &vec)
        XCTAssertEqual(rc, 0, "mincore failed")
        return Double(vec.filter { $0 & 1 != 0 }.count) / Double(pages)
    }

    func share(_ s: KVCacheStorage) -> Double {
        (residentShare(s.keys, s.bytes / 2) + residentShare(s.values, s.bytes / 2)) / 2
    }

    /// glibc's malloc_trim(0) (malloc.h, which the Glibc module leaves out): the heap's free top
    /// back to the system.
    func trimHeap() {
        guard let f = dlsym(nil, "malloc_trim") else { return }  // not glibc: large blocks are mmapped anyway
        _ = unsafeBitCast(f, to: (@convention(c) (Int) -> Int32).self)(0)
    }

    /// Whether `p` lies in the process's brk heap (/proc/self/maps): where a large block reused
    /// from the heap's free top would be, not in a fresh mapping.
    func inBrkHeap(_ p: UnsafeMutableRawPointer) -> Bool {
        guard let maps = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8) else { return false }
        let a = UInt(bitPattern: Int(bitPattern: p))
        for line in maps.split(separator: "\n") where line.hasSuffix("[heap]") {
            let range = line.split(separator: " ")[0].split(separator: "-").compactMap { UInt($0, radix: 16) }
            if range.count == 2 && range[0] <= a && a < range[1] { return true }
        }
        return false
    }

    func testBareStorageIsLazyUntilMadeResident() {
        // 6 layers × 1,024 blocks × 16 slots × 256 × 2 bytes: 48 MiB of keys, as many of values.
        trimHeap()
        let storage = KVCacheStorage(layers: 6, kvDim: 256, blockSize: 16, blockCount: 1024, type: .f16)
        XCTAssertEqual(storage.bytes, 96 << 20)
        // (MALLOC_PERTURB_ makes glibc fill every allocation.)
        if getenv("MALLOC_PERTURB_") == nil {
            XCTAssertLessThan(share(storage), 0.1, "allocation alone touches the pages (keys in the brk heap: \(inBrkHeap(storage.keys)), values: \(inBrkHeap(storage.values)))")
        }
        storage.makeResident()
        XCTAssertGreaterThan(share(storage), 0.99, "makeResident leaves pages untouched")
    }

    func testEngineCacheIsResidentAfterInit() {
        // FakeModel stores one f32 key and value a token: 12 Mi tokens are 48 MiB of each.
        let engine = Engine(model: FakeModel(), endOfGeneration: [],
                            configuration: .init(maxBatchTokens: 64, maxSequences: 8, cacheTokens: 12 << 20, blockSize: 16))
        defer { engine.shutdown() }
        XCTAssertEqual(engine.cache.bytes, 96 << 20)
        XCTAssertGreaterThan(share(engine.cache), 0.99, "the engine's cache is not resident after init")
    }

    func testDraftModelsCacheIsResidentToo() throws {
        var configuration = EngineConfiguration(maxBatchTokens: 64, maxSequences: 8, cacheTokens: 12 << 20, blockSize: 16)
        configuration.speculation.method = .draft
        let engine = Engine(model: FakeModel(), endOfGeneration: [], configuration: configuration, draft: FakeModel())
        defer { engine.shutdown() }
        let draft = try XCTUnwrap(engine.draftCache, "no draft cache")
        XCTAssertGreaterThan(share(draft), 0.99, "the draft's cache is not resident after init")
    }
}
#endif
