import XCTest
import GGUF
@testable import Kernels
#if arch(x86_64)
import KernelsAVX512
#endif

/// The matrix-vector kernels of the 32-element formats (Q4_0, Q4_1, Q5_0, Q8_0): on
/// AVX-512 VNNI (`VNNIMatVec`) bit for bit a plain scalar twin of the VNNI arithmetic
/// (exact integer block dots, then block by block an FMA by weight scale × activation
/// scale and the min), on every backend the same bits alone as in any batch, and within
/// the activation-rounding bound of the dequantize-then-float product. Matrices carry
/// hostile blocks: all zeros, f16 scales at the top and bottom of their range.
final class MatVecTests: XCTestCase {
    static let types: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q8_0]
    /// (rows, cols): one row, rows not a multiple of 16, odd and even block counts, the 0.5B's widths.
    static let shapes = [(1, 32), (5, 96), (15, 160), (16, 64), (17, 896), (33, 544), (37, 4864)]

    static var backends: [MatMul.Backend] {
        var b: [MatMul.Backend] = [.portable]
        if CPUFeatures.hasAVX2 { b.append(.avx2) }
        if CPUFeatures.hasAVX512VNNI { b.append(.avx512) }
        return b
    }

    /// Random blocks, then every 7th block all zero bytes, every 11th with the largest f16
    /// scale (65504) and every 13th with the smallest (a subnormal, 2⁻²⁴); Q4_1's min too.
    static func hostileMatrix(_ type: GGMLType, rows: Int, cols: Int, seed: UInt64) -> (WeightMatrix, UnsafeMutableRawPointer) {
        let (w, p) = QuantizedMatMulTests.randomMatrix(type, rows: rows, cols: cols, seed: seed)
        let bb = type.blockBytes
        for b in 0..<(rows * cols / type.blockSize) {  // whole blocks of any size
            let o = b * bb
            if b % 7 == 3 {
                (p + o).initializeMemory(as: UInt8.self, repeating: 0, count: bb)
            } else if b % 11 == 5 {
                p.storeBytes(of: Float16(65504).bitPattern, toByteOffset: o, as: UInt16.self)
                if type == .q4_1 { p.storeBytes(of: Float16(-65504).bitPattern, toByteOffset: o + 2, as: UInt16.self) }
            } else if b % 13 == 6 {
                p.storeBytes(of: UInt16(1), toByteOffset: o, as: UInt16.self)
                if type == .q4_1 { p.storeBytes(of: UInt16(0x8001), toByteOffset: o + 2, as: UInt16.self) }
            }
        }
        return (w, p)
    }

    /// Activations with an all-zero block per token (scale 0) and a large one.
    static func activations(_ n: Int, cols: Int, seed: UInt64) -> [Float] {
        var x = QuantizedMatMulTests.randomActivations(n * cols, seed: seed)
        for t in 0..<n {
            let zero = (t * 5) % (cols / 32), big = (t * 3 + 1) % (cols / 32)
            for j in 0..<32 { x[t * cols + zero * 32 + j] = 0 }
            if big != zero { for j in 0..<32 { x[t * cols + big * 32 + j] *= 400 } }
        }
        return x
    }

    /// Block b of a row as its integer quants q (w = d·q + m) and its f16 d, m.
    static func decode(_ type: GGMLType, _ row: UnsafeRawPointer, _ b: Int) -> (q: [Int32], d: Float, m: Float) {
        let p = row + b * type.blockBytes
        func half(_ o: Int) -> Float { Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: o, as: UInt16.self))) }
        func nibble(_ qs: Int, _ j: Int) -> Int32 {
            let byte = Int32(p.load(fromByteOffset: qs + j % 16, as: UInt8.self))
            return j < 16 ? byte & 15 : byte >> 4
        }
        switch type {
        case .q4_0: return ((0..<32).map { nibble(2, $0) - 8 }, half(0), 0)
        case .q4_1: return ((0..<32).map { nibble(4, $0) }, half(0), half(2))
        case .iq4_nl:  // ggml's kvalues_iq4nl (the fixture checks Dequantize's against gguf's)
            let levels: [Int32] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]
            return ((0..<32).map { levels[Int(nibble(2, $0))] }, half(0), 0)
        case .q5_0:
            let qh = p.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
            return ((0..<32).map { (nibble(6, $0) | Int32((qh >> UInt32($0)) & 1) << 4) - 16 }, half(0), 0)
        default:  // q8_0
            return ((0..<32).map { Int32(p.load(fromByteOffset: 2 + $0, as: Int8.self)) }, half(0), 0)
        }
    }

    /// The scalar twin of the VNNI kernels: per (row, token), blocks in order, the exact
    /// integer dot, then c = fma(Float(dot), d·da, c) and, with a min, c = fma(m, s, c).
    static func vnniTwin(_ w: WeightMatrix, _ x: [Float], _ n: Int) -> [Float] {
        let nb = w.cols / 32
        let act = Q8Buffer(nTokens: n, blocks: nb)
        defer { act.free() }
        x.withUnsafeBufferPointer { act.quantize($0.baseAddress!, tokens: 0..<n) }
        let blocks = (0..<w.rows).map { r in (0..<nb).map { decode(w.type, w.row(r), $0) } }
        var y = [Float](repeating: 0, count: n * w.rows)
        for t in 0..<n {
            for r in 0..<w.rows {
                var c: Float = 0
                for b in 0..<nb {
                    let blk = blocks[r][b]
                    var dot: Int32 = 0
                    for j in 0..<32 { dot += blk.q[j] * Int32(act.qs[(t * nb + b) * 32 + j]) }
                    c = c.addingProduct(Float(dot), blk.d * act.d[t * nb + b])
                    if w.type == .q4_1 { c = c.addingProduct(blk.m, act.s[t * nb + b]) }
                }
                y[t * w.rows + r] = c
            }
        }
        return y
    }

    static func multiply(_ w: WeightMatrix, _ x: [Float], _ n: Int, backend: MatMul.Backend, pool: ThreadPool) -> [Float] {
        var y = [Float](repeating: 0, count: n * w.rows)
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer { MatMul.multiply(w, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool, backend: backend) }
        }
        return y
    }

    /// AVX-512: the matrix-vector kernel (1-4 tokens) and the tile kernel (more) give the twin's bits.
    func testVNNIBitwiseEqualToScalarTwin() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX512VNNI, "no AVX-512 VNNI on this CPU")
        let pool = ThreadPool(threads: 2)
        for type in Self.types {
            for (rows, cols) in Self.shapes {
                let (w, mem) = Self.hostileMatrix(type, rows: rows, cols: cols, seed: UInt64(rows * 31 + cols))
                defer { mem.deallocate() }
                for n in [1, 2, 3, 4, 5, 9] {
                    let x = Self.activations(n, cols: cols, seed: UInt64(n * 7 + rows))
                    XCTAssertEqual(Self.multiply(w, x, n, backend: .avx512, pool: pool).map(\.bitPattern),
                                   Self.vnniTwin(w, x, n).map(\.bitPattern), "\(type.name) \(rows)x\(cols) n=\(n)")
                }
            }
        }
    }

    /// The kernel called directly on a row range that starts mid-matrix and ends on a partial tile.
    func testVNNIMatVecRowRange() throws {
        #if arch(x86_64)
        try XCTSkipUnless(CPUFeatures.hasAVX512VNNI, "no AVX-512 VNNI on this CPU")
        let rows = 53, cols = 288, n = 3, r0 = 3, r1 = 44
        for type in Self.types {
            let (w, mem) = Self.hostileMatrix(type, rows: rows, cols: cols, seed: 5)
            defer { mem.deallocate() }
            let x = Self.activations(n, cols: cols, seed: 9)
            let twin = Self.vnniTwin(w, x, n)
            let act = Q8Buffer(nTokens: n, blocks: cols / 32)
            let asum = UnsafeMutablePointer<Int32>.allocate(capacity: n * cols / 32)
            defer { act.free(); asum.deallocate() }
            x.withUnsafeBufferPointer { act.quantize($0.baseAddress!, tokens: 0..<n) }
            VNNIMatMul.blockSums(act.view, tokens: 0..<n, asum)
            let sentinel = Float(-12345)
            var y = [Float](repeating: sentinel, count: n * rows)
            XCTAssertTrue(y.withUnsafeMutableBufferPointer {
                VNNIMatVec.rows(typeID: type.rawValue, w: w.data, rowBytes: w.rowBytes, r0: r0, r1: r1, act: act.view,
                                asum: asum, y: $0.baseAddress!, ldy: rows)
            })
            for t in 0..<n {
                for r in 0..<rows {
                    let i = t * rows + r
                    if (r0..<r1).contains(r) {
                        XCTAssertEqual(y[i].bitPattern, twin[i].bitPattern, "\(type.name) t=\(t) r=\(r)")
                    } else {
                        XCTAssertEqual(y[i], sentinel, "\(type.name) t=\(t) r=\(r) written outside its rows")
                    }
                }
            }
        }
        #endif
    }

    /// Every backend: each token alone gives the bits it gets among 4 (matrix-vector) and 12 (tiles).
    func testBatchInvarianceAcrossPaths() {
        let pool = ThreadPool(threads: 2)
        let n = 12
        for backend in Self.backends {
            for type in Self.types {
                for (rows, cols) in [(17, 896), (33, 544)] {
                    let (w, mem) = Self.hostileMatrix(type, rows: rows, cols: cols, seed: 77)
                    defer { mem.deallocate() }
                    let x = Self.activations(n, cols: cols, seed: 3)
                    let all = Self.multiply(w, x, n, backend: backend, pool: pool)
                    let four = Self.multiply(w, Array(x[(2 * cols)..<(6 * cols)]), 4, backend: backend, pool: pool)
                    XCTAssertEqual(four, Array(all[(2 * rows)..<(6 * rows)]), "\(type.name) \(backend) \(rows)x\(cols) 4 of 12")
                    for t in [0, 5, 11] {
                        let one = Self.multiply(w, Array(x[(t * cols)..<((t + 1) * cols)]), 1, backend: backend, pool: pool)
                        XCTAssertEqual(one, Array(all[(t * rows)..<((t + 1) * rows)]), "\(type.name) \(backend) token \(t)")
                    }
                }
            }
        }
    }

    /// Every backend against the dequantize-then-float product (in Double): off by no more
    /// than rounding x to 8 bits per block of 32 allows.
    func testAgainstDequantizedFloat() {
        let pool = ThreadPool(threads: 2)
        for backend in Self.backends {
            for type in Self.types {
                for (rows, cols) in [(5, 96), (17, 896), (37, 4864)] {
                    let (w, mem) = Self.hostileMatrix(type, rows: rows, cols: cols, seed: 41)
                    defer { mem.deallocate() }
                    var wf = [Float](repeating: 0, count: rows * cols)
                    wf.withUnsafeMutableBufferPointer { b in for r in 0..<rows { w.dequantizeRow(r, into: b.baseAddress! + r * cols) } }
                    for n in [1, 3] {
                        let x = Self.activations(n, cols: cols, seed: UInt64(n))
                        var ref = [Float](repeating: 0, count: n * rows)
                        MatMul.reference(w, x, nTokens: n, &ref)
                        let fast = Self.multiply(w, x, n, backend: backend, pool: pool)
                        for t in 0..<n {
                            for r in 0..<rows {
                                var bound = 0.0
                                for b in 0..<cols / 32 {
                                    let amax = Double(x[(t * cols + b * 32)..<(t * cols + b * 32 + 32)].map { abs($0) }.max() ?? 0)
                                    var sw = 0.0
                                    for c in 0..<32 { sw += Double(abs(wf[r * cols + b * 32 + c])) }
                                    bound += sw * amax / 254
                                }
                                let i = t * rows + r
                                XCTAssertEqual(fast[i], ref[i], accuracy: Float(bound * 1.02 + 1e-3),
                                               "\(type.name) \(backend) \(rows)x\(cols) n=\(n) t=\(t) r=\(r)")
                            }
                        }
                    }
                }
            }
        }
    }
}
