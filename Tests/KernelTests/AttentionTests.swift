import XCTest
@testable import Kernels

/// Online-softmax attention (AVX2 and portable) against a naive two-pass softmax in Double.
final class AttentionTests: XCTestCase {
    func testMatchesNaiveSoftmax() throws {
        for (hs, nHead, nKV) in [(64, 9, 3), (128, 4, 2), (24, 2, 1)] {
            let bs = 16, blocks = 6, kvDim = nKV * hs
            let storage = KVCacheStorage(layers: 2, kvDim: kvDim, blockSize: bs, blockCount: blocks)
            var rng = SplitMix(UInt64(hs))
            for l in 0..<2 {
                for b in 0..<blocks {
                    for s in 0..<bs {
                        let k = storage.key(layer: l, block: b, slot: s), v = storage.value(layer: l, block: b, slot: s)
                        for i in 0..<kvDim { k[i] = Float(rng.unit() * 2 - 1); v[i] = Float(rng.unit() * 2 - 1) }
                    }
                }
            }
            let table: [Int32] = [3, 0, 5, 1, 4, 2]  // a shuffled block table
            let q = (0..<nHead * hs).map { _ in Float(rng.unit() * 4 - 2) }
            let scale = 1 / Float(hs).squareRoot()
            for (pos, window) in [(0, nil), (5, nil), (15, nil), (16, nil), (37, nil), (95, nil), (60, 20)] as [(Int, Int?)] {
                var fast = [Float](repeating: 0, count: nHead * hs), port = fast
                table.withUnsafeBufferPointer { t in
                    Attention.attend(q: q, position: pos, window: window, blockTable: t.baseAddress!, storage: storage, layer: 1,
                                     nHead: nHead, nKVHead: nKV, headSize: hs, scale: scale, out: &fast)
                    Attention.portable(q: q, first: window.map { max(0, pos - $0 + 1) } ?? 0, last: pos, blockTable: t.baseAddress!,
                                       keys: storage.key(layer: 1, block: 0, slot: 0), values: storage.value(layer: 1, block: 0, slot: 0),
                                       blockSize: bs, kvDim: kvDim, nHead: nHead, nKVHead: nKV, headSize: hs, scale: scale, out: &port)
                }
                let first = window.map { max(0, pos - $0 + 1) } ?? 0
                for h in 0..<nHead {
                    let kvh = h / (nHead / nKV)
                    var s = [Double]()
                    for p in first...pos {
                        let k = storage.key(layer: 1, block: Int(table[p / bs]), slot: p % bs) + kvh * hs
                        var d = 0.0
                        for i in 0..<hs { d += Double(q[h * hs + i]) * Double(k[i]) }
                        s.append(d * Double(scale))
                    }
                    let m = s.max()!
                    let e = s.map { Foundation.exp($0 - m) }
                    let z = e.reduce(0, +)
                    for i in 0..<hs {
                        var o = 0.0
                        for (j, p) in (first...pos).enumerated() {
                            o += e[j] / z * Double(storage.value(layer: 1, block: Int(table[p / bs]), slot: p % bs)[kvh * hs + i])
                        }
                        XCTAssertEqual(Double(fast[h * hs + i]), o, accuracy: 1e-5, "hs \(hs) pos \(pos) h \(h) i \(i)")
                        XCTAssertEqual(Double(port[h * hs + i]), o, accuracy: 1e-5, "portable hs \(hs) pos \(pos) h \(h) i \(i)")
                    }
                }
            }
        }
    }

    func testExp8() {
        for x in stride(from: -80.0 as Float, through: 80, by: 0.37) {
            let e = VectorOps.exp8(SIMD8(repeating: x))[0]
            XCTAssertEqual(e, expf(x), accuracy: expf(x) * 1e-6)
        }
    }
}
