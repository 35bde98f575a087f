import XCTest
@testable import Kernels

/// Online-softmax attention of single tokens (every backend the CPU has, and the portable
/// kernel) against a naive two-pass softmax in Double.
final class AttentionTests: XCTestCase {
    let pool = ThreadPool(threads: 2)

    func testMatchesNaiveSoftmax() throws {
        for type in KVCacheType.allCases {
            for (hs, nHead, nKV) in [(64, 9, 3), (128, 4, 2), (24, 2, 1), (64, 14, 2), (256, 4, 1), (40, 5, 5)] { try check(type, hs, nHead, nKV) }
            // 32-slot blocks, and a cache whose unwritten slots hold NaN bit patterns: slots
            // outside the attended range must not reach the result.
            try check(type, 64, 9, 3, bs: 32, written: 150)
            try check(type, 128, 4, 2, bs: 16, written: 70)
            // The last written slot even (pos 66): bf16 values pair it with the NaN slot after it.
            try check(type, 128, 4, 2, bs: 16, written: 67)
        }
    }

    /// The reference reads the cache back as floats, so f16 storage is compared on the
    /// values actually stored: only the kernels' arithmetic is under test here.
    private func check(_ type: KVCacheType, _ hs: Int, _ nHead: Int, _ nKV: Int, bs: Int = 16, written: Int? = nil) throws {
            let blocks = 6, kvDim = nKV * hs
            let storage = KVCacheStorage(layers: 2, kvDim: kvDim, blockSize: bs, blockCount: blocks, type: type)
            var rng = SplitMix(UInt64(hs))
            let table: [Int32] = [3, 0, 5, 1, 4, 2]  // a shuffled block table
            if written != nil {
                storage.keys.initializeMemory(as: UInt8.self, repeating: 0xFF, count: storage.bytes / 2)
                storage.values.initializeMemory(as: UInt8.self, repeating: 0xFF, count: storage.bytes / 2)
            }
            for l in 0..<2 {
                for b in 0..<blocks {
                    for s in 0..<bs {
                        // position of (b, s) through the table
                        if let w = written, table.firstIndex(of: Int32(b))! * bs + s >= w { continue }
                        let k = (0..<kvDim).map { _ in Float(rng.unit() * 2 - 1) }, v = (0..<kvDim).map { _ in Float(rng.unit() * 2 - 1) }
                        storage.store(layer: l, block: b, slot: s, key: k, value: v)
                    }
                }
            }
            func key(_ b: Int, _ s: Int) -> [Float] {
                var out = [Float](repeating: 0, count: kvDim)
                storage.readKey(layer: 1, block: b, slot: s, into: &out)
                return out
            }
            func value(_ b: Int, _ s: Int) -> [Float] {
                var out = [Float](repeating: 0, count: kvDim)
                storage.readValue(layer: 1, block: b, slot: s, into: &out)
                return out
            }
            let q = (0..<nHead * hs).map { _ in Float(rng.unit() * 4 - 2) }
            let scale = 1 / Float(hs).squareRoot()
            let cases: [(Int, Int?)] = [(0, nil), (5, nil), (15, nil), (16, nil), (37, nil), (95, nil), (60, 20), (149, 45), (69, 7), (66, nil)]
            for (pos, window) in cases where pos < (written ?? blocks * bs) {
                var port = [Float](repeating: 0, count: nHead * hs)
                var fast: [(Attention.TileBackend, [Float])] = []
                table.withUnsafeBufferPointer { t in
                    for b in TiledAttentionTests.backends {
                        var out = [Float](repeating: 0, count: nHead * hs)
                        Attention.attend(runs: [AttentionRun(row: 0, count: 1, startPosition: pos, tableOffset: 0)], tables: t.baseAddress!,
                                         q: q, out: &out, window: window, storage: storage, layer: 1, nHead: nHead, nKVHead: nKV,
                                         headSize: hs, scale: scale, pool: pool, backend: b)
                        fast.append((b, out))
                    }
                    Attention.portable(q: q, first: window.map { max(0, pos - $0 + 1) } ?? 0, last: pos, blockTable: t.baseAddress!,
                                       keys: storage.keys(layer: 1), values: storage.values(layer: 1), type: type,
                                       blockSize: bs, kvDim: kvDim, nHead: nHead, nKVHead: nKV, headSize: hs, scale: scale, out: &port)
                }
                let first = window.map { max(0, pos - $0 + 1) } ?? 0
                for h in 0..<nHead {
                    let kvh = h / (nHead / nKV)
                    var s = [Double]()
                    for p in first...pos {
                        let k = key(Int(table[p / bs]), p % bs)
                        var d = 0.0
                        for i in 0..<hs { d += Double(q[h * hs + i]) * Double(k[kvh * hs + i]) }
                        s.append(d * Double(scale))
                    }
                    let m = s.max()!
                    let e = s.map { Foundation.exp($0 - m) }
                    let z = e.reduce(0, +)
                    let slotMax = (first...pos).map { p in
                        value(Int(table[p / bs]), p % bs)[kvh * hs..<(kvh + 1) * hs].reduce(0) { max($0, Double(abs($1))) }
                    }
                    let int16Sums = TiledAttentionTests.int16SumsBound(Array(first...pos), e.map { $0 / z }, slotMax)
                    for i in 0..<hs {
                        var o = 0.0, magnitude = 0.0
                        for (j, p) in (first...pos).enumerated() {
                            let v = Double(value(Int(table[p / bs]), p % bs)[kvh * hs + i])
                            o += e[j] / z * v
                            magnitude += e[j] / z * abs(v)
                        }
                        for (b, out) in fast {
                            XCTAssertEqual(Double(out[h * hs + i]), o,
                                           accuracy: TiledAttentionTests.tolerance(b, type, magnitude: magnitude, int16Sums: int16Sums),
                                           "\(b) \(type) hs \(hs) pos \(pos) h \(h) i \(i)")
                        }
                        XCTAssertEqual(Double(port[h * hs + i]), o, accuracy: 1e-5, "portable \(type) hs \(hs) pos \(pos) h \(h) i \(i)")
                    }
                }
            }
    }

