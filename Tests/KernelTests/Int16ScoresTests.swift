#if arch(x86_64)
import XCTest
@testable import Kernels
import KernelsAVX2
@testable import KernelsAVX512

/// The AVX-512 attention's 16-bit integer scores (`Int16Scores`) against Double dot products:
/// within the bound their norm scaling proves, no overflow at the extremes, and a large logit of
/// an outlier-dominated query and key (Qwen2's biased key dimensions) moved less than llama.cpp's
/// f16 query moves it.
final class Int16ScoresTests: XCTestCase {
    /// Scores of `qs` (rows) against `ks` (up to 32 keys, rounded to f16 as the cache holds them),
    /// as the kernel computes them.
    func kernelScores(_ qs: [[Float]], _ ks: [[Float]], hs: Int, scale: Float) -> [[Float]] {
        let rows = qs.count, cs = AVX512Attention.chunk
        // Keys as the cache holds them: f16, [hs] rows of 32 slots.
        var q = qs.flatMap { $0 }, kt = [UInt16](repeating: 0, count: hs * cs)
        for (s, k) in ks.enumerated() { for d in 0..<hs { kt[d * cs + s] = Float16(k[d]).bitPattern } }
        var qi = [Int32](repeating: 0, count: rows * hs / 2), qsc = [Float](repeating: 0, count: rows)
        var ki = [Int32](repeating: 0, count: hs / 2 * cs), ksc = [Float](repeating: 0, count: cs)
        var pb = [Float](repeating: 0, count: 6 * cs), out = [Float](repeating: 0, count: rows * hs)
        var result = [[Float]]()
        q.withUnsafeMutableBufferPointer { qp in
            out.withUnsafeMutableBufferPointer { op in
                let t = AttentionTile(q: qp.baseAddress!, out: op.baseAddress!, rowStride: hs, tokens: rows, p0: 0, window: 0,
                                      kvHead: 0, group: 1, headSize: hs)
                Int16Scores.queries(t, rows, &qi, &qsc)
            }
        }
        kt.withUnsafeBytes { kp in
            for h in 0..<2 { Int16Scores.keys(kp.baseAddress! + 32 * h, cs * 2, hs, h, scale, &ki, &ksc) }
        }
        var r0 = 0
        while r0 < rows {
            let nr = min(6, rows - r0)
            Int16Scores.scores(ki, ksc, qi, qsc, hs, r0, nr, &pb)
            for k in 0..<nr { result.append(Array(pb[cs * k..<cs * k + ks.count])) }
            r0 += 6
        }
        return result
    }

    /// A key as the f16 cache holds it: the references' keys.
    func cached(_ k: [Float]) -> [Float] { k.map { Float(Float16($0)) } }

    func norm(_ x: [Float]) -> Double { x.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot() }

    /// Each score within √hs·‖q‖·‖k‖/32767 (half a step per element, both vectors) plus the
    /// float conversion's 2⁻²² of ‖q‖·‖k‖, times the scale: flat, outlier-dominated, tiny and
    /// huge vectors, and a zero query and key (scores exactly 0). Rounding errors of both vectors
    /// (uniform in ±½ step) give an RMS of √(2/12) ≈ 0.41 of ‖q‖·‖k‖/32767: under 0.6 here, where
    /// truncating, or a step twice as coarse, would give ~0.8.
    func testScoresStayWithinTheNormBound() throws {
        guard CPUFeatures.hasAVX512VNNI else { throw XCTSkip("no AVX-512 VNNI") }
        var rng = SplitMix(11)
        func vector(_ hs: Int, _ kind: Int) -> [Float] {
            var v = (0..<hs).map { _ in Float(rng.unit() * 2 - 1) }
            switch kind {
            case 1: v[Int(rng.unit() * Double(hs))] = Float(rng.unit() > 0.5 ? 150 : -150)  // one dominant dimension
            case 2: v = v.map { $0 * 1e-6 }
            case 3: v = v.map { $0 * 3e4 }
            case 4: v = [Float](repeating: 0, count: hs)
            default: break
            }
            return v
        }
        var sum = 0.0, count = 0
        defer { XCTAssertLessThan((sum / Double(max(count, 1))).squareRoot(), 0.6, "RMS error in steps of ‖q‖·‖k‖/32767") }
        for hs in [48, 64, 128, 256, 512] {
            let scale = 1 / Float(hs).squareRoot()
            let qs = (0..<11).map { vector(hs, $0 % 5) }, ks = (0..<32).map { cached(vector(hs, ($0 + 2) % 5)) }
            let got = kernelScores(qs, ks, hs: hs, scale: scale)
            for (r, q) in qs.enumerated() {
                for (s, k) in ks.enumerated() {
                    var exact = 0.0
                    for d in 0..<hs { exact += Double(q[d]) * Double(k[d]) }
                    let nn = norm(q) * norm(k)
                    let bound = (Double(hs).squareRoot() / 32767 + 0x1p-22) * nn * Double(scale)
                    let err = abs(Double(got[r][s]) - exact * Double(scale))
                    XCTAssertLessThanOrEqual(err, bound, "hs \(hs) row \(r) slot \(s): \(got[r][s]) against \(exact * Double(scale))")
                    if nn == 0 { XCTAssertEqual(got[r][s], 0) } else if nn > 1e-6 {
                        let steps = err / (nn / 32767 * Double(scale))
                        sum += steps * steps
                        count += 1
                    }
                }
            }
        }
    }

