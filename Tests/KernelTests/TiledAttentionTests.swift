import XCTest
@testable import Kernels
#if arch(x86_64)
import KernelsAVX2
import KernelsAVX512
#endif

/// Attention over whole batches (`Attention.attend(runs:…)`, tiled on AVX-512): against a
/// two-pass softmax in Double, and the same token's output bit for bit equal however
/// the batch is cut into runs (a long prompt in one chunk, in several, or token by token).
final class TiledAttentionTests: XCTestCase {
    struct Shape { let hs, nHead, nKV, bs: Int }

    /// Every backend this CPU can run.
    static var backends: [Attention.TileBackend] {
        var b: [Attention.TileBackend] = [.portable]
        if CPUFeatures.hasAVX2 { b.append(.avx2) }
        if CPUFeatures.hasAVX512VNNI { b += [.avx512, .avx512Int16] }
        if CPUFeatures.hasAVX512BF16 { b.append(.avx512BF16) }
        return b
    }

    /// How far a backend's output element may be from the Double reference, whose weighted
    /// magnitude Σ w·|v| is `magnitude`: f32 sums within 1e-5; bf16 value sums (an f16 cache on
    /// `avx512BF16`) round each weight and value to 8 significant bits (relative error ≤ 2⁻⁸
    /// each), so each product is within 2⁻⁷ (plus 2⁻¹⁶) of its own size. That backend's int16
    /// scores move these fixtures' logits by ~1e-4 (2⁻¹⁶ of the norms a dimension,
    /// Int16ScoresTests), a relative change of the weights well inside that bound; with f32 sums
    /// (`avx512Int16`) they are allowed 2⁻¹⁰ of the magnitude, and its int16 value sums the bound
    /// of their rounding, `int16Sums` (`int16SumsBound`).
    static func tolerance(_ b: Attention.TileBackend, _ type: KVCacheType, magnitude: Double, int16Sums: Double = 0) -> Double {
        guard type == .f16 else { return 1e-5 }
        return b == .avx512BF16 ? 1e-5 + 0.00785 * magnitude : b == .avx512Int16 ? 1e-5 + magnitude / 1024 + int16Sums : 1e-5
    }

    /// How far `Int16Values`' rounding can move an output element: in each chunk of 32 slots
    /// (aligned to absolute positions) half a step of each slot's values (2⁻¹⁴ of its largest
    /// magnitude M) and half a step of each weight (2⁻¹⁴ of the chunk's largest w·M), for a row
    /// whose normalised weights are w at `positions`, slotMax their M; a tenth more for the
    /// weights' own difference (int16 scores). A slot dropped or a pair's slots swapped is far
    /// outside it; a subtler error (truncating, a step a unit off) hides under the scores' 2⁻¹⁰
    /// allowance beside it, and `Int16ValuesTests` catches those (bit for bit with a scalar model).
    static func int16SumsBound(_ positions: [Int], _ w: [Double], _ slotMax: [Double]) -> Double {
        var chunks = [Int: (n: Double, top: Double, sum: Double)]()
        for (k, p) in positions.enumerated() {
            let x = w[k] * slotMax[k], c = chunks[p / 32] ?? (0, 0, 0)
            chunks[p / 32] = (c.n + 1, max(c.top, x), c.sum + x)
        }
        return chunks.values.reduce(0) { $0 + $1.n * $1.top + $1.sum } * 0.5 / 8190 * 1.1
    }

    func testRunsMatchNaiveSoftmax() {
        for type in KVCacheType.allCases {
            for s in [Shape(hs: 128, nHead: 12, nKV: 2, bs: 16), Shape(hs: 64, nHead: 9, nKV: 3, bs: 32), Shape(hs: 256, nHead: 4, nKV: 1, bs: 16),
                      Shape(hs: 48, nHead: 4, nKV: 4, bs: 16)] {
                for window in [nil, 21] { check(type, s, window: window) }
            }
        }
    }

