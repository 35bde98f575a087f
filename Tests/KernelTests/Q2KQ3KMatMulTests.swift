import XCTest
import GGUF
@testable import Kernels

/// Q2_K, Q3_K and IQ4_XS: their tiles (`VNNIKQuantPacked+Q2K.swift`, `+Q3K.swift`, `+IQ4XS.swift`,
/// written by `KQuantPacker`)
/// read by the AVX-512 and the AVX2 packed kernels give bit for bit what the plain reference
/// (`KQuantDot`, whose element and scale decoding the gguf fixture checks) gives, on odd shapes,
/// every token count path and hostile blocks; they stay within the activation-rounding bound of
/// the dequantize-then-float product; without a packed copy the float path serves them.
final class Q2KQ3KMatMulTests: XCTestCase {
    static let types: [GGMLType] = [.q2_K, .q3_K, .iq4_xs]
    /// Where each type's f16 fields sit in its block.
    static func halfOffsets(_ type: GGMLType) -> [Int] { type == .q2_K ? [80, 82] : type == .q3_K ? [108] : [0] }
    /// The bytes of a block besides its f16 fields (weights and scales).
    static func body(_ type: GGMLType) -> Range<Int> { type == .iq4_xs ? 2..<136 : 0..<halfOffsets(type)[0] }

    var backends: [MatMul.Backend] {
        (CPUFeatures.hasAVX512VNNI ? [MatMul.Backend.avx512] : []) + (CPUFeatures.hasAVX2 ? [.avx2] : [])
    }

    override func setUpWithError() throws {
        try XCTSkipIf(backends.isEmpty, "no packed K-quant kernel for this CPU")
    }

