import XCTest
import GGUF
@testable import Kernels

/// The logits kernel on the avx512 backend (`VNNIQ8x16MatMul`: Q8_0 weights, int16
/// activations, 16 rows per tile) through `MatMul.multiplyUnquantizedActivations`:
/// against the float64 reference, bitwise batch invariance, and agreement with AVX2.
final class VNNIQ8x16MatMulTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX512VNNI, "no AVX-512 VNNI on this CPU")
    }

    let pool = ThreadPool(threads: 2)

    func logits(_ w: WeightMatrix, _ x: UnsafePointer<Float>, _ n: Int, _ backend: MatMul.Backend) -> [Float] {
        var y = [Float](repeating: .nan, count: n * w.rows)
        y.withUnsafeMutableBufferPointer { MatMul.multiplyUnquantizedActivations(w, x, nTokens: n, $0.baseAddress!, pool: pool, backend: backend) }
        return y
    }

    /// scale[t·rows + r] = Σ_b Σ_c |w[r, c]| · amax(x[t], block b): rounding x to int16
    /// moves each element by at most amax/65534, so the error is ~1.5e-5 of this.
    static func scales(_ w: WeightMatrix, _ x: [Float], _ n: Int) -> [Double] {
        let nb = w.cols / 32
        var row = [Float](repeating: 0, count: w.cols), sw = [Double](repeating: 0, count: w.rows * nb)
        for r in 0..<w.rows {
            row.withUnsafeMutableBufferPointer { w.dequantizeRow(r, into: $0.baseAddress!) }
            for c in 0..<w.cols { sw[r * nb + c / 32] += Double(abs(row[c])) }
        }
        let amax = (0..<(n * nb)).map { i in Double(x[(32 * i)..<(32 * i + 32)].map { abs($0) }.max()!) }
        var s = [Double](repeating: 0, count: n * w.rows)
        for t in 0..<n {
            for r in 0..<w.rows { for b in 0..<nb { s[t * w.rows + r] += sw[r * nb + b] * amax[t * nb + b] } }
        }
        return s
    }

    /// Rows not a multiple of 16 (a partial last tile), token counts around the group of 8.
    func testAgainstReference() throws {
        for (rows, cols) in [(37, 576), (1000, 576), (5, 32), (19, 1536)] {
            let (w, mem) = QuantizedMatMulTests.randomMatrix(.q8_0, rows: rows, cols: cols, seed: UInt64(rows))
            defer { mem.deallocate() }
            for n in [1, 3, 8, 9, 32] where rows < 1000 || n != 3 {
                let x = QuantizedMatMulTests.randomActivations(n * cols, seed: UInt64(n) + 5)
                var ref = [Float](repeating: 0, count: n * rows)
                MatMul.reference(w, x, nTokens: n, &ref)
                let fast = logits(w, x, n, .avx512)
                let scale = Self.scales(w, x, n)
                for i in ref.indices {
                    // int16 rounding (1/65534 of the scale, 2% slack) plus float sums (a few ulps per block).
                    let bound = scale[i] * (1.02 / 65534 + 2e-6) + 1e-30
                    if !(abs(Double(fast[i]) - Double(ref[i])) <= bound) {
                        XCTFail("rows=\(rows) cols=\(cols) n=\(n) t=\(i / rows) r=\(i % rows): \(fast[i]) vs \(ref[i]), bound \(bound)")
                        break
                    }
                }
            }
        }
    }

    /// Each token of a batch of 32 is bitwise what it gives alone (its own code path), in
    /// batches of 9 and 5 at other places, and with the rows shifted to other lanes of the tile.
    func testBatchInvariance() throws {
        let rows = 53, cols = 576, n = 32
        let (w, mem) = QuantizedMatMulTests.randomMatrix(.q8_0, rows: rows, cols: cols, seed: 77)
        defer { mem.deallocate() }
        let x = QuantizedMatMulTests.randomActivations(n * cols, seed: 9)
        x.withUnsafeBufferPointer { xb in
            let all = logits(w, xb.baseAddress!, n, .avx512)
            for t in 0..<n {
                XCTAssertEqual(logits(w, xb.baseAddress! + t * cols, 1, .avx512), Array(all[(t * rows)..<((t + 1) * rows)]), "token \(t) alone")
            }
            // Batches of 9 (a repacked tile, groups of 8 and 1) and 5 (decoded on the fly).
            for (s, m) in [(5, 9), (11, 5)] {
                XCTAssertEqual(logits(w, xb.baseAddress! + s * cols, m, .avx512), Array(all[(s * rows)..<((s + m) * rows)]),
                               "tokens \(s)..<\(s + m)")
            }
            // Rows 3..<53 as a matrix of their own: row r lands in lane (r - 3) % 16 instead of r % 16.
            let shifted = WeightMatrix(type: .q8_0, data: w.data + 3 * w.rowBytes, rows: rows - 3, cols: cols)
            for k in [1, 32] {
                let y = logits(shifted, xb.baseAddress!, k, .avx512)
                for t in 0..<k {
                    XCTAssertEqual(Array(y[(t * (rows - 3))..<((t + 1) * (rows - 3))]), Array(all[(t * rows + 3)..<((t + 1) * rows)]),
                                   "rows shifted by 3, n=\(k) token \(t)")
                }
            }
        }
    }

    /// Same int16 activations and exact integer block dots: VNNI and AVX2 differ only in float rounding.
    func testMatchesAVX2() throws {
        let rows = 45, cols = 576
        let (w, mem) = QuantizedMatMulTests.randomMatrix(.q8_0, rows: rows, cols: cols, seed: 3)
        defer { mem.deallocate() }
        for n in [1, 2, 8, 11, 32] {
            let x = QuantizedMatMulTests.randomActivations(n * cols, seed: UInt64(n) * 31)
            let a = logits(w, x, n, .avx512), b = logits(w, x, n, .avx2)
            let scale = Self.scales(w, x, n)
            for i in a.indices {
                XCTAssertEqual(a[i], b[i], accuracy: Float(scale[i] * 2e-6), "n=\(n) t=\(i / rows) r=\(i % rows)")
            }
        }
    }
}
