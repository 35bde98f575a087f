import Foundation
import XCTest
@testable import GGUF
import Kernels

/// Every prefix of the valid fixtures, and many seeded random corruptions of them:
/// the reader either throws a GGUFError or returns a table whose tensors all lie
/// inside the buffer, and never crashes. (The libFuzzer target in fuzz/gguf goes
/// further; this keeps a deterministic slice of it in every test run.)
final class TruncationAndMutationTests: XCTestCase {
    /// Where the last tensor's bytes end: any cut before it must fail.
    func dataEnd(_ h: GGUFParser.Header) -> Int {
        h.dataOffset + (h.tensors.map { $0.offset + $0.byteCount }.max() ?? 0)
    }

    func checkEveryPrefix(_ name: String) throws {
        let full = try Fixtures.bytes(name)
        let whole = try parseGGUF(full)
        let end = dataEnd(whole)
        XCTAssertGreaterThan(end, 0)
        for cut in 0..<full.count {
            let prefix = Array(full[..<cut])
            if cut < end {
                guard let e = ggufError(prefix) else { continue }
                switch e {
                case .truncated, .countTooLarge, .tensorOutOfRange: break
                default: XCTFail("\(name) cut at \(cut): unexpected \(e)")
                }
            } else {
                // Only the padding after the last tensor is gone: still the same file.
                let h = try parseGGUF(prefix)
                XCTAssertEqual(h.tensors, whole.tensors, "cut at \(cut)")
                XCTAssertEqual(h.metadata, whole.metadata, "cut at \(cut)")
            }
        }
    }

    func testEveryPrefixOfTheSmallV2File() throws { try checkEveryPrefix("small_v2.gguf") }
    func testEveryPrefixOfTheAllTypesFile() throws { try checkEveryPrefix("all_types.gguf") }

    func testCutsInsideTheHeaderNameTheField() throws {
        let full = try Fixtures.bytes("all_types.gguf")
        assertGGUFError(Array(full[..<10]), .truncated(what: "tensor count", offset: 8, needed: 8, available: 2))
        // 23 pairs need at least 23 * 13 bytes after the header: refused before reading any.
        assertGGUFError(Array(full[..<40]), .countTooLarge(what: "metadata", count: 23))
        // Past that, a cut names the field it falls in: test.string's key starts at 396,
        // its value's length at 419 and its 15 bytes at 427.
        assertGGUFError(Array(full[..<430]), .truncated(what: "test.string", offset: 427, needed: 15, available: 3))
        assertGGUFError(Array(full[..<421]), .truncated(what: "length of test.string", offset: 419, needed: 8, available: 2))
        assertGGUFError(Array(full[..<405]), .truncated(what: "metadata key", offset: 404, needed: 11, available: 1))
    }

    /// SplitMix64: a fixed, portable sequence, so a failure reproduces.
    struct SplitMix64 {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    /// Values that stress counts, lengths, types and offsets when written over a field.
    static let interesting: [UInt64] = [0, 1, 3, 5, 0x7F, 0xFF, 0xFFFF, 1 << 31, 1 << 32, 1 << 40, 1 << 60, .max]

    func mutate(_ bytes: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var b = bytes
        for _ in 0...rng.below(3) {
            switch rng.below(4) {
            case 0: b[rng.below(b.count)] = UInt8(truncatingIfNeeded: rng.next())
            case 1: b[rng.below(b.count)] ^= UInt8(1) << UInt8(rng.below(8))
            case 2:
                // Overwrite an 8-byte-ish field with an interesting value at any offset.
                let at = rng.below(b.count)
                let v = Self.interesting[rng.below(Self.interesting.count)]
                for i in 0..<min(8, b.count - at) { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
            default: b.removeLast(rng.below(min(b.count, 64)))
            }
            if b.isEmpty { break }
        }
        return b
    }

    func testSeededRandomCorruptions() throws {
        var rng = SplitMix64(state: 0x6A65_746F_6E)
        var parsed = 0, refused = 0
        for name in ["small_v2.gguf", "all_types.gguf"] {
            let full = try Fixtures.bytes(name)
            for _ in 0..<1500 {
                let b = mutate(full, &rng)
                do {
                    let h = try parseGGUF(b)
                    parsed += 1
                    try checkTensorsInside(h, b)
                } catch is GGUFError {
                    refused += 1
                }
            }
        }
        XCTAssertEqual(parsed + refused, 3000)
        // Both outcomes happen, or the mutations test nothing.
        XCTAssertGreaterThan(parsed, 100)
        XCTAssertGreaterThan(refused, 100)
    }

    /// Replays the committed libFuzzer corpus, so what the fuzzer once found stays covered
    /// in every test run (fuzz/gguf/corpus sits two folders above this file).
    func testFuzzCorpusReplays() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../fuzz/gguf/corpus").standardized
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        XCTAssertGreaterThan(names.count, 5, "corpus at \(dir.path) looks empty")
        var parsed = 0
        for name in names {
            let b = [UInt8](try Data(contentsOf: dir.appendingPathComponent(name)))
            do {
                let h = try parseGGUF(b)
                parsed += 1
                try checkTensorsInside(h, b)
            } catch is GGUFError {}
        }
        XCTAssertGreaterThan(parsed, 0)
    }

    /// Every tensor of a parsed header lies in the buffer, and its first row dequantizes.
    func checkTensorsInside(_ h: GGUFParser.Header, _ b: [UInt8]) throws {
        XCTAssertEqual(h.dataOffset % h.alignment, 0)
        for t in h.tensors {
            XCTAssertGreaterThanOrEqual(t.offset, 0)
            XCTAssertLessThanOrEqual(h.dataOffset + t.offset + t.byteCount, max(b.count, h.dataOffset))
            XCTAssertEqual(t.type.byteCount(elements: t.elementCount), t.byteCount)
            guard t.elementCount > 0, Dequantize.supports(t.type), t.rowLength <= 1 << 16 else { continue }
            var row = [Float](repeating: 0, count: t.rowLength)
            try b.withUnsafeBytes { raw in
                try Dequantize.row(t.type, raw.baseAddress! + h.dataOffset + t.offset, count: t.rowLength, into: &row)
            }
        }
    }
}
