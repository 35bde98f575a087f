import XCTest
import GGUF
@testable import Kernels

/// The int8-activation kernels against the float reference (`MatMul.reference`) on
/// random weights of every format, and the portable path against the AVX2 one.
final class QuantizedMatMulTests: XCTestCase {
    static let types: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K]

    /// Random blocks with sane f16 scale fields (random bits there would be NaN or huge).
    static func randomMatrix(_ type: GGMLType, rows: Int, cols: Int, seed: UInt64) -> (WeightMatrix, UnsafeMutableRawPointer) {
        var rng = SplitMix(seed)
        let bytes = type.byteCount(elements: rows * cols)!
        let p = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 32)
        for i in 0..<bytes { p.storeBytes(of: UInt8(truncatingIfNeeded: rng.next()), toByteOffset: i, as: UInt8.self) }
        let halfs: [Int]
        switch type {
        case .q4_0, .q5_0, .q8_0, .iq4_xs, .iq4_nl: halfs = [0]
        case .q4_1, .q5_1, .q4_K, .q5_K: halfs = [0, 2]
        case .q6_K: halfs = [208]
        case .q3_K: halfs = [108]
        case .q2_K: halfs = [80, 82]
        default: halfs = []
        }
        for b in 0..<bytes / type.blockBytes {
            for (k, off) in halfs.enumerated() {
                let v = Float16(Float(rng.unit() * 0.02 + 0.001) * (k == 1 && type.blockSize == 32 ? -8 : 1))
                p.storeBytes(of: v.bitPattern, toByteOffset: b * type.blockBytes + off, as: UInt16.self)
            }
        }
        return (WeightMatrix(type: type, data: UnsafeRawPointer(p), rows: rows, cols: cols), p)
    }

    static func randomActivations(_ n: Int, seed: UInt64) -> [Float] {
        var rng = SplitMix(seed)
        // Mixed magnitudes per block, and an outlier now and then, as real activations have.
        return (0..<n).map { i in Float(rng.unit() * 2 - 1) * (i % 97 == 0 ? 20 : 1) * (i % 64 < 32 ? 1 : 0.1) }
    }

    func check(_ type: GGMLType, backend: MatMul.Backend, rows: Int = 37, cols: Int = 512, tokens: [Int] = [1, 2, 3, 4, 5, 9]) throws {
        let pool = ThreadPool(threads: 2)
        let (w, mem) = Self.randomMatrix(type, rows: rows, cols: cols, seed: UInt64(type.rawValue) * 7919)
        defer { mem.deallocate() }
        XCTAssertTrue(QuantizedMatMul.supports(w, backend: backend), "\(type.name) on \(backend)")
        var wf = [Float](repeating: 0, count: rows * cols)  // [rows, cols] dequantized
        wf.withUnsafeMutableBufferPointer { b in for r in 0..<rows { w.dequantizeRow(r, into: b.baseAddress! + r * cols) } }
        for n in tokens {
            let x = Self.randomActivations(n * cols, seed: UInt64(n) + 17)
            var ref = [Float](repeating: 0, count: n * rows), fast = ref
            MatMul.reference(w, x, nTokens: n, &ref)
            x.withUnsafeBufferPointer { xb in
                fast.withUnsafeMutableBufferPointer { MatMul.multiply(w, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool, backend: backend) }
            }
            for t in 0..<n {
                for r in 0..<rows {
                    // Rounding x to 8 bits moves each element by at most amax(block)/254; the
                    // K-quant kernels quantize x per 256 elements, the others per 32.
                    var bound = 0.0
                    let ab = KQuantMatMul.supports(w, backend: backend) ? 256 : 32
                    for b in 0..<cols / ab {
                        let xs = x[(t * cols + b * ab)..<(t * cols + b * ab + ab)]
                        let amax = Double(xs.map { abs($0) }.max() ?? 0)
                        var sw = 0.0
                        for c in 0..<ab { sw += Double(abs(wf[r * cols + b * ab + c])) }
                        bound += sw * amax / 254
                    }
                    let i = t * rows + r
                    XCTAssertEqual(fast[i], ref[i], accuracy: Float(bound * 1.02 + 1e-3),
                                   "\(type.name) \(backend) n=\(n) t=\(t) r=\(r)")
                }
            }
        }
    }

    func testPortableAgainstReference() throws {
        for t in Self.types { try check(t, backend: .portable) }
    }

    func testAVX2AgainstReference() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX2, "no AVX2 on this CPU")
        for t in Self.types where QuantizedMatMul.supports(Self.randomMatrix(t, rows: 1, cols: 256, seed: 1).0, backend: .avx2) {
            try check(t, backend: .avx2)
        }
    }

    /// Same quantized activations, same integer sums: the two paths differ only in float rounding.
    func testPortableMatchesAVX2() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX2, "no AVX2 on this CPU")
        let pool = ThreadPool(threads: 2)
        let rows = 45, cols = 768
        for type in Self.types {
            let (w, mem) = Self.randomMatrix(type, rows: rows, cols: cols, seed: 99)
            defer { mem.deallocate() }
            guard QuantizedMatMul.supports(w, backend: .avx2) else { continue }
            for n in [1, 4, 6] {
                let x = Self.randomActivations(n * cols, seed: 5)
                var a = [Float](repeating: 0, count: n * rows), b = a, f = a
                x.withUnsafeBufferPointer { xb in
                    a.withUnsafeMutableBufferPointer { MatMul.multiply(w, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool, backend: .portable) }
                    b.withUnsafeMutableBufferPointer { MatMul.multiply(w, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool, backend: .avx2) }
                    f.withUnsafeMutableBufferPointer { MatMul.multiply(w, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool, backend: .float) }
                }
                let scale = f.map { abs($0) }.max() ?? 1
                // K-quants quantize x per 256 elements on avx2 (KQuantMatMul), per 32 on portable:
                // then each side is off the float product by no more than its own rounding of x allows.
                let kQuant = KQuantMatMul.supports(w, backend: .avx2)
                var wf = [Float](repeating: 0, count: kQuant ? rows * cols : 0)
                if kQuant { wf.withUnsafeMutableBufferPointer { p in for r in 0..<rows { w.dequantizeRow(r, into: p.baseAddress! + r * cols) } } }
                for i in a.indices {
                    var bound = 2e-5 * Double(max(scale, 1))
                    if kQuant {
                        let t = i / rows, r = i % rows
                        for ab in [32, 256] {
                            for blk in 0..<cols / ab {
                                let amax = Double(x[(t * cols + blk * ab)..<(t * cols + blk * ab + ab)].map { abs($0) }.max() ?? 0)
                                var sw = 0.0
                                for c in 0..<ab { sw += Double(abs(wf[r * cols + blk * ab + c])) }
                                bound += sw * amax / 254 * 1.02
                            }
                        }
                    }
                    XCTAssertEqual(a[i], b[i], accuracy: Float(bound), "\(type.name) n=\(n) i=\(i)")
                }
            }
        }
    }

    /// A token's outputs are bit-identical whether it is multiplied alone or with others
    /// (the engine's greedy output must not change with batching).
    func testBatchInvariance() throws {
        let pool = ThreadPool(threads: 2)
        let rows = 35, cols = 512, n = 7
        for backend in MatMul.Backend.allCases where backend != .avx2 || CPUFeatures.hasAVX2 {
            for type in Self.types {
                let (w, mem) = Self.randomMatrix(type, rows: rows, cols: cols, seed: 21)
                defer { mem.deallocate() }
                let x = Self.randomActivations(n * cols, seed: 8)
                var all = [Float](repeating: 0, count: n * rows), allU = all
                x.withUnsafeBufferPointer { xb in
                    all.withUnsafeMutableBufferPointer { MatMul.multiply(w, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool, backend: backend) }
                    allU.withUnsafeMutableBufferPointer {
                        MatMul.multiplyUnquantizedActivations(w, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool, backend: backend)
                    }
                }
                for t in 0..<n {
                    var one = [Float](repeating: 0, count: rows), oneU = one
                    x.withUnsafeBufferPointer { xb in
                        one.withUnsafeMutableBufferPointer { MatMul.multiply(w, xb.baseAddress! + t * cols, nTokens: 1, $0.baseAddress!, pool: pool, backend: backend) }
                        oneU.withUnsafeMutableBufferPointer {
                            MatMul.multiplyUnquantizedActivations(w, xb.baseAddress! + t * cols, nTokens: 1, $0.baseAddress!, pool: pool, backend: backend)
                        }
                    }
                    XCTAssertEqual(one, Array(all[(t * rows)..<((t + 1) * rows)]), "\(type.name) \(backend) token \(t)")
                    XCTAssertEqual(oneU, Array(allU[(t * rows)..<((t + 1) * rows)]), "unquantized \(type.name) \(backend) token \(t)")
                }
            }
        }
    }

    /// Several matrices sharing one quantization give what separate calls give.
    func testGroupedMultiplyMatchesSeparate() throws {
        let pool = ThreadPool(threads: 2)
        let (w1, m1) = Self.randomMatrix(.q4_1, rows: 40, cols: 256, seed: 1)
        let (w2, m2) = Self.randomMatrix(.q8_0, rows: 21, cols: 256, seed: 2)
        defer { m1.deallocate(); m2.deallocate() }
        let n = 5
        let x = Self.randomActivations(n * 256, seed: 3)
        var y1 = [Float](repeating: 0, count: n * 40), y2 = [Float](repeating: 0, count: n * 21)
        var s1 = y1, s2 = y2
        x.withUnsafeBufferPointer { xb in
            y1.withUnsafeMutableBufferPointer { p1 in
                y2.withUnsafeMutableBufferPointer { p2 in
                    MatMul.multiply([(w1, p1.baseAddress!), (w2, p2.baseAddress!)], xb.baseAddress!, nTokens: n, pool: pool)
                }
            }
            s1.withUnsafeMutableBufferPointer { MatMul.multiply(w1, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool) }
            s2.withUnsafeMutableBufferPointer { MatMul.multiply(w2, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool) }
        }
        XCTAssertEqual(y1, s1)
        XCTAssertEqual(y2, s2)
    }

    /// Generation over matrices large enough for the pool's stream jobs (two of different types in
    /// one call, rows not a multiple of the tile, the file's layout and packed copies): the same
    /// bits on 2 and 3 threads as on one, and the products did run as stream jobs.
    func testStreamedGenerationMatchesOneThread() throws {
        let cols = 1024
        let (a, memA) = Self.randomMatrix(.q4_1, rows: 1_203, cols: cols, seed: 41)
        let (b, memB) = Self.randomMatrix(.q8_0, rows: 601, cols: cols, seed: 42)
        defer { memA.deallocate(); memB.deallocate() }
        let packing = PackedWeights(backend: MatMul.defaultBackend, enabled: true)
        defer { withExtendedLifetime(packing) {} }
        let one = ThreadPool(threads: 1)
        for (wa, wb, layout) in [(a, b, "file"), (packing.pack(a), packing.pack(b), "packed")] {
            for n in [1, 4] {
                let x = Self.randomActivations(n * cols, seed: UInt64(50 + n))
                func run(_ pool: ThreadPool) -> ([Float], [Float]) {
                    var ya = [Float](repeating: 0, count: n * wa.rows), yb = [Float](repeating: 0, count: n * wb.rows)
                    x.withUnsafeBufferPointer { xb in
                        ya.withUnsafeMutableBufferPointer { pa in
                            yb.withUnsafeMutableBufferPointer { pb in
                                MatMul.multiply([(wa, pa.baseAddress!), (wb, pb.baseAddress!)], xb.baseAddress!, nTokens: n, pool: pool)
                            }
                        }
                    }
                    return (ya, yb)
                }
                let (ra, rb) = run(one)
                for threads in [2, 3] {
                    let pool = ThreadPool(threads: threads)
                    let (ya, yb) = run(pool)
                    XCTAssertEqual(ya.map(\.bitPattern), ra.map(\.bitPattern), "Q4_1 \(layout) n=\(n) threads \(threads)")
                    XCTAssertEqual(yb.map(\.bitPattern), rb.map(\.bitPattern), "Q8_0 \(layout) n=\(n) threads \(threads)")
                    if CPUFeatures.hasAVX512VNNI {
                        XCTAssertGreaterThan(pool.streamJobs.load(ordering: .relaxed), 0, "\(layout) n=\(n): no stream job")
                    }
                }
            }
        }
    }
}