    /// A query that is NaN, infinite, too large to square in f32 or so small that its square
    /// underflows: the first three score 0 against every key (no NaN reaches the softmax), the
    /// last keeps its sign and, within 2%, its size (the int16 conversion saturates rather than wraps).
    func testExtremeQueries() throws {
        guard CPUFeatures.hasAVX512VNNI else { throw XCTSkip("no AVX-512 VNNI") }
        let hs = 64
        var nan = [Float](repeating: 1, count: hs), inf = nan, huge = nan, tiny = [Float](repeating: 0, count: hs)
        nan[3] = .nan
        inf[5] = .infinity
        huge = huge.map { $0 * 3e19 }
        tiny[7] = 1.07e-22
        let key = (0..<hs).map { Float($0 % 7) - 3 }, keys = [key, key.map { -$0 }]
        let got = kernelScores([nan, inf, huge, tiny], keys, hs: hs, scale: 1)
        for r in 0..<3 { XCTAssertEqual(got[r], [0, 0], "row \(r)") }
        let exact = Double(tiny[7]) * Double(Float(Float16(key[7])))
        XCTAssertEqual(Double(got[3][0]), exact, accuracy: abs(exact) * 0.02)  // 33,114 steps saturated to 32,767
        XCTAssertEqual(Double(got[3][1]), -exact, accuracy: abs(exact) * 0.02)
    }

    /// The extremes of the int16 and Int32 ranges: every element equal (the largest sum of a
    /// head: 512·1448²) and a single nonzero dimension (one product of 32767²), signs mixed.
    func testNoOverflowAtTheExtremes() throws {
        guard CPUFeatures.hasAVX512VNNI else { throw XCTSkip("no AVX-512 VNNI") }
        for hs in [64, 512] {
            let ones = [Float](repeating: 1, count: hs), minus = ones.map { -$0 }
            var spike = [Float](repeating: 0, count: hs)
            spike[hs - 1] = 7
            let got = kernelScores([ones, minus, spike], [ones, minus, spike], hs: hs, scale: 1)
            let exact: [[Double]] = [[Double(hs), -Double(hs), 7], [-Double(hs), Double(hs), -7], [7, -7, 49]]
            let norms = [Double(hs).squareRoot(), Double(hs).squareRoot(), 7]
            for r in 0..<3 {
                for s in 0..<3 {
                    // The norm bound: a wrapped sum would be off by 2³² steps, or flip its sign.
                    let bound = (Double(hs).squareRoot() / 32767 + 0x1p-22) * norms[r] * norms[s]
                    XCTAssertEqual(Double(got[r][s]), exact[r][s], accuracy: bound, "hs \(hs) [\(r)][\(s)]")
                }
            }
        }
    }

    /// A Qwen2-like head: one biased dimension dominates both query and key, and the logit is
    /// 26-35. f16 queries (llama.cpp) move such a logit by about 0.01, bf16 by tenths; the kernel's
    /// scores stay within 0.002 of the exact logit on every one of 2,048 such pairs (worst 0.0013;
    /// truncating instead of rounding, or a step twice as coarse: 0.003).
    func testALargeLogitMovesLessThanAnF16Query() throws {
        guard CPUFeatures.hasAVX512VNNI else { throw XCTSkip("no AVX-512 VNNI") }
        let hs = 128, scale = 1 / Float(hs).squareRoot()
        var rng = SplitMix(5)
        var worst = 0.0
        for _ in 0..<4 {
            let qs: [[Float]] = (0..<16).map { _ in
                var v = (0..<hs).map { _ in Float(rng.unit() * 4 - 2) }
                v[17] = Float(19 + rng.unit() * 2)
                return v
            }
            let ks: [[Float]] = (0..<32).map { _ in
                var v = (0..<hs).map { _ in Float(rng.unit() * 2 - 1) }
                v[17] = Float(16 + rng.unit() * 2)
                return cached(v)
            }
            let got = kernelScores(qs, ks, hs: hs, scale: scale)
            for (r, q) in qs.enumerated() {
                for (s, k) in ks.enumerated() {
                    var exact = 0.0
                    for d in 0..<hs { exact += Double(q[d]) * Double(k[d]) }
                    exact *= Double(scale)
                    XCTAssertGreaterThan(exact, 20)
                    worst = max(worst, abs(Double(got[r][s]) - exact))
                }
            }
        }
        XCTAssertLessThan(worst, 0.002, "largest logit error \(worst)")
    }
}
#endif