    /// bf16 and int16 value sums are for quantized models: a float model keeps f32 sums on every CPU.
    func testFloatModelsKeepF32Sums() {
        XCTAssertNotEqual(Attention.backend(floatWeights: true), .avx512BF16)
        XCTAssertNotEqual(Attention.backend(floatWeights: true), .avx512Int16)
        XCTAssertEqual(Attention.backend(floatWeights: false), Attention.bestBackend)
        if [.avx512BF16, .avx512Int16].contains(Attention.bestBackend) {
            XCTAssertEqual(Attention.backend(floatWeights: true), .avx512)
        }
        // AVX-512 always scores quantized models' attention in int16 unless told otherwise; bf16
        // sums only where the CPU has them.
        if MatMul.defaultBackend == .avx512 && getenv("JETON_BF16") == nil {
            XCTAssertTrue([.avx512BF16, .avx512Int16].contains(Attention.bestBackend), "\(Attention.bestBackend)")
            if !CPUFeatures.hasAVX512BF16 { XCTAssertEqual(Attention.bestBackend, .avx512Int16) }
        }
    }

    /// The choice for other CPUs and settings: bf16 sums on AVX-512 BF16 but not on Intel unless
    /// `JETON_BF16=1`; int16 scores on every AVX-512 CPU unless `JETON_BF16=0`; this CPU's as
    /// `bestBackend` made it.
    func testBackendChoice() {
        func pick(_ k: MatMul.Backend, bf16: Bool, _ vendor: String, _ setting: String?) -> Attention.TileBackend {
            Attention.tileBackend(kernels: k, avx512: true, avx2: true, bf16: bf16, vendor: vendor, setting: setting)
        }
        XCTAssertEqual(pick(.avx512, bf16: true, "AuthenticAMD", nil), .avx512BF16)
        XCTAssertEqual(pick(.avx512, bf16: true, "GenuineIntel", nil), .avx512Int16)
        XCTAssertEqual(pick(.avx512, bf16: true, "GenuineIntel", "1"), .avx512BF16)
        XCTAssertEqual(pick(.avx512, bf16: true, "AuthenticAMD", "0"), .avx512)
        XCTAssertEqual(pick(.avx512, bf16: true, "GenuineIntel", "0"), .avx512)
        XCTAssertEqual(pick(.avx512, bf16: false, "GenuineIntel", "1"), .avx512Int16)
        XCTAssertEqual(pick(.avx512, bf16: false, "AuthenticAMD", nil), .avx512Int16)
        XCTAssertEqual(pick(.avx512, bf16: true, "AuthenticAMD", ""), .avx512BF16)    // unknown: the default
        XCTAssertEqual(pick(.avx512, bf16: true, "GenuineIntel", "false"), .avx512Int16)
        XCTAssertEqual(pick(.avx2, bf16: true, "AuthenticAMD", "1"), .avx2)
        XCTAssertEqual(pick(.portable, bf16: true, "AuthenticAMD", nil), .portable)
        XCTAssertEqual(pick(.float, bf16: true, "AuthenticAMD", nil), .avx512)
        XCTAssertEqual(Attention.tileBackend(kernels: .float, avx512: false, avx2: true, bf16: false, vendor: "", setting: nil), .avx2)
        let here = Attention.tileBackend(kernels: MatMul.defaultBackend, avx512: CPUFeatures.hasAVX512VNNI, avx2: CPUFeatures.hasAVX2,
                                         bf16: CPUFeatures.hasAVX512BF16, vendor: CPUFeatures.vendor,
                                         setting: getenv("JETON_BF16").map { String(cString: $0) })
        XCTAssertEqual(Attention.bestBackend, here)
    }