/// Deterministic random numbers for test data.
struct SplitMix {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }
}

/// The logits kernel (quantized weights, float activations) against the reference.
final class UnquantizedActivationTests: XCTestCase {
    /// K-quant logits: a first 8-bit pass, then, on the tiles of rows within `KQuantLogits.margin`
    /// of each token's best, what x's Q8_K rounding left out. Those rows get the every-row second
    /// pass's values bit for bit, and their error against float activations is a small fraction
    /// of one pass's; every other row keeps the first pass's value bit for bit. On every backend,
    /// on the file layout and on packed copies, with outliers in x (scaled so several tiles, runs
    /// of them and the last partial tile fall within the margin).
    func testKQuantSecondPassOnTheBestRows() throws {
        let pool = ThreadPool(threads: 2)
        let rows = 16 * 40 + 5, cols = 768, n = 19
        var checked = (corrected: 0, kept: 0, lastTile: 0)
        for backend in MatMul.Backend.allCases where backend != .avx2 || CPUFeatures.hasAVX2 {
            for type in [GGMLType.q4_K, .q5_K, .q6_K] {
                let (file, mem) = QuantizedMatMulTests.randomMatrix(type, rows: rows, cols: cols, seed: 31)
                defer { mem.deallocate() }
                guard KQuantMatMul.supports(file, backend: backend) else { continue }
                let packing = PackedWeights(backend: backend, enabled: true)
                defer { withExtendedLifetime(packing) {} }
                let x = QuantizedMatMulTests.randomActivations(n * cols, seed: 9).map { $0 * 0.015 }
                var ref = [Float](repeating: 0, count: n * rows)
                MatMul.reference(file, x, nTokens: n, &ref)
                for w in [file, packing.pack(file)] {
                    var one = ref, two = ref, all = ref
                    x.withUnsafeBufferPointer { xb in
                        one.withUnsafeMutableBufferPointer { MatMul.multiply(w, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool, backend: backend) }
                        two.withUnsafeMutableBufferPointer {
                            MatMul.multiplyUnquantizedActivations(w, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool, backend: backend)
                        }
                        all.withUnsafeMutableBufferPointer {
                            MatMul.multiplyUnquantizedActivations(w, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool,
                                                                  backend: backend, allRows: true)
                        }
                    }
                    let name = "\(type.name) \(backend) \(w.packed == nil ? "file" : "packed")"
                    var near = [Int]()
                    for t in 0..<n {
                        let row = Array(one[(t * rows)..<((t + 1) * rows)])
                        let best = row.max()!
                        let tiles = Set(row.indices.filter { row[$0] >= best - KQuantLogits.margin }.map { $0 / 16 })
                        if tiles.contains(rows / 16) { checked.lastTile += 1 }
                        for r in 0..<rows {
                            let i = t * rows + r
                            if tiles.contains(r / 16) {
                                near.append(i)
                                XCTAssertEqual(two[i].bitPattern, all[i].bitPattern, "\(name) t\(t) r\(r): the every-row pass's value")
                            } else {
                                XCTAssertEqual(two[i].bitPattern, one[i].bitPattern, "\(name) t\(t) r\(r): one pass")
                                checked.kept += 1
                            }
                        }
                    }
                    checked.corrected += near.count
                    func rms(_ a: [Float]) -> Double {
                        (near.map { Double(a[$0] - ref[$0]) * Double(a[$0] - ref[$0]) }.reduce(0, +) / Double(near.count)).squareRoot()
                    }
                    let size = (near.map { Double(ref[$0]) * Double(ref[$0]) }.reduce(0, +) / Double(near.count)).squareRoot()
                    XCTAssertGreaterThan(rms(one), 1e-3 * size, "\(name): one pass should show its rounding")
                    XCTAssertLessThan(rms(two), rms(one) / 30, name)
                    XCTAssertLessThan(rms(two), 3e-4 * size, name)
                }
            }
        }
        XCTAssertGreaterThan(checked.corrected, 19 * 16 * 2, "several tiles per token")
        XCTAssertGreaterThan(checked.kept, 0)
        XCTAssertGreaterThan(checked.lastTile, 0)
    }

