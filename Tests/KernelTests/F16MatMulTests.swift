import XCTest
import GGUF
@testable import Kernels
#if arch(x86_64)
import KernelsAVX2
import KernelsAVX512
#endif

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

    /// F16 packed at load for AVX-512 (`AVX512F16Packed`): every token count gives the file-layout
    /// kernels' bits, read from the packed copy alone (the file's rows overwritten after packing),
    /// for rows that do not fill a tile and a prefix of whole tiles (a draft's first output rows).
    /// Through `AVX512F16Packed.rows` 8 tokens a pass (1-32), then the GEMM's panel (33, 40).
    static let packedCounts = [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 17, 32, 33, 40]

    func testPackedGivesTheSameBits() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX512VNNI, "no AVX-512 VNNI on this CPU")
        let pool = ThreadPool(threads: 2)
        for (rows, cols) in [(1, 16), (17, 96), (83, 1536), (130, 768)] {
            var rng = SplitMix(UInt64(rows * 7 + cols))
            var w = (0..<(rows * cols)).map { _ in Float16(Float(rng.unit() * 2 - 1) * 0.3).bitPattern }
            let x = (0..<(40 * cols)).map { _ in Float(rng.unit() * 2 - 1) }
            try w.withUnsafeMutableBytes { wp in
                let m = WeightMatrix(type: .f16, data: wp.baseAddress!, rows: rows, cols: cols)
                let owner = PackedWeights(backend: .avx512, enabled: true)
                try withExtendedLifetime(owner) {
                    let packed = owner.pack(m)
                    _ = try XCTUnwrap(packed.packed, "F16 is packed for AVX-512")
                    XCTAssertEqual(owner.bytes, AVX2F16Packed.packedBytes(rows: rows, cols: cols))
                    var want: [[UInt32]] = []
                    for n in Self.packedCounts {
                        var y = [Float](repeating: 0, count: n * rows)
                        x.withUnsafeBufferPointer { F16MatMul.multiply(m, $0.baseAddress!, nTokens: n, &y, pool: pool, backend: .avx512) }
                        want.append(y.map(\.bitPattern))
                    }
                    // Backends without a kernel for the layout read the file's rows of the same matrix.
                    for backend in [MatMul.Backend.portable, .float] {
                        var a = [Float](repeating: 0, count: 3 * rows), b = a
                        x.withUnsafeBufferPointer {
                            MatMul.multiply(packed, $0.baseAddress!, nTokens: 3, &a, pool: pool, backend: backend)
                            MatMul.multiply(m, $0.baseAddress!, nTokens: 3, &b, pool: pool, backend: backend)
                        }
                        XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), "\(rows)x\(cols) \(backend) on a packed matrix")
                    }
                    // Only the packed copy holds the matrix now.
                    wp.initializeMemory(as: UInt8.self, repeating: 0x3C)
                    for (i, n) in Self.packedCounts.enumerated() {
                        var y = [Float](repeating: 0, count: n * rows)
                        x.withUnsafeBufferPointer { MatMul.multiply(packed, $0.baseAddress!, nTokens: n, &y, pool: pool, backend: .avx512) }
                        XCTAssertEqual(y.map(\.bitPattern), want[i], "\(rows)x\(cols), \(n) tokens")
                        var z = [Float](repeating: 0, count: n * rows)
                        x.withUnsafeBufferPointer {
                            MatMul.multiplyUnquantizedActivations(packed, $0.baseAddress!, nTokens: n, &z, pool: pool, backend: .avx512)
                        }
                        XCTAssertEqual(z.map(\.bitPattern), want[i], "\(rows)x\(cols), \(n) tokens, as logits")
                        // AVX2 reads the same packed layout 8 rows a vector: the same chains, the same bits.
                        var v = [Float](repeating: 0, count: n * rows)
                        x.withUnsafeBufferPointer { MatMul.multiply(packed, $0.baseAddress!, nTokens: n, &v, pool: pool, backend: .avx2) }
                        XCTAssertEqual(v.map(\.bitPattern), want[i], "\(rows)x\(cols), \(n) tokens, AVX2")
                    }
                    if rows > 16 {
                        let head = packed.prefix(rows: 16)
                        XCTAssertNotNil(head.packed)
                        var y = [Float](repeating: 0, count: 16)
                        x.withUnsafeBufferPointer { MatMul.multiply(head, $0.baseAddress!, nTokens: 1, &y, pool: pool, backend: .avx512) }
                        XCTAssertEqual(y.map(\.bitPattern), Array(want[0][0..<16]), "\(rows)x\(cols): the first tile alone")
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