    /// The plan `attend` follows and the start-up log prints: the 16-bit arithmetic only over an f16
    /// cache on the two 16-bit backends, and nothing where a head or block size sends attention
    /// token by token (the log once said "scores in int16" there too).
    func testPlanSaysWhatAttendRuns() throws {
        // The plans below ask for int16 scores themselves; the int16 sums follow JETON_INT16_SUMS (on by default).
        let sums = Attention.int16Sums, summed = sums ? ["values summed in int16"] : []
        func plan(_ b: Attention.TileBackend, _ hs: Int = 64, _ bs: Int = 16, f16: Bool = true,
                  int16Scores: Bool = true) -> Attention.Plan {
            Attention.plan(backend: b, headSize: hs, blockSize: bs, f16: f16, int16Scores: int16Scores)
        }
        func said(_ b: Attention.TileBackend, _ hs: Int = 64, _ bs: Int = 16, f16: Bool = true) -> [String] {
            plan(b, hs, bs, f16: f16).words
        }
        #if arch(x86_64)
        XCTAssertEqual(plan(.avx512Int16), Attention.Plan(kernel: .avx512, int16Scores: true, bf16Sums: false, int16Sums: sums))
        XCTAssertEqual(plan(.avx512BF16), Attention.Plan(kernel: .avx512, int16Scores: true, bf16Sums: true, int16Sums: false))
        // f32 scores asked for: f32 sums on avx512Int16, bf16 sums still on avx512BF16.
        XCTAssertEqual(plan(.avx512Int16, int16Scores: false), Attention.Plan(kernel: .avx512, int16Scores: false, bf16Sums: false, int16Sums: false))
        XCTAssertEqual(plan(.avx512BF16, int16Scores: false), Attention.Plan(kernel: .avx512, int16Scores: false, bf16Sums: true, int16Sums: false))
        // An f32 cache: the tiles in f32 throughout.
        for b in [Attention.TileBackend.avx512Int16, .avx512BF16, .avx512] {
            XCTAssertEqual(plan(b, f16: false), Attention.Plan(kernel: .avx512, int16Scores: false, bf16Sums: false, int16Sums: false), "\(b)")
        }
        XCTAssertEqual(plan(.avx2).kernel, .avx2)
        XCTAssertEqual(plan(.avx2, 72).kernel, .avx2)          // multiples of 8 there
        XCTAssertEqual(plan(.avx2, 68).kernel, .tokenByToken)
        #endif
        XCTAssertEqual(plan(.avx512Int16, 72).kernel, .tokenByToken)
        XCTAssertEqual(plan(.portable).kernel, .tokenByToken)
        #if arch(x86_64)
        XCTAssertEqual(said(.avx512Int16), ["scores in int16"] + summed)
        XCTAssertEqual(said(.avx512BF16), ["scores in int16", "values summed in bf16"])
        XCTAssertEqual(said(.avx512Int16, 256), ["scores in int16"] + summed)
        #endif
        XCTAssertEqual(said(.avx512Int16, f16: false), [])
        XCTAssertEqual(said(.avx512BF16, f16: false), [])
        XCTAssertEqual(said(.avx512Int16, 72), [])     // not a multiple of 16: token by token
        XCTAssertEqual(said(.avx512BF16, 576), [])     // wider than the tiles take
        XCTAssertEqual(said(.avx512Int16, 64, 8), [])  // blocks the tiles do not take
        for b in [Attention.TileBackend.avx512, .avx2, .portable] { XCTAssertEqual(said(b), [], "\(b)") }
    }

    /// `avx512Int16` scores in int16 over an f16 cache and sums its values in int16 too (its outputs
    /// differ from `avx512`'s and from the kernel's with f32 sums, all near the reference:
    /// testRunsMatchNaiveSoftmax); over an f32 cache, and with `JETON_INT16_SCORES=0`, it is
    /// `avx512` bit for bit.
    func testInt16BackendScoresInInt16OverAnF16Cache() throws {
        guard Self.backends.contains(.avx512Int16) else { throw XCTSkip("no AVX-512 VNNI") }
        for type in KVCacheType.allCases {
            let f = Fixture(type, Shape(hs: 128, nHead: 12, nKV: 2, bs: 16), positions: 70, seed: 3)
            let a = f.run([(0, 70)], backend: .avx512Int16), b = f.run([(0, 70)], backend: .avx512)
            if type == .f16 { XCTAssertNotEqual(a, b) } else { XCTAssertEqual(a, b) }
            XCTAssertEqual(f.run([(0, 70)], backend: .avx512Int16, int16Scores: false), b)
            if Self.backends.contains(.avx512BF16) && type == .f16 {
                XCTAssertNotEqual(a, f.run([(0, 70)], backend: .avx512BF16), "bf16 sums are not int16 sums")
            }
            #if arch(x86_64)
            if type == .f16 && Attention.int16Sums {  // unless JETON_INT16_SUMS=0
                let group = 6, qDim = 12 * 128
                let first16 = (0..<16).flatMap { a[$0 * qDim..<$0 * qDim + group * 128] }
                XCTAssertEqual(f.direct(int16Scores: true, int16Sums: true), first16)
                XCTAssertNotEqual(f.direct(int16Scores: true, int16Sums: false), first16, "f32 sums are not int16 sums")
            }
            #endif
        }
    }