    /// A part of the vocabulary's rows (a tile-aligned head, the rest, rows gathered from anywhere)
    /// with `allRows` gives each row the whole matrix's every-row value bit for bit, whatever else
    /// is in the call: a draft's partial logits must not depend on the part or the batch.
    func testKQuantPartsGiveTheWholeMatrixValues() throws {
        let pool = ThreadPool(threads: 2)
        // More rows than Q2_K and Q3_K pack for a call (their parts then need the packed copy).
        let rows = 16 * 40 + 3, cols = 512, n = 5
        for type in [GGMLType.q6_K, .q3_K, .q2_K] {
        for backend in MatMul.Backend.allCases where backend != .avx2 || CPUFeatures.hasAVX2 {
            let (file, mem) = QuantizedMatMulTests.randomMatrix(type, rows: rows, cols: cols, seed: 41)
            defer { mem.deallocate() }
            let packing = PackedWeights(backend: backend, enabled: true)
            defer { withExtendedLifetime(packing) {} }
            let w = packing.pack(file)
            guard KQuantMatMul.supports(w, backend: backend) else { continue }
            let x = QuantizedMatMulTests.randomActivations(n * cols, seed: 5).map { $0 * 0.004 }
            func logits(_ m: WeightMatrix) -> [Float] {
                var y = [Float](repeating: 0, count: n * m.rows)
                x.withUnsafeBufferPointer { xb in
                    y.withUnsafeMutableBufferPointer {
                        MatMul.multiplyUnquantizedActivations(m, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool,
                                                              backend: backend, allRows: true)
                    }
                }
                return y
            }
            let whole = logits(w)
            let head = logits(WeightMatrix(type: w.type, data: w.data, rows: 64, cols: cols, packed: w.packed))
            // Q6_K's rest in the file's layout (its unpacked kernels); Q2_K's and Q3_K's from the packed copy.
            let tail = logits(type == .q6_K ? WeightMatrix(type: w.type, data: w.row(64), rows: rows - 64, cols: cols)
                                            : w.suffix(fromRow: 64))
            let picked = [3, 70, 71, 150, rows - 1]
            let gathered = UnsafeMutableRawPointer.allocate(byteCount: picked.count * w.rowBytes, alignment: 64)
            defer { gathered.deallocate() }
            for (k, r) in picked.enumerated() { (gathered + k * w.rowBytes).copyMemory(from: w.row(r), byteCount: w.rowBytes) }
            let some = logits(WeightMatrix(type: w.type, data: UnsafeRawPointer(gathered), rows: picked.count, cols: cols))
            // A prefix ending in a partial tile and a suffix from a whole one keep the packed copy.
            let head600 = logits(w.prefix(rows: 600)), tail64 = logits(w.suffix(fromRow: 64))
            for t in 0..<n {
                for r in 0..<rows {
                    let part = r < 64 ? head[t * 64 + r] : tail[t * (rows - 64) + r - 64]
                    XCTAssertEqual(part.bitPattern, whole[t * rows + r].bitPattern, "\(type.name) \(backend) t\(t) r\(r)")
                    if r < 600 { XCTAssertEqual(head600[t * 600 + r].bitPattern, whole[t * rows + r].bitPattern, "\(type.name) \(backend) prefix r\(r)") }
                    if r >= 64 {
                        XCTAssertEqual(tail64[t * (rows - 64) + r - 64].bitPattern, whole[t * rows + r].bitPattern,
                                       "\(type.name) \(backend) suffix r\(r)")
                    }
                }
                for (k, r) in picked.enumerated() {
                    XCTAssertEqual(some[t * picked.count + k].bitPattern, whole[t * rows + r].bitPattern,
                                   "\(type.name) \(backend) gathered r\(r)")
                }
            }
        }
        }
    }