    /// f16 storage rounds to nearest even and saturates beyond f16's range (an infinity
    /// would make scores NaN).
    func testHalfStorageRoundsToNearest() {
        let xs: [Float] = [0, -0.0, 1, -2.5, 65504, 70000, 1e-8, 6e-8, 3.0e-5, 0.1, 1.0009765625, 1.00048828125, 1.000732421875,
                           .infinity, -.infinity, 1234.567, -0.333333]
        let storage = KVCacheStorage(layers: 1, kvDim: xs.count, blockSize: 1, blockCount: 1, type: .f16)
        storage.store(layer: 0, block: 0, slot: 0, key: xs, value: xs)
        var back = [Float](repeating: 0, count: xs.count)
        storage.readKey(layer: 0, block: 0, slot: 0, into: &back)
        for (x, y) in zip(xs, back) {
            XCTAssertEqual(y.bitPattern, Float(Float16(min(max(x, -65504), 65504))).bitPattern, "\(x)")
        }
        XCTAssertEqual(back[5], 65504, "saturated")
        XCTAssertEqual(back[14], -65504, "saturated")
        XCTAssertEqual(back[11], 1.0, "a tie rounds to even")
        XCTAssertEqual(back[12], 1.0009765625, "above the tie rounds up")
    }

    func testExp8() {
        for x in stride(from: -80.0 as Float, through: 80, by: 0.37) {
            let e = VectorOps.exp8(SIMD8(repeating: x))[0]
            XCTAssertEqual(e, expf(x), accuracy: expf(x) * 1e-6)
        }
    }

    /// Keys are stored transposed within a block: storing and reading back, and copying a
    /// block, must give every slot's vectors back (as f16 rounds them, for f16).
    func testStoreReadAndCopyBlock() {
        for type in KVCacheType.allCases {
            let kvDim = 24, bs = 16
            let storage = KVCacheStorage(layers: 2, kvDim: kvDim, blockSize: bs, blockCount: 3, type: type)
            func vec(_ l: Int, _ b: Int, _ s: Int, _ v: Bool) -> [Float] {
                (0..<kvDim).map { Float(l * 1000 + b * 100 + s) + Float($0) / 32 + (v ? 0.5 : 0) }
            }
            for l in 0..<2 { for s in 0..<bs { storage.store(layer: l, block: 1, slot: s, key: vec(l, 1, s, false), value: vec(l, 1, s, true)) } }
            storage.copyBlock(from: 1, to: 2)
            for l in 0..<2 {
                for b in [1, 2] {
                    for s in 0..<bs {
                        var k = [Float](repeating: 0, count: kvDim), v = k
                        storage.readKey(layer: l, block: b, slot: s, into: &k)
                        storage.readValue(layer: l, block: b, slot: s, into: &v)
                        let round: (Float) -> Float = type == .f16 ? { Float(Float16($0)) } : { $0 }
                        XCTAssertEqual(k, vec(l, 1, s, false).map(round), "\(type) key l\(l) b\(b) s\(s)")
                        XCTAssertEqual(v, vec(l, 1, s, true).map(round), "\(type) value l\(l) b\(b) s\(s)")
                    }
                }
            }
        }
    }
}