    /// The avx512BF16 backend scores in int16 over an f16 cache (its outputs differ from the same
    /// backend's with f32 scores, both near the reference: testRunsMatchNaiveSoftmax), and not
    /// over an f32 cache, which asks for full precision (the same bits either way).
    func testBF16BackendScoresInInt16OverAnF16Cache() throws {
        guard Self.backends.contains(.avx512BF16) else { throw XCTSkip("no AVX-512 BF16") }
        for type in KVCacheType.allCases {
            let f = Fixture(type, Shape(hs: 128, nHead: 12, nKV: 2, bs: 16), positions: 70, seed: 3)
            let a = f.run([(0, 70)], backend: .avx512BF16), b = f.run([(0, 70)], backend: .avx512BF16, int16Scores: false)
            if type == .f16 { XCTAssertNotEqual(a, b) } else { XCTAssertEqual(a, b) }
            #if arch(x86_64)
            // `attend` sends an f32 cache to the f32 kernel; the bf16 entry point, called with one
            // directly, must not read its f32 keys as f16 either.
            if type == .f32 { XCTAssertEqual(f.direct(int16Scores: true), f.direct(int16Scores: false)) }
            #endif
        }
    }

    /// Groups of 6, 3 and 1 heads, with and without a window: rows share a pass with other heads'
    /// or other tokens' rows (whose masks differ), and the bits stay each row's own.
    func testOutputDoesNotDependOnHowTheBatchIsCut() {
        for type in KVCacheType.allCases {
            for s in [Shape(hs: 128, nHead: 12, nKV: 2, bs: 16), Shape(hs: 64, nHead: 9, nKV: 3, bs: 32),
                      Shape(hs: 128, nHead: 4, nKV: 4, bs: 16)] {
                let f = Fixture(type, s, positions: 140, seed: 7)
                for window in [nil, 21] {
                    for (b, int16) in Self.backends.map({ ($0, true) }) + (Self.backends.contains(.avx512BF16) ? [(.avx512BF16, false)] : []) {
                        let whole = f.run([(0, 140)], window: window, backend: b, int16Scores: int16)
                        let pieces = f.run([(0, 5), (5, 16), (21, 100), (121, 19)], window: window, backend: b, int16Scores: int16)
                        let single = f.run((0..<140).map { ($0, 1) }, window: window, backend: b, int16Scores: int16)
                        let mismatch = (0..<whole.count).first { whole[$0] != pieces[$0] || whole[$0] != single[$0] }
                        XCTAssertNil(mismatch, "\(type) \(b) group \(s.nHead / s.nKV) window \(String(describing: window)): "
                                     + "element \(mismatch ?? 0) differs between one run, pieces and token by token")
                    }
                }
            }
        }
    }

    /// `Int16Values` over slots of very different sizes side by side in a chunk: all-zero slots (no
    /// step), slots a thousand times the others and a thousandth of them (their weights round to
    /// few steps or none), within the rounding bound; the f32 sums as they always are.
    func testInt16SumsOverZeroLargeAndSmallSlots() throws {
        guard Self.backends.contains(.avx512Int16) else { throw XCTSkip("no AVX-512 VNNI") }
        let sizes: [Float] = [0, 1000, 1e-3, 1, 1, 0.5, 1000, 0]
        for s in [Shape(hs: 128, nHead: 12, nKV: 2, bs: 16), Shape(hs: 64, nHead: 4, nKV: 1, bs: 32)] {
            for window in [nil, 21] {
                check(.f16, s, window: window, backends: [.avx512Int16]) { sizes[$0 % sizes.count] }
            }
        }
    }

