import XCTest
@testable import Kernels
#if arch(x86_64)
import KernelsAVX512

/// The register-blocked F16 GEMM (AVX512F16Gemm) on its own: the packed panel against the
/// F16 weights widened one by one, the product against a Double reference on shapes that
/// fill neither the 64-row panel nor the 6-token block, outputs past the tile left alone,
/// and bit-equal results for a token alone or in a batch.
final class AVX512F16GemmTests: XCTestCase {
    struct Case {
        let rows: Int, cols: Int, r0: Int, n: Int
        let w: [UInt16]  // [rows, cols] F16 bits
        init(rows: Int, cols: Int, r0: Int, n: Int, seed: UInt64) {
            self.rows = rows; self.cols = cols; self.r0 = r0; self.n = n
            var rng = SplitMix(seed)
            w = (0..<(rows * cols)).map { _ in Float16(Float(rng.unit() * 2 - 1) * 0.3).bitPattern }
        }
        func weight(_ r: Int, _ k: Int) -> Float { Float(Float16(bitPattern: w[r * cols + k])) }
        func panel() -> [Float] {
            var p = [Float](repeating: .nan, count: AVX512F16Gemm.panelRows * cols)
            w.withUnsafeBytes { wp in
                p.withUnsafeMutableBufferPointer { pp in
                    guard let wb = wp.baseAddress, let pb = pp.baseAddress else { return }
                    AVX512F16Gemm.pack(w: wb, cols: cols, r0: r0, n: n, panel: pb)
                }
            }
            return p
        }
    }

    func activations(_ tokens: Int, _ cols: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix(seed)
        return (0..<(tokens * cols)).map { i in Float(rng.unit() * 2 - 1) * (i % 41 == 0 ? 6 : 1) }
    }

    /// y [tokens, ldy] after multiply with the tile's outputs at column `at`; every other entry starts at `fill`.
    func product(_ c: Case, _ panel: [Float], _ x: [Float], tokens: Int, ldy: Int, at: Int, fill: Float = 7777) -> [Float] {
        var y = [Float](repeating: fill, count: tokens * ldy)
        panel.withUnsafeBufferPointer { pp in
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    guard let pb = pp.baseAddress, let xb = xp.baseAddress, let yb = yp.baseAddress else { return }
                    AVX512F16Gemm.multiply(panel: pb, cols: c.cols, n: c.n, x: xb, ldx: c.cols, nTokens: tokens,
                                           y: yb + at, ldy: ldy)
                }
            }
        }
        return y
    }

    func testPackIsTheWidenedTransposedTile() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX512VNNI, "no AVX-512 on this CPU")
        for (rows, cols, r0, n) in [(50, 48, 5, 37), (64, 16, 0, 64), (130, 96, 128, 2), (20, 32, 3, 17)] {
            let c = Case(rows: rows, cols: cols, r0: r0, n: n, seed: UInt64(rows * 31 + cols))
            let p = c.panel()
            for k in 0..<cols {
                for i in 0..<AVX512F16Gemm.panelRows {
                    let want: Float = i < n ? c.weight(r0 + i, k) : 0
                    XCTAssertEqual(p[k * 64 + i], want, "\(rows)×\(cols) r0 \(r0) n \(n): panel[\(k)][\(i)]")
                }
            }
        }
    }

    func testProductAgainstDoubleReference() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX512VNNI, "no AVX-512 on this CPU")
        // (rows, cols, r0, n, tokens): full and partial panels, token counts around the 6-token block.
        for (rows, cols, r0, n, tokens) in [(64, 768, 0, 64, 13), (50, 48, 5, 37, 1), (70, 3072, 64, 6, 7),
                                            (64, 160, 0, 64, 6), (33, 96, 1, 31, 17), (9, 16, 0, 9, 5)] {
            let c = Case(rows: rows, cols: cols, r0: r0, n: n, seed: UInt64(rows * 7 + cols + tokens))
            let x = activations(tokens, cols, seed: UInt64(cols + tokens))
            let ldy = rows + 3, at = r0
            let y = product(c, c.panel(), x, tokens: tokens, ldy: ldy, at: at)
            for t in 0..<tokens {
                for col in 0..<ldy {
                    let got = y[t * ldy + col]
                    guard col >= at && col < at + n else {
                        XCTAssertEqual(got, 7777, "\(rows)×\(cols): output [\(t)][\(col)] outside the tile was written")
                        continue
                    }
                    var ref = 0.0
                    for k in 0..<cols { ref += Double(c.weight(r0 + col - at, k)) * Double(x[t * cols + k]) }
                    XCTAssertLessThan(abs(Double(got) - ref) / max(1, abs(ref)), 2e-5, "\(rows)×\(cols) n \(n): [\(t)][\(col)]")
                }
            }
        }
    }

    func testSameFloatsAloneAndInABatch() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX512VNNI, "no AVX-512 on this CPU")
        let c = Case(rows: 64, cols: 400 - 400 % 16, r0: 0, n: 53, seed: 5)
        let tokens = 11
        let x = activations(tokens, c.cols, seed: 9)
        let p = c.panel()
        let whole = product(c, p, x, tokens: tokens, ldy: 64, at: 0)
        for t in [0, 5, 6, 10] {  // each token alone (first, last of a 6-token block, first of the next, the tail)
            let alone = product(c, p, Array(x[(t * c.cols)..<((t + 1) * c.cols)]), tokens: 1, ldy: 64, at: 0)
            XCTAssertEqual(alone, Array(whole[(t * 64)..<((t + 1) * 64)]), "token \(t) alone")
        }
    }
}
#endif
