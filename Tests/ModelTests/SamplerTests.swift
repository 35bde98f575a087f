import XCTest
import Model

final class SamplerTests: XCTestCase {
    /// `keyed`: draw i is keyed to position i (Sampler+Keyed) instead of taken from the stream.
    func sample(_ logits: [Float], _ p: SamplingParameters, times: Int = 1, accept: [Int32] = [], keyed: Bool = false) -> [Int32] {
        var s = Sampler(p)
        for a in accept { s.accept(a) }
        return (0..<times).map { i in
            var l = logits
            return l.withUnsafeMutableBufferPointer { s.sample($0, position: keyed ? i : nil) }
        }
    }

    /// On a vocabulary-sized row, sampled frequencies follow the exact truncated softmax
    /// (computed here naively: sort everything, cut, normalise), and nothing outside the
    /// kept set is ever drawn, for each combination of top-k, top-p and min-p; for draws from
    /// the stream and for draws keyed to positions (the exponential race).
    func testLargeVocabularyMatchesNaiveDistribution() {
        for keyed in [false, true] { largeVocabulary(keyed: keyed) }
    }

    func largeVocabulary(keyed: Bool) {
        var rng = RandomSource(seed: 2026)
        let logits = (0..<6000).map { _ in Float.random(in: -8...4, using: &rng) } + [9, 8.5, 8.5, 8]
        let cases: [SamplingParameters] = [
            SamplingParameters(temperature: 1, seed: 1),
            SamplingParameters(temperature: 0.7, topP: 0.9, seed: 2),
            SamplingParameters(temperature: 1.3, topK: 40, seed: 3),
            SamplingParameters(temperature: 1, topK: 200, topP: 0.5, seed: 4),
            SamplingParameters(temperature: 1, topP: 0.95, minP: 0.05, seed: 5),
        ]
        for p in cases {
            let order = logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
            let m = logits.max()!
            var keep = order.filter { exp(Double(logits[$0] - m) / Double(p.temperature)) >= max(Double(p.minP), 4.25e-18) }
            if p.topK > 0 { keep = Array(keep.prefix(p.topK)) }
            var w = keep.map { exp(Double(logits[$0] - m) / Double(p.temperature)) }
            if p.topP < 1 {
                let total = w.reduce(0, +)
                var acc = 0.0, n = 0
                while n < w.count { acc += w[n] / total; n += 1; if acc >= Double(p.topP) { break } }
                keep = Array(keep.prefix(n)); w = Array(w.prefix(n))
            }
            let total = w.reduce(0, +)
            let expected = Dictionary(uniqueKeysWithValues: zip(keep.map { Int32($0) }, w.map { $0 / total }))
            let draws = 6000
            var counts: [Int32: Int] = [:]
            for t in sample(logits, p, times: draws, keyed: keyed) { counts[t, default: 0] += 1 }
            for (t, _) in counts { XCTAssertNotNil(expected[t], "token \(t) outside the kept set for \(p), keyed \(keyed)") }
            // The four planted top tokens: frequency within 5 standard deviations.
            for t in Int32(6000)..<Int32(6004) {
                let e = expected[t] ?? 0
                let sd = (Double(draws) * e * (1 - e)).squareRoot()
                XCTAssertEqual(Double(counts[t] ?? 0), Double(draws) * e, accuracy: 5 * sd + 1, "token \(t) for \(p), keyed \(keyed)")
            }
        }
    }

    /// Degenerate settings leave only the best token: a temperature whose reciprocal
    /// overflows, min_p 1, an infinite logit; through the top-k and top-p paths too.
    func testDegenerateSettingsGiveTheBestToken() {
        let logits: [Float] = [0.5, 2, 1.9, -1, 1.99]
        let tiny = Float.leastNormalMagnitude / 100  // subnormal: 1/T overflows
        for p in [SamplingParameters(temperature: tiny, topK: 3, seed: 1), SamplingParameters(temperature: tiny, topP: 0.5, seed: 1),
                  SamplingParameters(temperature: tiny, seed: 1), SamplingParameters(temperature: 1, topK: 3, minP: 1, seed: 1),
                  SamplingParameters(temperature: 1, topP: 0.9, minP: 1, seed: 1)] {
            XCTAssertEqual(Set(sample(logits, p, times: 50)), [1], "\(p)")
        }
        XCTAssertEqual(Set(sample([0, .infinity, 3], SamplingParameters(temperature: 1, topK: 2, seed: 1), times: 20)), [1])
    }

    func testGreedyTakesArgmax() {
        XCTAssertEqual(sample([0.1, 3, 2.9, -1], .greedy), [1])
    }