    /// The reference is computed once and each backend compared with it.
    private func check(_ type: KVCacheType, _ s: Shape, window: Int?, backends: [Attention.TileBackend] = backends,
                       valueScale: ((Int) -> Float)? = nil) {
        let f = Fixture(type, s, positions: 66, seed: UInt64(s.hs + (window ?? 0)), valueScale: valueScale)
        // Two sequences sharing the storage: one prefilled from 0, one continuing at 45.
        let spans = [(0, 19), (45, 21)]
        // avx512BF16 also with f32 scores (JETON_INT16_SCORES=0), tolerated as the same backend.
        var outs = backends.map { ($0, f.run(spans, window: window, backend: $0)) }
        if backends.contains(.avx512BF16) {
            outs.append((.avx512BF16, f.run(spans, window: window, backend: .avx512BF16, int16Scores: false)))
        }
        let keys = (0..<66).map { f.key($0) }, values = (0..<66).map { f.value($0) }
        var row = 0
        // Σ (error / magnitude)² and count per backend: bf16 rounding errors are independent and
        // average out, so their RMS stays well inside the worst-case bound (a dropped slot or a
        // biased rounding would not).
        var squares = [Int: (Attention.TileBackend, Double, Int)]()
        defer {
            for (_, (backend, sum, n)) in squares where backend == .avx512BF16 && type == .f16 {
                let rms = (sum / Double(max(n, 1))).squareRoot()
                XCTAssertLessThan(rms, 1.0 / 256, "\(backend) hs \(s.hs) window \(String(describing: window)): RMS relative error \(rms)")
            }
        }
        for (start, count) in spans {
            for i in 0..<count {
                let pos = start + i, first = window.map { max(0, pos - $0 + 1) } ?? 0
                for h in 0..<s.nHead {
                    let kvh = h / (s.nHead / s.nKV)
                    let qh = Array(f.q[(row * s.nHead + h) * s.hs..<(row * s.nHead + h + 1) * s.hs])
                    var sc = [Double]()
                    for p in first...pos {
                        let k = keys[p]
                        var d = 0.0
                        for j in 0..<s.hs { d += Double(qh[j]) * Double(k[kvh * s.hs + j]) }
                        sc.append(d * Double(f.scale))
                    }
                    let m = sc.max()!, e = sc.map { Foundation.exp($0 - m) }, z = e.reduce(0, +)
                    let slotMax = (first...pos).map { p in values[p][kvh * s.hs..<(kvh + 1) * s.hs].reduce(0) { max($0, Double(abs($1))) } }
                    let int16Sums = Self.int16SumsBound(Array(first...pos), e.map { $0 / z }, slotMax)
                    for j in 0..<s.hs {
                        var o = 0.0, magnitude = 0.0
                        for (n, p) in (first...pos).enumerated() {
                            let v = Double(values[p][kvh * s.hs + j])
                            o += e[n] / z * v
                            magnitude += e[n] / z * abs(v)
                        }
                        for (index, (backend, out)) in outs.enumerated() {
                            let got = Double(out[(row * s.nHead + h) * s.hs + j])
                            let r = magnitude > 0 ? (got - o) / magnitude : 0, acc = squares[index] ?? (backend, 0, 0)
                            squares[index] = (backend, acc.1 + r * r, acc.2 + 1)
                            if abs(got - o) > Self.tolerance(backend, type, magnitude: magnitude, int16Sums: int16Sums) {
                                XCTFail("\(backend) \(type) hs \(s.hs) window \(String(describing: window)) pos \(pos) head \(h) [\(j)]: \(got) vs \(o)")
                                return
                            }
                        }
                    }
                }
                row += 1
            }
        }
    }

    /// A cache of `positions` slots through a shuffled block table (unwritten slots hold NaN
    /// bit patterns, which must never reach a result) and random queries for each position.
    final class Fixture {
        let s: Shape, storage: KVCacheStorage, table: [Int32], q: [Float], scale: Float
        let pool = ThreadPool(threads: 2)

