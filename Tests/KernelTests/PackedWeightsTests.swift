import XCTest
@testable import Kernels

/// Where `PackedWeights` puts its copies: consecutive 4 KiB-aligned spans of shared 2 MiB-aligned
/// chunks (so copies under 2 MiB and copies' tails sit on huge pages too), a copy larger than a
/// chunk in one of its own, none overlapping, each usable to its last byte.
final class PackedWeightsTests: XCTestCase {
    func testCopiesShareAlignedChunks() {
        let packing = PackedWeights(backend: .portable, enabled: true)
        let chunk = PackedWeights.chunkBytes
        let sizes = [100, 5000, 1 << 20, 3 << 20, chunk + 1, 7, chunk - (1 << 20)]
        var spans: [(start: Int, size: Int)] = []
        for (i, size) in sizes.enumerated() {
            let p = packing.own(bytes: size)
            p.initializeMemory(as: UInt8.self, repeating: UInt8(i + 1), count: size)
            spans.append((Int(bitPattern: p), size))
        }
        XCTAssertEqual(packing.bytes, sizes.reduce(0, +))
        for s in spans { XCTAssertEqual(s.start % 4096, 0) }
        // The first four share the first chunk, one page-rounded span after another.
        XCTAssertEqual(spans[0].start % (1 << 21), 0)
        XCTAssertEqual(spans[1].start, spans[0].start + 4096)
        XCTAssertEqual(spans[2].start, spans[1].start + 8192)
        XCTAssertEqual(spans[3].start, spans[2].start + (1 << 20))
        // Past a chunk: a chunk of its own; the next small copy follows it there.
        XCTAssertEqual(spans[4].start % (1 << 21), 0)
        XCTAssertEqual(spans[5].start, spans[4].start + chunk + 4096)
        // No room left beside it for the last: a new chunk.
        XCTAssertEqual(spans[6].start % (1 << 21), 0)
        let sorted = spans.sorted { $0.start < $1.start }
        for (a, b) in zip(sorted, sorted.dropFirst()) { XCTAssertLessThanOrEqual(a.start + a.size, b.start) }
        for (i, s) in spans.enumerated() {
            let p = UnsafePointer<UInt8>(bitPattern: s.start)!
            XCTAssertEqual(p[0], UInt8(i + 1))
            XCTAssertEqual(p[s.size - 1], UInt8(i + 1))
        }
    }
}