    func testSeedReproducesAndDiffers() {
        let logits: [Float] = (0..<50).map { Float($0 % 7) * 0.3 }
        let p = SamplingParameters(temperature: 1, seed: 1234)
        let a = sample(logits, p, times: 40), b = sample(logits, p, times: 40)
        XCTAssertEqual(a, b)
        var q = p
        q.seed = 99
        XCTAssertNotEqual(a, sample(logits, q, times: 40))
    }

    /// A keyed draw depends on the seed and the position only: not on earlier draws, not on
    /// the sampler instance; another seed or position gives other tokens.
    func testKeyedDrawsDependOnSeedAndPositionOnly() {
        let logits: [Float] = (0..<500).map { Float(($0 * 37) % 11) * 0.4 }
        for p in [SamplingParameters(temperature: 1, seed: 7), SamplingParameters(temperature: 0.8, topK: 30, topP: 0.9, seed: 7)] {
            var fresh = Sampler(p), used = Sampler(p)
            for _ in 0..<5 { var l = logits; _ = l.withUnsafeMutableBufferPointer { used.sample($0) } }
            let a = (0..<60).map { i in var l = logits; return l.withUnsafeMutableBufferPointer { fresh.sample($0, position: i) } }
            let b = (0..<60).reversed().map { i in var l = logits; return l.withUnsafeMutableBufferPointer { used.sample($0, position: i) } }
            XCTAssertEqual(a, Array(b.reversed()))
            XCTAssertGreaterThan(Set(a).count, 5, "positions draw different tokens")
            var q = p
            q.seed = 8
            XCTAssertNotEqual(a, sample(logits, q, times: 60, keyed: true))
        }
    }

    func testTopKRestricts() {
        let logits: [Float] = [5, 4.9, 4.8, 1, 1, 1, 1]
        let out = Set(sample(logits, SamplingParameters(temperature: 5, topK: 2, seed: 7), times: 300))
        XCTAssertEqual(out, [0, 1])
    }

    func testTopPRestricts() {
        // Probabilities ~ [0.5, 0.3, 0.2 ...]: top_p 0.6 keeps the first two.
        let logits: [Float] = [log(0.5), log(0.3), log(0.1), log(0.1)].map(Float.init)
        let out = Set(sample(logits, SamplingParameters(temperature: 1, topP: 0.6, seed: 3), times: 400))
        XCTAssertEqual(out, [0, 1])
    }

    func testMinPRestricts() {
        let logits: [Float] = [log(0.6), log(0.3), log(0.05), log(0.05)].map(Float.init)
        let out = Set(sample(logits, SamplingParameters(temperature: 1, minP: 0.2, seed: 5), times: 400))
        XCTAssertEqual(out, [0, 1])
    }

    func testTemperatureSharpens() {
        let logits: [Float] = [1, 0.5, 0]
        let cold = sample(logits, SamplingParameters(temperature: 0.05, seed: 11), times: 200)
        XCTAssertTrue(cold.allSatisfy { $0 == 0 })
        let hot = Set(sample(logits, SamplingParameters(temperature: 2, seed: 11), times: 200))
        XCTAssertEqual(hot, [0, 1, 2])
    }

    func testLogitBiasForcesAndBans() {
        XCTAssertEqual(sample([3, 0, 0], SamplingParameters(temperature: 0, logitBias: [2: 100])), [2])
        let out = Set(sample([3, 3, 3], SamplingParameters(temperature: 1, logitBias: [0: -100], seed: 1), times: 200))
        XCTAssertFalse(out.contains(0))
    }

    func testPenaltiesLowerSeenTokens() {
        // Token 0 leads by 1; a frequency penalty of 0.6 after two uses puts token 1 ahead.
        XCTAssertEqual(sample([2, 1], SamplingParameters(temperature: 0, frequencyPenalty: 0.6), accept: [0, 0]), [1])
        XCTAssertEqual(sample([2, 1], SamplingParameters(temperature: 0, presencePenalty: 1.5), accept: [0]), [1])
        XCTAssertEqual(sample([2, 1], SamplingParameters(temperature: 0, repetitionPenalty: 2.5), accept: [0]), [1])
        XCTAssertEqual(sample([2, 1], SamplingParameters(temperature: 0, repetitionPenalty: 1.5), accept: [0]), [0])
    }

    func testLogprobsAreNormalised() {
        let logits: [Float] = [2, 1, 0.5, -3]
        let (chosen, top) = logits.withUnsafeBufferPointer { Sampler.logprobs($0, chosen: 1, top: 3) }
        let z = logits.map { exp(Double($0)) }.reduce(0, +)
        XCTAssertEqual(Double(chosen), 1 - log(z), accuracy: 1e-5)
        XCTAssertEqual(top.map(\.0), [0, 1, 2])
        XCTAssertEqual(Double(top[0].1), 2 - log(z), accuracy: 1e-5)
    }
}
