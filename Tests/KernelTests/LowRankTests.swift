import XCTest
@testable import Kernels

/// The LoRA update's products (`LowRank`, AVX2 when present) against float64 sums, on ranks
/// and widths that are not multiples of the vector blocks.
final class LowRankTests: XCTestCase {
    func testProjectAndExpandMatchDoubleSums() {
        var rng = SplitMix(5)
        for (rank, cols, rows) in [(8, 576, 576), (5, 37, 19), (16, 1536, 256), (1, 7, 3), (4, 8, 16)] {
            let a = (0..<rank * cols).map { _ in Float(rng.unit() * 2 - 1) }
            let bT = (0..<rank * rows).map { _ in Float(rng.unit() * 2 - 1) }
            let x = (0..<cols).map { _ in Float(rng.unit() * 2 - 1) }
            let y0 = (0..<rows).map { _ in Float(rng.unit() * 2 - 1) }
            var t = [Float](repeating: 0, count: rank), y = y0
            LowRank.project(a, rank: rank, cols: cols, x: x, into: &t)
            for k in 0..<rank {
                let ref = (0..<cols).reduce(0.0) { $0 + Double(a[k * cols + $1]) * Double(x[$1]) }
                XCTAssertEqual(Double(t[k]), ref, accuracy: 1e-4 * Double(cols).squareRoot(), "rank \(rank) cols \(cols) k \(k)")
            }
            LowRank.expand(t, rank: rank, bT: bT, rows: rows, into: &y)
            for j in 0..<rows {
                let ref = Double(y0[j]) + (0..<rank).reduce(0.0) { $0 + Double(t[$1]) * Double(bT[$1 * rows + j]) }
                XCTAssertEqual(Double(y[j]), ref, accuracy: 1e-4 * Double(rank + 1), "rank \(rank) rows \(rows) j \(j)")
            }
        }
    }
}