    func product(_ w: WeightMatrix, _ x: [Float], _ n: Int, pool: ThreadPool, backend: MatMul.Backend) -> [Float] {
        var y = [Float](repeating: 0, count: n * w.rows)
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { MatMul.multiply(w, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool, backend: backend) }
        }
        return y
    }

    func twin(_ w: WeightMatrix, _ x: [Float], _ n: Int) -> [Float] {
        var y = [Float](repeating: 0, count: n * w.rows)
        x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { KQuantMatMul.reference(w, xb.baseAddress!, nTokens: n, $0.baseAddress!) } }
        return y
    }

    /// Each backend's packed copy, run by each backend (both read the same tile).
    func checkBitwise(_ w: WeightMatrix, _ x: [Float], _ n: Int, pool: ThreadPool, _ label: String) {
        let r = twin(w, x, n)
        for packer in backends {
            let owner = PackedWeights(backend: packer, enabled: true)
            withExtendedLifetime(owner) {
                let packed = owner.pack(w)
                XCTAssertNotNil(packed.packed, "\(label): \(w.type.name) not packed for \(packer)")
                XCTAssertTrue(KQuantMatMul.supports(packed, backend: packer))
                for backend in backends {
                    let y = product(packed, x, n, pool: pool, backend: backend)
                    XCTAssertEqual(y.map(\.bitPattern), r.map(\.bitPattern), "\(label) n=\(n) packed for \(packer), run on \(backend)")
                }
            }
        }
    }

    /// Rows not a multiple of the 16-row tile, one to many super-blocks; one token (the one-stream
    /// kernels), up to 8 (AVX2's `small`), groups taking shares of the next tile, past them, and more
    /// than one AVX2 block of 64 tokens.
    func testBitwiseEqualToReference() {
        let pool = ThreadPool(threads: 2)
        for type in Self.types {
            for (rows, cols) in [(1, 256), (15, 512), (16, 256), (37, 1536), (70, 768)] {
                let (w, mem) = QuantizedMatMulTests.randomMatrix(type, rows: rows, cols: cols, seed: UInt64(rows * cols + 11))
                defer { mem.deallocate() }
                for n in [1, 2, 3, 5, 8, 9, 17, 32, 33, 70] {
                    checkBitwise(w, QuantizedMatMulTests.randomActivations(n * cols, seed: UInt64(n + 3)), n, pool: pool,
                                 "\(type.name) \(rows)x\(cols)")
                }
            }
        }
    }

    /// All-zero blocks (Q3_K: every value −4 and scale −32; Q2_K: zero scales and mins; IQ4_XS: every
    /// level −127 and scale −32), all-ones bytes (every value, scale and min at its maximum), the
    /// largest and a subnormal f16 d (and dmin); all-zero, outlier and tiny activations.
    func testEdgeBlocks() {
        let pool = ThreadPool(threads: 2)
        let rows = 19, cols = 768, n = 10
        for type in Self.types {
            let (w, mem) = QuantizedMatMulTests.randomMatrix(type, rows: rows, cols: cols, seed: 5)
            defer { mem.deallocate() }
            let bb = type.blockBytes, halfs = Self.halfOffsets(type), body = Self.body(type)
            for b in 0..<(rows * cols / 256) {
                let p = mem + b * bb
                switch b % 5 {
                case 0: (p + body.lowerBound).initializeMemory(as: UInt8.self, repeating: 0, count: body.count)
                case 1: (p + body.lowerBound).initializeMemory(as: UInt8.self, repeating: 0xFF, count: body.count)
                case 2: for o in halfs { p.storeBytes(of: Float16(60000).bitPattern, toByteOffset: o, as: UInt16.self) }
                case 3: for o in halfs { p.storeBytes(of: UInt16(1), toByteOffset: o, as: UInt16.self) }  // subnormal
                default: break
                }
            }
            var x = QuantizedMatMulTests.randomActivations(n * cols, seed: 3)
            for c in 0..<cols { x[c] = 0 }               // token 0: all zero
            x[cols + 7] = 3e4                             // token 1: one outlier
            for c in 0..<cols { x[2 * cols + c] = 1e-30 }  // token 2: tiny
            checkBitwise(w, x, n, pool: pool, "\(type.name) edge blocks")
            for t in [0, 1, 2] {
                checkBitwise(w, Array(x[t * cols..<(t + 1) * cols]), 1, pool: pool, "\(type.name) edge blocks token \(t) alone")
            }
            let owner = PackedWeights(backend: backends[0], enabled: true)
            withExtendedLifetime(owner) {
                let y = product(owner.pack(w), x, n, pool: pool, backend: backends[0])
                XCTAssertFalse(y.contains { $0.isNaN }, type.name)
                XCTAssertEqual(Array(y[0..<rows]), [Float](repeating: 0, count: rows), "\(type.name): the zero token")
            }
        }
    }

    /// The logits path on a few rows without a packed copy (a small vocabulary with repacking off):
    /// both passes read a copy packed for the call, so the values are the packed matrix's, bit for bit
    /// (the second pass's row ranges once fell to kernels that write nothing for these types).
    func testLogitsOfAFewUnpackedRows() {
        let pool = ThreadPool(threads: 2)
        let rows = 37, cols = 512, n = 3
        for type in Self.types {
            let (w, mem) = QuantizedMatMulTests.randomMatrix(type, rows: rows, cols: cols, seed: 41)
            defer { mem.deallocate() }
            let x = QuantizedMatMulTests.randomActivations(n * cols, seed: 12)
            for backend in backends {
                let owner = PackedWeights(backend: backend, enabled: true)
                withExtendedLifetime(owner) {
                    let packed = owner.pack(w)
                    for allRows in [false, true] {
                        func logits(_ m: WeightMatrix) -> [Float] {
                            var y = [Float](repeating: .nan, count: n * rows)
                            x.withUnsafeBufferPointer { xb in
                                y.withUnsafeMutableBufferPointer {
                                    MatMul.multiplyUnquantizedActivations(m, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool,
                                                                          backend: backend, allRows: allRows)
                                }
                            }
                            return y
                        }
                        XCTAssertEqual(logits(w).map(\.bitPattern), logits(packed).map(\.bitPattern),
                                       "\(type.name) \(backend) allRows \(allRows)")
                    }
                }
            }
        }
    }

    /// Against dequantized weights in Double: off by no more than rounding x to 8 bits per 256
    /// elements allows. Without a packed copy, a few rows (a draft's gathered output rows) are packed
    /// for the call, the same bits; more (repacking off) take the float path, closer still.
    func testAgainstDequantizedFloat() {
        let pool = ThreadPool(threads: 2)
        let rows = 29, cols = 1024
        for type in Self.types {
            let (w, mem) = QuantizedMatMulTests.randomMatrix(type, rows: rows, cols: cols, seed: 77)
            defer { mem.deallocate() }
            var wf = [Float](repeating: 0, count: rows * cols)
            wf.withUnsafeMutableBufferPointer { b in for r in 0..<rows { w.dequantizeRow(r, into: b.baseAddress! + r * cols) } }
            let big = (rows: KQuantMatMul.transientPackRows + 1, cols: 256)
            let (large, largeMem) = QuantizedMatMulTests.randomMatrix(type, rows: big.rows, cols: big.cols, seed: 78)
            defer { largeMem.deallocate() }
            XCTAssertTrue(backends.allSatisfy { KQuantMatMul.supports(w, backend: $0) }, "a few \(type.name) rows are packed for the call")
            XCTAssertFalse(backends.contains { KQuantMatMul.supports(large, backend: $0) }, "a large unpacked \(type.name) matrix: the float path")
            for n in [1, 11] {
                let x = QuantizedMatMulTests.randomActivations(n * cols, seed: 9)
                var ref = [Float](repeating: 0, count: n * rows)
                MatMul.reference(w, x, nTokens: n, &ref)
                let unpacked = product(w, x, n, pool: pool, backend: backends[0])
                XCTAssertEqual(unpacked.map(\.bitPattern), twin(w, x, n).map(\.bitPattern), "\(type.name) packed for the call")
                let xl = QuantizedMatMulTests.randomActivations(n * big.cols, seed: 10)
                var refl = [Float](repeating: 0, count: n * big.rows)
                MatMul.reference(large, xl, nTokens: n, &refl)
                let floatPath = product(large, xl, n, pool: pool, backend: backends[0])
                for i in 0..<(n * big.rows) {
                    XCTAssertEqual(floatPath[i], refl[i], accuracy: 1e-3 * max(1, abs(refl[i])), "\(type.name) float path \(i)")
                }
                for backend in backends {
                    let owner = PackedWeights(backend: backend, enabled: true)
                    withExtendedLifetime(owner) {
                        let y = product(owner.pack(w), x, n, pool: pool, backend: backend)
                        KQuantMatMulTests.assertWithinRounding(y, ref, wf: wf, x: x, rows: rows, cols: cols, tokens: n,
                                                               "\(type.name) \(backend)")
                    }
                }
            }
        }
    }
}
