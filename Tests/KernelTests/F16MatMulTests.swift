import XCTest
import GGUF
@testable import Kernels

/// The F16×F32 kernels (AVX-512, AVX2 + F16C, portable) against the Double reference
/// (`MatMul.reference`), on shapes whose rows and tokens do not fill the register blocks,
/// and each token's row against the same token computed alone (batch invariance).
final class F16MatMulTests: XCTestCase {
    func check(_ backend: MatMul.Backend, rows: Int, cols: Int, tokens: Int) {
        var rng = SplitMix(UInt64(rows * 131 + cols * 7 + tokens))
        let w = (0..<(rows * cols)).map { _ in Float16(Float(rng.unit() * 2 - 1) * 0.2).bitPattern }  // [rows, cols]
        let x = (0..<(tokens * cols)).map { i in Float(rng.unit() * 2 - 1) * (i % 53 == 0 ? 8 : 1) }  // [tokens, cols]
        let pool = ThreadPool(threads: 2)
        w.withUnsafeBytes { wp in
            guard let base = wp.baseAddress else { return XCTFail("no weights") }
            let m = WeightMatrix(type: .f16, data: base, rows: rows, cols: cols)
            var ref = [Float](repeating: 0, count: tokens * rows), got = ref
            x.withUnsafeBufferPointer { xp in
                guard let xb = xp.baseAddress else { return }
                MatMul.reference(m, xb, nTokens: tokens, &ref)
                F16MatMul.multiply(m, xb, nTokens: tokens, &got, pool: pool, backend: backend)
                var worst: Float = 0
                for i in 0..<ref.count { worst = max(worst, abs(got[i] - ref[i]) / max(1, abs(ref[i]))) }
                XCTAssertLessThan(worst, 2e-5, "\(backend) \(rows)×\(cols), \(tokens) tokens")
                // Token 0 alone gives the same floats as token 0 in the batch.
                var alone = [Float](repeating: 0, count: rows)
                F16MatMul.multiply(m, xb, nTokens: 1, &alone, pool: pool, backend: backend)
                XCTAssertEqual(Array(got[0..<rows]), alone, "\(backend): batch invariance")
            }
        }
    }

    /// 1-6 tokens take the matrix-vector kernel (AVX-512: the rows read in place, no panel), more
    /// the GEMM: every token's outputs are the same bits either way, at each token count; and a
    /// generation model's matmul (`MatMul.multiply`, whose F16 rows once went through the float
    /// path) gives them too.
    func testFewTokensGiveTheBatchBits() {
        let rows = 83, cols = 1536, batch = 13
        var rng = SplitMix(5)
        let w = (0..<(rows * cols)).map { _ in Float16(Float(rng.unit() * 2 - 1) * 0.3).bitPattern }
        let x = (0..<(batch * cols)).map { _ in Float(rng.unit() * 2 - 1) }
        let pool = ThreadPool(threads: 2)
        for backend in [MatMul.Backend.avx512, .avx2] {
            w.withUnsafeBytes { wp in
                let m = WeightMatrix(type: .f16, data: wp.baseAddress!, rows: rows, cols: cols)
                x.withUnsafeBufferPointer { xp in
                    var all = [Float](repeating: 0, count: batch * rows)
                    F16MatMul.multiply(m, xp.baseAddress!, nTokens: batch, &all, pool: pool, backend: backend)
                    for n in 1...7 {
                        var few = [Float](repeating: 0, count: n * rows), viaMatMul = few
                        F16MatMul.multiply(m, xp.baseAddress! + (batch - n) * cols, nTokens: n, &few, pool: pool, backend: backend)
                        MatMul.multiply(m, xp.baseAddress! + (batch - n) * cols, nTokens: n, &viaMatMul, pool: pool, backend: backend)
                        XCTAssertEqual(few.map(\.bitPattern), all[((batch - n) * rows)...].map(\.bitPattern), "\(backend) \(n) tokens")
                        XCTAssertEqual(viaMatMul.map(\.bitPattern), few.map(\.bitPattern), "\(backend) \(n) tokens through MatMul")
                    }
                }
            }
        }
    }

    func testAllBackends() {
        for backend in [MatMul.Backend.avx512, .avx2, .portable, .float] {
            for (rows, cols, tokens) in [(1, 16, 1), (7, 32, 3), (67, 96, 5), (130, 768, 9), (200, 3072, 13), (67, 96, 50)] {
                check(backend, rows: rows, cols: cols, tokens: tokens)
            }
        }
    }
}
