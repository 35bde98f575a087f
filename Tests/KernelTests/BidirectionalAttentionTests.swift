import XCTest
@testable import Kernels

/// Encoder attention (both paths) against a Double reference, on spans of odd lengths packed in one batch.
final class BidirectionalAttentionTests: XCTestCase {
    func testBothPathsMatchReference() {
        let heads = 3, hs = 32, dim = heads * hs, ld = 3 * dim
        let lengths = [1, 7, 17, 40, 9]
        var spans: [BidirectionalAttention.Span] = [], total = 0
        for l in lengths { spans.append(.init(start: total, length: l)); total += l }
        var rng = SplitMix(42)
        let qkv = (0..<(total * ld)).map { _ in Float(rng.unit() * 2 - 1) }  // [total, 3·dim]
        let scale = 1 / Float(hs).squareRoot()
        var ref = [Double](repeating: 0, count: total * dim)
        for span in spans {
            for h in 0..<heads {
                for i in 0..<span.length {
                    let qi = (span.start + i) * ld + h * hs
                    var s = (0..<span.length).map { j -> Double in
                        let kj = (span.start + j) * ld + dim + h * hs
                        return (0..<hs).reduce(0.0) { $0 + Double(qkv[qi + $1]) * Double(qkv[kj + $1]) } * Double(scale)
                    }
                    let m = s.max() ?? 0
                    s = s.map { exp($0 - m) }
                    let z = s.reduce(0, +)
                    for j in 0..<span.length {
                        let vj = (span.start + j) * ld + 2 * dim + h * hs
                        for c in 0..<hs { ref[(span.start + i) * dim + h * hs + c] += s[j] / z * Double(qkv[vj + c]) }
                    }
                }
            }
        }
        let pool = ThreadPool(threads: 2)
        var paths = [false]
        if CPUFeatures.hasAVX512VNNI { paths.append(true) }
        for blocked in paths {
            var out = [Float](repeating: .nan, count: total * dim)
            qkv.withUnsafeBufferPointer { q in
                out.withUnsafeMutableBufferPointer { o in
                    BidirectionalAttention.attend(qkv: q.baseAddress!, ld: ld, heads: heads, headSize: hs, spans: spans,
                                                  out: o.baseAddress!, scale: scale, pool: pool, blocked: blocked)
                }
            }
            let worst = zip(out, ref).map { abs(Double($0) - $1) }.max() ?? .infinity
            XCTAssertLessThan(worst, 1e-5, "blocked: \(blocked)")
        }
    }
}
