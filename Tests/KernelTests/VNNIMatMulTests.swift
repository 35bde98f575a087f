import XCTest
import GGUF
@testable import Kernels

/// The AVX-512 VNNI path (`MatMul.Backend.avx512`) against the float reference on odd
/// shapes, and its batch invariance: a token's outputs are bitwise the same whatever
/// the batch size or the token's place in a tile of 8.
final class VNNIMatMulTests: XCTestCase {
    static let vnniTypes: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q8_0, .q4_K]

    override func setUpWithError() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX512VNNI, "no AVX-512 VNNI on this CPU")
    }

    /// Rows not a multiple of 16 (and fewer than 16), 1...33 tokens, cols of 1 to 24 blocks.
    func testAgainstReferenceOddShapes() throws {
        let tests = QuantizedMatMulTests(name: "check", testClosure: { _ in })  // reuses its checker; failures go to this test
        for type in Self.vnniTypes {
            try tests.check(type, backend: .avx512, rows: 37, cols: 512, tokens: Array(1...33))
            if type.blockSize == 32 {  // K-quant rows are whole 256-element super-blocks
                try tests.check(type, backend: .avx512, rows: 5, cols: 32, tokens: [1, 2, 8, 9, 17])
                try tests.check(type, backend: .avx512, rows: 16, cols: 96, tokens: [1, 7, 8, 16, 33])
            } else {
                try tests.check(type, backend: .avx512, rows: 5, cols: 256, tokens: [1, 2, 8, 9, 17])
            }
            try tests.check(type, backend: .avx512, rows: 50, cols: 768, tokens: [3, 8, 11])
        }
    }

    /// The default model's widths (576, 1536) with prompt-sized batches.
    func testModelShapes() throws {
        let tests = QuantizedMatMulTests(name: "check", testClosure: { _ in })
        try tests.check(.q4_1, backend: .avx512, rows: 64, cols: 576, tokens: [40, 64])
        try tests.check(.q8_0, backend: .avx512, rows: 48, cols: 1536, tokens: [70])
    }

    /// Formats without a VNNI kernel go through AVX2 on the avx512 backend.
    func testOtherFormatsFallBack() throws {
        let tests = QuantizedMatMulTests(name: "check", testClosure: { _ in })  // reuses its checker; failures go to this test
        for type in QuantizedMatMulTests.types where !Self.vnniTypes.contains(type)
            && QuantizedMatMul.supports(QuantizedMatMulTests.randomMatrix(type, rows: 1, cols: 256, seed: 1).0, backend: .avx2) {
            try tests.check(type, backend: .avx512, rows: 21, cols: 512, tokens: [1, 5, 9])
        }
    }

    /// Same quantized activations and exact integer dots: VNNI and AVX2 differ only in float rounding.
    /// (K-quants quantize activations per 256 on avx512: KQuantMatMulTests.)
    func testMatchesAVX2() throws {
        let pool = ThreadPool(threads: 2)
        let rows = 45, cols = 768
        for type in Self.vnniTypes where type.blockSize == 32 {
            let (w, mem) = QuantizedMatMulTests.randomMatrix(type, rows: rows, cols: cols, seed: 99)
            defer { mem.deallocate() }
            for n in [1, 4, 9] {
                let x = QuantizedMatMulTests.randomActivations(n * cols, seed: 5)
                var a = [Float](repeating: 0, count: n * rows), b = a, f = a
                x.withUnsafeBufferPointer { xb in
                    a.withUnsafeMutableBufferPointer { MatMul.multiply(w, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool, backend: .avx512) }
                    b.withUnsafeMutableBufferPointer { MatMul.multiply(w, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool, backend: .avx2) }
                    f.withUnsafeMutableBufferPointer { MatMul.multiply(w, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool, backend: .float) }
                }
                let scale = f.map { abs($0) }.max() ?? 1
                for i in a.indices { XCTAssertEqual(a[i], b[i], accuracy: 2e-5 * max(scale, 1), "\(type.name) n=\(n) i=\(i)") }
            }
        }
    }

    /// Every token of a 33-token batch equals the same token multiplied alone, in a
    /// batch of 9 at another position, and in a grouped (q/k/v-style) call.
    func testBatchInvariance() throws {
        let pool = ThreadPool(threads: 2)
        let rows = 35, cols = 512, n = 33
        for type in Self.vnniTypes {
            let (w, mem) = QuantizedMatMulTests.randomMatrix(type, rows: rows, cols: cols, seed: 21)
            let (w2, mem2) = QuantizedMatMulTests.randomMatrix(.q4_1, rows: 19, cols: cols, seed: 22)
            defer { mem.deallocate(); mem2.deallocate() }
            let x = QuantizedMatMulTests.randomActivations(n * cols, seed: 8)
            var all = [Float](repeating: 0, count: n * rows), grouped = all, other = [Float](repeating: 0, count: n * 19)
            x.withUnsafeBufferPointer { xb in
                all.withUnsafeMutableBufferPointer { MatMul.multiply(w, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool, backend: .avx512) }
                grouped.withUnsafeMutableBufferPointer { g in
                    other.withUnsafeMutableBufferPointer { o in
                        MatMul.multiply([(w2, o.baseAddress!), (w, g.baseAddress!)], xb.baseAddress!, nTokens: n, pool: pool, backend: .avx512)
                    }
                }
            }
            XCTAssertEqual(all, grouped, "\(type.name) grouped")
            for t in 0..<n {
                var one = [Float](repeating: 0, count: rows)
                x.withUnsafeBufferPointer { xb in
                    one.withUnsafeMutableBufferPointer { MatMul.multiply(w, xb.baseAddress! + t * cols, nTokens: 1, $0.baseAddress!, pool: pool, backend: .avx512) }
                }
                XCTAssertEqual(one, Array(all[(t * rows)..<((t + 1) * rows)]), "\(type.name) token \(t) alone")
            }
            // Tokens 5..<14 as a batch of 9: each lands at another place in its group of 8.
            let s = 5, m = 9
            var part = [Float](repeating: 0, count: m * rows)
            x.withUnsafeBufferPointer { xb in
                part.withUnsafeMutableBufferPointer { MatMul.multiply(w, xb.baseAddress! + s * cols, nTokens: m, $0.baseAddress!, pool: pool, backend: .avx512) }
            }
            XCTAssertEqual(part, Array(all[(s * rows)..<((s + m) * rows)]), "\(type.name) tokens 5..<14")
        }
    }
}