        /// `valueScale`: slot p's values times valueScale(p) (random in [-1, 1] otherwise).
        init(_ type: KVCacheType, _ s: Shape, positions: Int, seed: UInt64, valueScale: ((Int) -> Float)? = nil) {
            self.s = s
            let blocks = (positions + s.bs - 1) / s.bs + 1, kvDim = s.nKV * s.hs
            storage = KVCacheStorage(layers: 1, kvDim: kvDim, blockSize: s.bs, blockCount: blocks, type: type)
            storage.keys.initializeMemory(as: UInt8.self, repeating: 0xFF, count: storage.bytes / 2)
            storage.values.initializeMemory(as: UInt8.self, repeating: 0xFF, count: storage.bytes / 2)
            table = (0..<Int32(blocks)).reversed().map { $0 }
            var rng = SplitMix(seed)
            for p in 0..<positions {
                let k = (0..<kvDim).map { _ in Float(rng.unit() * 2 - 1) }
                let v = (0..<kvDim).map { _ in Float(rng.unit() * 2 - 1) * (valueScale?(p) ?? 1) }
                storage.store(layer: 0, block: Int(table[p / s.bs]), slot: p % s.bs, key: k, value: v)
            }
            q = (0..<positions * s.nHead * s.hs).map { _ in Float(rng.unit() * 4 - 2) }
            scale = 1 / Float(s.hs).squareRoot()
        }

        #if arch(x86_64)
        /// Tokens 0..<16 of kv head 0 through `AVX512Attention.attendTileBF16` itself, or with
        /// `int16Sums` through `attendTile` with these flags.
        func direct(int16Scores: Bool, int16Sums: Bool? = nil) -> [Float] {
            let group = s.nHead / s.nKV, rows = 16 * group, qDim = s.nHead * s.hs
            var out = [Float](repeating: .nan, count: 16 * qDim)
            var scratch = [Float](repeating: 0, count: AVX512Attention.scratchCount(headSize: s.hs, rows: rows))
            q.withUnsafeBufferPointer { qp in
                out.withUnsafeMutableBufferPointer { op in
                    let t = AttentionTile(q: qp.baseAddress!, out: op.baseAddress!, rowStride: qDim, tokens: 16, p0: 0, window: 0,
                                          kvHead: 0, group: group, headSize: s.hs)
                    if let int16Sums {
                        AVX512Attention.attendTile(t, blockTable: table, keys: storage.keys(layer: 0), values: storage.values(layer: 0),
                                                   f16: storage.type == .f16, blockSize: s.bs, kvDim: storage.kvDim, scale: scale,
                                                   int16Scores: int16Scores, int16Sums: int16Sums, scratch: &scratch)
                    } else {
                        AVX512Attention.attendTileBF16(t, blockTable: table, keys: storage.keys(layer: 0), values: storage.values(layer: 0),
                                                       f16: storage.type == .f16, blockSize: s.bs, kvDim: storage.kvDim, scale: scale,
                                                       int16Scores: int16Scores, scratch: &scratch)
                    }
                }
            }
            var rowsOut: [Float] = []
            for i in 0..<16 { rowsOut += out[i * qDim..<i * qDim + group * s.hs] }  // heads 0..<group
            return rowsOut
        }
        #endif

        func key(_ p: Int) -> [Float] {
            var out = [Float](repeating: 0, count: storage.kvDim)
            storage.readKey(layer: 0, block: Int(table[p / s.bs]), slot: p % s.bs, into: &out)
            return out
        }

        func value(_ p: Int) -> [Float] {
            var out = [Float](repeating: 0, count: storage.kvDim)
            storage.readValue(layer: 0, block: Int(table[p / s.bs]), slot: p % s.bs, into: &out)
            return out
        }

        /// Attention of the tokens at positions start..<start+count of each span, as one batch
        /// (query rows taken in order from q); returns the outputs in batch order.
        func run(_ spans: [(Int, Int)], window: Int? = nil, backend: Attention.TileBackend, int16Scores: Bool = true) -> [Float] {
            let qDim = s.nHead * s.hs
            var runs: [AttentionRun] = [], row = 0
            for (start, count) in spans {
                runs.append(AttentionRun(row: row, count: count, startPosition: start, tableOffset: 0))
                row += count
            }
            var out = [Float](repeating: .nan, count: row * qDim)
            q.withUnsafeBufferPointer { qp in
                table.withUnsafeBufferPointer { tp in
                    out.withUnsafeMutableBufferPointer { op in
                        Attention.attend(runs: runs, tables: tp.baseAddress!, q: qp.baseAddress!, out: op.baseAddress!, window: window,
                                         storage: storage, layer: 0, nHead: s.nHead, nKVHead: s.nKV, headSize: s.hs, scale: scale,
                                         pool: pool, backend: backend, int16Scores: int16Scores)
                    }
                }
            }
            return out
        }
    }
}