    /// The tiles a second pass corrects: those within the margin of the best value (a last
    /// partial tile included), ascending; past `maxTiles`, the highest ones.
    func testKQuantLogitsCandidates() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX2, "the scans are AVX2 code (K-quant kernels need AVX2)")
        let chosen = UnsafeMutablePointer<Int>.allocate(capacity: 1024)
        defer { chosen.deallocate() }
        func pick(_ y: [Float]) -> [Int] {
            let n = y.withUnsafeBufferPointer { KQuantLogits.candidates($0.baseAddress!, rows: y.count, into: chosen) }
            return (0..<n).map { chosen[$0] }
        }
        // Tile t holds the value t in one row: the best 699, the margin reaches 699 - margin.
        var y = [Float](repeating: -1000, count: 700 * 16)
        for t in 0..<700 { y[16 * t + t % 16] = Float(t) }
        XCTAssertEqual(pick(y), Array((699 - Int(KQuantLogits.margin))...699))
        // The best in a last partial tile of 5 rows.
        var tail = [Float](repeating: 0, count: 16 * 10 + 5)
        tail[16 * 10 + 4] = 100
        tail[3] = 100 - KQuantLogits.margin
        XCTAssertEqual(pick(tail), [0, 10])
        // Flat: every tile ties, the first maxTiles are kept.
        XCTAssertEqual(pick([Float](repeating: 1, count: 700 * 16)), Array(0..<KQuantLogits.maxTiles))
        // More than maxTiles within the margin: the highest, ascending.
        var wide = [Float](repeating: 0, count: 600 * 16)
        for t in 0..<600 { wide[16 * t] = Float(t) / 1000 }
        XCTAssertEqual(pick(wide), Array((600 - KQuantLogits.maxTiles)..<600))
        XCTAssertEqual(pick([Float](repeating: -.infinity, count: 40)), [])
    }

    /// Q8_0 logits on AVX2: each token of a batch (pairs, and the odd one out) gets the bits it
    /// gets alone (one token takes its own loop).
    func testQ8_0LogitsAloneAsInABatch() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX2, "no AVX2 on this CPU")
        let pool = ThreadPool(threads: 2)
        let rows = 37, cols = 576, n = 3
        let (w, mem) = QuantizedMatMulTests.randomMatrix(.q8_0, rows: rows, cols: cols, seed: 12)
        defer { mem.deallocate() }
        let x = QuantizedMatMulTests.randomActivations(n * cols, seed: 6)
        func logits(_ x: ArraySlice<Float>, _ n: Int) -> [UInt32] {
            var y = [Float](repeating: .nan, count: n * rows)
            Array(x).withUnsafeBufferPointer { xb in
                y.withUnsafeMutableBufferPointer {
                    MatMul.multiplyUnquantizedActivations(w, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool, backend: .avx2)
                }
            }
            return y.map(\.bitPattern)
        }
        let all = logits(x[...], n)
        for t in 0..<n {
            XCTAssertEqual(logits(x[(t * cols)..<((t + 1) * cols)], 1), Array(all[(t * rows)..<((t + 1) * rows)]), "token \(t)")
        }
    }

    func testAgainstReference() throws {
        let pool = ThreadPool(threads: 2)
        for type in QuantizedMatMulTests.types {
            let rows = 33, cols = 512
            let (w, mem) = QuantizedMatMulTests.randomMatrix(type, rows: rows, cols: cols, seed: 11)
            defer { mem.deallocate() }
            // K-quants take the Q8_K path there (KQuantMatMulTests).
            if KQuantMatMul.supports(w, backend: MatMul.defaultBackend) { continue }
            for n in [1, 3, 6] {
                let x = QuantizedMatMulTests.randomActivations(n * cols, seed: 4)
                var ref = [Float](repeating: 0, count: n * rows), fast = ref
                MatMul.reference(w, x, nTokens: n, &ref)
                x.withUnsafeBufferPointer { xb in
                    fast.withUnsafeMutableBufferPointer {
                        MatMul.multiplyUnquantizedActivations(w, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool)
                    }
                }
                let scale = ref.map { abs($0) }.max() ?? 1
                for i in ref.indices { XCTAssertEqual(fast[i], ref[i], accuracy: 1e-5 * max(scale, 1) * 10, "\(type.name) n=\(n) i=\(i)") }
            }
        }
    }
}
