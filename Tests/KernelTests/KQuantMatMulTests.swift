import XCTest
import GGUF
@testable import Kernels

/// The K-quant kernels (Q4_K, Q5_K, Q6_K against Q8_K activations): the matrix-vector,
/// the repacked-tile kernels and the kernel on weights packed at load (`PackedWeights`) give bit for bit what the plain reference
/// (`KQuantDot`) gives, on odd shapes and hostile blocks, and stay within the
/// activation-rounding bound of the dequantize-then-float product.
final class KQuantMatMulTests: XCTestCase {
    static let types: [GGMLType] = [.q4_K, .q5_K, .q6_K]

    /// Every backend with a K-quant kernel on this CPU: each test runs for all of them.
    static var backends: [MatMul.Backend] {
        var b = [MatMul.Backend]()
        if CPUFeatures.hasAVX512VNNI { b.append(.avx512) }
        if CPUFeatures.hasAVX2 { b.append(.avx2) }
        return b.filter { KQuantMatMul.supports(QuantizedMatMulTests.randomMatrix(.q4_K, rows: 1, cols: 256, seed: 1).0, backend: $0) }
    }

    override func setUpWithError() throws {
        try XCTSkipIf(Self.backends.isEmpty, "no K-quant kernel for this CPU")
    }

    func fast(_ w: WeightMatrix, _ x: [Float], _ n: Int, pool: ThreadPool, backend: MatMul.Backend,
              amx: Bool = CPUFeatures.hasAMX, twoScaleProducts: Bool = CPUFeatures.q4KTwoScaleProducts) -> [Float] {
        var y = [Float](repeating: 0, count: n * w.rows)
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer {
                KQuantMatMul.multiply([(w, $0.baseAddress!)], xb.baseAddress!, nTokens: n, pool: pool, backend: backend, amx: amx,
                                      twoScaleProducts: twoScaleProducts)
            }
        }
        return y
    }

    func twin(_ w: WeightMatrix, _ x: [Float], _ n: Int) -> [Float] {
        var y = [Float](repeating: 0, count: n * w.rows)
        x.withUnsafeBufferPointer { xb in y.withUnsafeMutableBufferPointer { KQuantMatMul.reference(w, xb.baseAddress!, nTokens: n, $0.baseAddress!) } }
        return y
    }

    /// Rows not a multiple of the 16-row tile, one to many super-blocks, token counts on both
    /// sides of the matrix-vector / tile switch.
    func testBitwiseEqualToReference() {
        let pool = ThreadPool(threads: 2)
        for type in Self.types {
            for (rows, cols) in [(1, 256), (15, 512), (16, 256), (37, 1536), (70, 768)] {
                let (w, mem) = QuantizedMatMulTests.randomMatrix(type, rows: rows, cols: cols, seed: UInt64(rows * cols))
                defer { mem.deallocate() }
                // The owners of the packed copies live until the end of the loop body.
                let packing = PackedWeights(backend: .avx512, enabled: true), packing2 = PackedWeights(backend: .avx2, enabled: true)
                defer { withExtendedLifetime((packing, packing2)) {} }
                let packed = packing.pack(w), packed2 = packing2.pack(w)
                if CPUFeatures.hasAVX2 { XCTAssertNotNil(packed2.packed, "\(type.name): no AVX2 packed copy") }
                // Up to 8 tokens one stream (AVX2KQuantPacked.small), 9-32 groups that ask for shares of
                // the next tile, 33: past them, 70: more than one block of tokens per pass over the rows
                // (AVX2KQuantPacked.rows).
                for n in [1, 2, 3, 4, 5, 8, 9, 17, 32, 33, 70] {
                    let x = QuantizedMatMulTests.randomActivations(n * cols, seed: UInt64(n))
                    let r = twin(w, x, n)
                    for backend in Self.backends {
                        XCTAssertEqual(fast(w, x, n, pool: pool, backend: backend).map(\.bitPattern), r.map(\.bitPattern),
                                       "\(type.name) \(rows)x\(cols) n=\(n) \(backend)")
                    }
                    if packed.packed != nil {
                        XCTAssertEqual(fast(packed, x, n, pool: pool, backend: .avx512).map(\.bitPattern), r.map(\.bitPattern),
                                       "\(type.name) \(rows)x\(cols) n=\(n) packed")
                    }
                    if packed2.packed != nil {
                        XCTAssertEqual(fast(packed2, x, n, pool: pool, backend: .avx2).map(\.bitPattern), r.map(\.bitPattern),
                                       "\(type.name) \(rows)x\(cols) n=\(n) packed avx2")
                    }
                }
            }
        }
    }

    /// Generation over matrices large enough for the pool's stream jobs (`parallelStreams`: one part
    /// a thread, pieces taken from the back, read-ahead to the part's end): two matrices of
    /// different types in one call (as Q4_K_M's fused projections), rows not a multiple of the
    /// tile, pools of 2 and 3 threads; bit for bit the reference.
    func testStreamedGenerationBitwise() {
        let cols = 1024
        let (a, memA) = QuantizedMatMulTests.randomMatrix(.q4_K, rows: 1_999, cols: cols, seed: 71)
        let (b, memB) = QuantizedMatMulTests.randomMatrix(.q6_K, rows: 645, cols: cols, seed: 72)
        defer { memA.deallocate(); memB.deallocate() }
        for backend in Self.backends {
            let packing = PackedWeights(backend: backend, enabled: true)
            defer { withExtendedLifetime(packing) {} }
            let pa = packing.pack(a), pb = packing.pack(b)
            XCTAssertNotNil(pa.packed, "\(backend): no packed copy")
            for n in [1, 3, 8] {
                let x = QuantizedMatMulTests.randomActivations(n * cols, seed: UInt64(100 + n))
                let ra = twin(a, x, n), rb = twin(b, x, n)
                for threads in [2, 3] {
                    let pool = ThreadPool(threads: threads)
                    var ya = [Float](repeating: 0, count: n * a.rows), yb = [Float](repeating: 0, count: n * b.rows)
                    x.withUnsafeBufferPointer { xb in
                        ya.withUnsafeMutableBufferPointer { ua in
                            yb.withUnsafeMutableBufferPointer { ub in
                                KQuantMatMul.multiply([(pa, ua.baseAddress!), (pb, ub.baseAddress!)], xb.baseAddress!, nTokens: n,
                                                      pool: pool, backend: backend, amx: false)
                            }
                        }
                    }
                    XCTAssertEqual(ya.map(\.bitPattern), ra.map(\.bitPattern), "Q4_K n=\(n) threads \(threads) \(backend)")
                    XCTAssertEqual(yb.map(\.bitPattern), rb.map(\.bitPattern), "Q6_K n=\(n) threads \(threads) \(backend)")
                    XCTAssertGreaterThan(pool.streamJobs.load(ordering: .relaxed), 0, "n=\(n) threads \(threads) \(backend): no stream job")
                }
            }
        }
    }

    /// The AMX kernel (packed Q4_K, more than 8 tokens) against the reference and the VNNI
    /// kernel: whole groups of 16 tokens in steps of two, an odd last group, tokens left over
    /// for the VNNI kernel, rows not a multiple of 16, hostile blocks and activations.
    func testAMXBitwiseEqualToReference() throws {
        try XCTSkipUnless(CPUFeatures.hasAMX, "no AMX on this CPU (or JETON_AMX=0)")
        let pool = ThreadPool(threads: 2)
        for (rows, cols) in [(16, 256), (37, 1536), (70, 768), (5, 2304)] {
            let (w, mem) = QuantizedMatMulTests.randomMatrix(.q4_K, rows: rows, cols: cols, seed: UInt64(3 * rows + cols))
            defer { mem.deallocate() }
            if rows == 70 {
                // Zero blocks, the largest f16 scales, every quant and 6-bit scale and min at its maximum.
                for b in stride(from: 0, to: rows * cols / 256, by: 3) {
                    let p = mem + b * GGMLType.q4_K.blockBytes
                    switch b % 9 {
                    case 0: p.initializeMemory(as: UInt8.self, repeating: 0, count: 144)
                    case 3: p.storeBytes(of: Float16(60000).bitPattern, as: UInt16.self)
                    default: p.initializeMemory(as: UInt8.self, repeating: 0xFF, count: 140)
                        p.storeBytes(of: Float16(0.01).bitPattern, as: UInt16.self)
                        p.storeBytes(of: Float16(0.02).bitPattern, toByteOffset: 2, as: UInt16.self)
                    }
                }
            }
            let packing = PackedWeights(backend: .avx512, enabled: true)
            try withExtendedLifetime(packing) {
                let packed = packing.pack(w)
                try XCTSkipIf(packed.packed == nil, "Q4_K not packed")
                for n in [16, 17, 32, 33, 48, 57] {
                    var x = QuantizedMatMulTests.randomActivations(n * cols, seed: UInt64(n + rows))
                    for c in 0..<cols { x[c] = 0 }            // token 0: all zero
                    x[cols + 5] = 3e4                          // token 1: one outlier (every q at ±127)
                    for c in 0..<cols { x[(n - 1) * cols + c] = Float(c % 2 == 0 ? 127 : -128) }  // last: extreme, alternating
                    let r = twin(w, x, n)
                    let amx = fast(packed, x, n, pool: pool, backend: .avx512, amx: true)
                    XCTAssertEqual(amx.map(\.bitPattern), r.map(\.bitPattern), "\(rows)x\(cols) n=\(n) amx")
                    XCTAssertEqual(amx.map(\.bitPattern), fast(packed, x, n, pool: pool, backend: .avx512, amx: false).map(\.bitPattern),
                                   "\(rows)x\(cols) n=\(n) amx vs vnni")
                }
            }
        }
    }

    /// The plain-Swift packer (for CPUs without AVX-512) writes the very bytes of the AVX-512 one.
    func testPackersAgree() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX512VNNI, "the AVX-512 packer needs AVX-512 VNNI")
        for type in [GGMLType.q4_K, .q5_K, .q6_K] {
            for (rows, cols) in [(1, 256), (37, 768), (48, 512)] {
                let (w, mem) = QuantizedMatMulTests.randomMatrix(type, rows: rows, cols: cols, seed: UInt64(7 * rows + cols))
                defer { mem.deallocate() }
                let owners = (PackedWeights(backend: .avx512, enabled: true), PackedWeights(backend: .avx2, enabled: true))
                try withExtendedLifetime(owners) {
                    let vector = owners.0.pack(w), plain = owners.1.pack(w)
                    let bytes = KQuantPacker.packedBytes(typeID: type.rawValue, rows: rows, superBlocks: cols / 256)
                    let a = UnsafeRawBufferPointer(start: try XCTUnwrap(vector.packed), count: bytes)
                    let b = UnsafeRawBufferPointer(start: try XCTUnwrap(plain.packed), count: bytes)
                    XCTAssertTrue(Array(a) == Array(b), "\(type.name) \(rows)x\(cols): the packers' bytes differ")
                }
            }
        }
    }

    /// All-zero blocks, the largest and smallest f16 scales, all-zero and outlier activations.
    func testEdgeBlocks() {
        let pool = ThreadPool(threads: 2)
        let rows = 19, cols = 768, n = 10  // past the AVX2 packed kernel's 8 tokens in one stream
        for type in Self.types {
            let (w, mem) = QuantizedMatMulTests.randomMatrix(type, rows: rows, cols: cols, seed: 5)
            defer { mem.deallocate() }
            let bb = type.blockBytes, blocks = rows * cols / 256
            let scaleOffsets = type == .q6_K ? [208] : [0, 2]
            for b in 0..<blocks {
                let p = mem + b * bb
                switch b % 4 {
                case 0: p.initializeMemory(as: UInt8.self, repeating: 0, count: bb)  // zero block
                case 1: for o in scaleOffsets { p.storeBytes(of: Float16(60000).bitPattern, toByteOffset: o, as: UInt16.self) }
                case 2: for o in scaleOffsets { p.storeBytes(of: UInt16(1), toByteOffset: o, as: UInt16.self) }  // subnormal
                default: p.initializeMemory(as: UInt8.self, repeating: 0xFF, count: bb - 4)  // every quant and scale at its maximum
                    for o in scaleOffsets { p.storeBytes(of: Float16(0.01).bitPattern, toByteOffset: o, as: UInt16.self) }
                }
            }
            var x = QuantizedMatMulTests.randomActivations(n * cols, seed: 3)
            for c in 0..<cols { x[c] = 0 }              // token 0: all zero
            x[cols + 7] = 3e4                            // token 1: one outlier
            for c in 0..<cols { x[2 * cols + c] = 1e-30 } // token 2: tiny
            let r = twin(w, x, n)
            for backend in Self.backends {
                let y = fast(w, x, n, pool: pool, backend: backend)
                XCTAssertEqual(y.map(\.bitPattern), r.map(\.bitPattern), "\(type.name) \(backend)")
                XCTAssertFalse(y.contains { $0.isNaN }, "\(type.name) \(backend)")
                XCTAssertEqual(Array(y[0..<rows]), [Float](repeating: 0, count: rows), "\(type.name) zero token \(backend)")
            }
            for backend in Self.backends {
                let packing = PackedWeights(backend: backend, enabled: true)
                withExtendedLifetime(packing) {
                    let packed = packing.pack(w)
                    if packed.packed != nil {
                        XCTAssertEqual(fast(packed, x, n, pool: pool, backend: backend).map(\.bitPattern), r.map(\.bitPattern),
                                       "\(type.name) packed \(backend)")
                        // Three tokens at once (AVX2: the one-stream kernel for up to 8).
                        let three = fast(packed, Array(x[0..<(3 * cols)]), 3, pool: pool, backend: backend)
                        XCTAssertEqual(three.map(\.bitPattern), r[0..<(3 * rows)].map(\.bitPattern), "\(type.name) packed \(backend) 3 tokens")
                        // One token at a time: the matrix-vector kernels (both halves of a tile per super-block).
                        for t in 0..<n {
                            let one = fast(packed, Array(x[t * cols..<(t + 1) * cols]), 1, pool: pool, backend: backend)
                            XCTAssertEqual(one.map(\.bitPattern), r[t * rows..<(t + 1) * rows].map(\.bitPattern),
                                           "\(type.name) packed \(backend) token \(t) alone")
                        }
                    }
                }
            }
        }
    }

    /// The AVX-512 Q4_K groups' two scale steps (a blend and one product, or two products: which
    /// one a CPU runs depends on its vendor) give the reference's bits on random blocks and at the
    /// extremes a half's int16 sum reaches (every nibble 15 against activations of 127 and -127,
    /// Q8_K's range).
    func testQ4KScaleStepsBitwise() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX512VNNI, "the AVX-512 kernels")
        let pool = ThreadPool(threads: 2)
        for (rows, cols, extreme) in [(37, 1536, false), (19, 768, true)] {
            let (w, mem) = QuantizedMatMulTests.randomMatrix(.q4_K, rows: rows, cols: cols, seed: UInt64(rows))
            defer { mem.deallocate() }
            if extreme {
                for b in 0..<(rows * cols / 256) where b % 2 == 0 {
                    let p = mem + b * GGMLType.q4_K.blockBytes
                    p.initializeMemory(as: UInt8.self, repeating: 0xFF, count: GGMLType.q4_K.blockBytes)
                    p.storeBytes(of: Float16(0.01).bitPattern, toByteOffset: 0, as: UInt16.self)
                    p.storeBytes(of: Float16(0.02).bitPattern, toByteOffset: 2, as: UInt16.self)
                }
            }
            let packing = PackedWeights(backend: .avx512, enabled: true)
            try withExtendedLifetime(packing) {
                let packed = packing.pack(w)
                XCTAssertNotNil(packed.packed, "no AVX-512 packed copy")
                // 16: two full groups, the second's tokens read at a group offset (full groups take
                // `eightTokenSums`); AMX off, since it takes Q4_K past 8 tokens where the CPU has it.
                for n in [2, 5, 8, 9, 16, 33] {
                    var x = QuantizedMatMulTests.randomActivations(n * cols, seed: UInt64(n + 40))
                    if extreme {
                        // Tokens 0 and 8 (each group's first): bytes all 127; tokens 1 and 9: all -127.
                        for t in [0, 8] where t + 1 < n {
                            for c in 0..<cols { x[t * cols + c] = 2.5; x[(t + 1) * cols + c] = -2.5 }
                        }
                    }
                    let r = twin(w, x, n)
                    for two in [false, true] {
                        XCTAssertEqual(fast(packed, x, n, pool: pool, backend: .avx512, amx: false, twoScaleProducts: two).map(\.bitPattern),
                                       r.map(\.bitPattern), "\(rows)x\(cols) n=\(n) twoScaleProducts \(two)")
                    }
                }
            }
        }
    }

    /// Against dequantized weights in Double: off by no more than rounding x to 8 bits per
    /// 256 elements allows (amax/254 per element).
    func testAgainstDequantizedFloat() {
        let pool = ThreadPool(threads: 2)
        let rows = 29, cols = 1024
        for type in Self.types {
            let (w, mem) = QuantizedMatMulTests.randomMatrix(type, rows: rows, cols: cols, seed: 77)
            defer { mem.deallocate() }
            var wf = [Float](repeating: 0, count: rows * cols)
            wf.withUnsafeMutableBufferPointer { b in for r in 0..<rows { w.dequantizeRow(r, into: b.baseAddress! + r * cols) } }
            for n in [1, 11] {
                let x = QuantizedMatMulTests.randomActivations(n * cols, seed: 9)
                var ref = [Float](repeating: 0, count: n * rows)
                MatMul.reference(w, x, nTokens: n, &ref)
                for backend in Self.backends {
                    let y = fast(w, x, n, pool: pool, backend: backend)
                    Self.assertWithinRounding(y, ref, wf: wf, x: x, rows: rows, cols: cols, tokens: n, "\(type.name) \(backend)")
                }
            }
        }
    }

    /// y against the float product ref of dequantized weights wf ([rows, cols]): off by no more than
    /// rounding x to 8 bits per 256 elements allows (amax/254 per element).
    static func assertWithinRounding(_ y: [Float], _ ref: [Float], wf: [Float], x: [Float], rows: Int, cols: Int, tokens n: Int,
                                     _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        for t in 0..<n {
            for r in 0..<rows {
                var bound = 0.0
                for s in 0..<cols / 256 {
                    let amax = Double(x[(t * cols + s * 256)..<(t * cols + s * 256 + 256)].map { abs($0) }.max() ?? 0)
                    var sw = 0.0
                    for c in 0..<256 { sw += Double(abs(wf[r * cols + s * 256 + c])) }
                    bound += sw * amax / 254
                }
                XCTAssertEqual(y[t * rows + r], ref[t * rows + r], accuracy: Float(bound * 1.02 + 1e-3),
                               "\(label) n=\(n) t=\(t) r=\(r)", file: file, line: line)
            }
        }
    }

    /// Mixed groups (a K-quant beside a 32-block format) give what separate calls give.
    func testMixedGroup() {
        let pool = ThreadPool(threads: 2)
        let (a, ma) = QuantizedMatMulTests.randomMatrix(.q4_K, rows: 33, cols: 512, seed: 1)
        let (b, mb) = QuantizedMatMulTests.randomMatrix(.q6_K, rows: 20, cols: 512, seed: 2)
        let (c, mc) = QuantizedMatMulTests.randomMatrix(.q8_0, rows: 17, cols: 512, seed: 3)
        defer { ma.deallocate(); mb.deallocate(); mc.deallocate() }
        for backend in Self.backends {
            for n in [1, 7] {
                let x = QuantizedMatMulTests.randomActivations(n * 512, seed: 4)
                var ya = [Float](repeating: 0, count: n * 33), yb = [Float](repeating: 0, count: n * 20), yc = [Float](repeating: 0, count: n * 17)
                var sa = ya, sb = yb, sc = yc
                x.withUnsafeBufferPointer { xb in
                    ya.withUnsafeMutableBufferPointer { pa in yb.withUnsafeMutableBufferPointer { pb in yc.withUnsafeMutableBufferPointer { pc in
                        MatMul.multiply([(a, pa.baseAddress!), (b, pb.baseAddress!), (c, pc.baseAddress!)], xb.baseAddress!, nTokens: n,
                                        pool: pool, backend: backend)
                    } } }
                    sa.withUnsafeMutableBufferPointer { MatMul.multiply(a, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool, backend: backend) }
                    sb.withUnsafeMutableBufferPointer { MatMul.multiply(b, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool, backend: backend) }
                    sc.withUnsafeMutableBufferPointer { MatMul.multiply(c, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool, backend: backend) }
                }
                XCTAssertEqual(ya, sa, "\(backend)"); XCTAssertEqual(yb, sb, "\(backend)"); XCTAssertEqual(yc, sc, "\(backend)")
            }
        }
    }

    /// A matrix of a type without a packed layout moves to a copy of its own when it spans a huge
    /// page (the same bytes, so the same products), stays in place when smaller, and stays in the
    /// file with repacking off.
    func testLargeMatrixWithoutPackedLayoutMoves() {
        let pool = ThreadPool(threads: 2)
        // Q5_1: no packed layout anywhere (Q4_0, Q4_1, Q5_0 and Q8_0 have one: Packed32Tests).
        for type in [GGMLType.q5_1] {
            let cols = 1024, rows = (1 << 21) / type.byteCount(elements: cols)! + 3
            let (w, mem) = QuantizedMatMulTests.randomMatrix(type, rows: rows, cols: cols, seed: 3)
            defer { mem.deallocate() }
            let (small, smallMem) = QuantizedMatMulTests.randomMatrix(type, rows: 40, cols: cols, seed: 4)
            defer { smallMem.deallocate() }
            let packing = PackedWeights(enabled: true), off = PackedWeights(enabled: false)
            withExtendedLifetime((packing, off)) {
                let moved = packing.pack(w)
                #if os(Linux)
                XCTAssertNotEqual(moved.data, w.data, type.name)
                XCTAssertEqual(packing.bytes, rows * w.rowBytes)
                #endif
                XCTAssertNil(moved.packed)
                XCTAssertEqual(memcmp(moved.data, w.data, rows * w.rowBytes), 0, type.name)
                XCTAssertEqual(packing.pack(small).data, small.data, type.name)
                XCTAssertEqual(off.pack(w).data, w.data, type.name)
                let n = 3, x = QuantizedMatMulTests.randomActivations(n * cols, seed: 8)
                var a = [Float](repeating: 0, count: n * rows), b = a
                x.withUnsafeBufferPointer { xb in
                    a.withUnsafeMutableBufferPointer { MatMul.multiply(w, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool) }
                    b.withUnsafeMutableBufferPointer { MatMul.multiply(moved, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool) }
                }
                XCTAssertEqual(a.map(\.bitPattern), b.map(\.bitPattern), type.name)
            }
        }
    }
    /// Q5_K packed is read only from the packed copy at every token count (one stream, groups
    /// taking shares, a prompt's tiles decoded once on AVX-512: past 32 tokens, with a partial
    /// last group; AVX2: blocks of 64 tokens), the file's rows overwritten meanwhile, on both
    /// backends, each from its own packer's copy and from the other's (the same bytes).
    func testQ5KReadsOnlyThePackedCopy() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX2, "no AVX2 on this CPU")
        let pool = ThreadPool(threads: 2)
        let rows = 37, cols = 768, counts = [1, 3, 8, 9, 17, 32, 33, 40, 70]
        let backends: [MatMul.Backend] = CPUFeatures.hasAVX512VNNI ? [.avx512, .avx2] : [.avx2]
        for packer in backends {
            let (w, mem) = QuantizedMatMulTests.randomMatrix(.q5_K, rows: rows, cols: cols, seed: 41)
            defer { mem.deallocate() }
            let owner = PackedWeights(backend: packer, enabled: true)
            try withExtendedLifetime(owner) {
                let packed = owner.pack(w)
                _ = try XCTUnwrap(packed.packed, "Q5_K is packed for \(packer)")
                let xs = counts.map { QuantizedMatMulTests.randomActivations($0 * cols, seed: UInt64(3 * $0)) }
                let want = zip(counts, xs).map { twin(w, $1, $0).map(\.bitPattern) }
                let (other, otherMem) = QuantizedMatMulTests.randomMatrix(.q5_K, rows: rows, cols: cols, seed: 42)
                defer { otherMem.deallocate() }
                UnsafeMutableRawPointer(mutating: w.data).copyMemory(from: other.data, byteCount: rows * w.rowBytes)
                for backend in backends {
                    for (i, n) in counts.enumerated() {
                        XCTAssertEqual(fast(packed, xs[i], n, pool: pool, backend: backend).map(\.bitPattern), want[i],
                                       "packed for \(packer), run on \(backend), n=\(n)")
                    }
                }
            }
        }
    }
}
