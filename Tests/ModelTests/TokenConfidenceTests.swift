import Foundation
import XCTest
@testable import Model

/// TokenConfidence against a plain Double softmax, and the sampler's copy of what it drew from.
final class TokenConfidenceTests: XCTestCase {
    private func reference(_ logits: [Float], chosen: Int, temperature: Double) -> (logprob: Double, entropy: Double) {
        let z = logits.map { Double($0) / temperature }
        let m = z.max()!
        let lse = m + log(z.reduce(0) { $0 + exp($1 - m) })
        let entropy = -z.reduce(0) { acc, x in acc + exp(x - lse) * (x - lse) }
        return (z[chosen] - lse, entropy)
    }

    func testMatchesDoubleSoftmaxAtSeveralTemperatures() {
        var g = SystemRandomNumberGenerator()
        for n in [1, 7, 8, 49152 + 5] {
            let logits = (0..<n).map { _ in Float.random(in: -12...25, using: &g) }
            for t: Float in [1, 0.7, 1.6] {
                let chosen = Int.random(in: 0..<n, using: &g)
                let c = logits.withUnsafeBufferPointer { TokenConfidence.measure($0, chosen: Int32(chosen), temperature: t) }
                let r = reference(logits, chosen: chosen, temperature: Double(t))
                XCTAssertEqual(Double(c.logprob), r.logprob, accuracy: 2e-6 * max(1, abs(r.logprob)), "n \(n) T \(t)")
                XCTAssertEqual(Double(c.entropy), r.entropy, accuracy: 1e-5 * max(1, r.entropy), "n \(n) T \(t)")
            }
        }
    }

    func testAgreesWithReturnedLogprobsAtTemperatureOne() {
        var g = SystemRandomNumberGenerator()
        let logits = (0..<50_000).map { _ in Float.random(in: -5...30, using: &g) }
        for chosen in [0, 17, 49_999] {
            let c = logits.withUnsafeBufferPointer { TokenConfidence.measure($0, chosen: Int32(chosen), temperature: 1) }
            let lp = logits.withUnsafeBufferPointer { Sampler.logprobs($0, chosen: Int32(chosen), top: 0).chosen }
            XCTAssertEqual(c.logprob, lp, accuracy: 1e-6)
        }
    }

    func testMaskedTokensAndDegenerateRows() {
        // -inf (a grammar mask) weighs nothing; one possible token is certain.
        var row: [Float] = [3, -.infinity, -.infinity, 1]
        let c = row.withUnsafeBufferPointer { TokenConfidence.measure($0, chosen: 0, temperature: 1) }
        let r = reference([3, 1], chosen: 0, temperature: 1)
        XCTAssertEqual(Double(c.logprob), r.logprob, accuracy: 1e-6)
        XCTAssertEqual(Double(c.entropy), r.entropy, accuracy: 1e-6)
        row = [-.infinity, 2, -.infinity]
        let sure = row.withUnsafeBufferPointer { TokenConfidence.measure($0, chosen: 1, temperature: 1) }
        XCTAssertEqual(sure.logprob, 0, accuracy: 1e-7)
        XCTAssertEqual(sure.entropy, 0, accuracy: 1e-7)
        let none = [Float]().withUnsafeBufferPointer { TokenConfidence.measure($0, chosen: 0, temperature: 1) }
        XCTAssertEqual(none, TokenConfidence(logprob: 0, entropy: 0))
    }

    func testGreedyMeasuresAtTemperatureOne() {
        XCTAssertEqual(TokenConfidence.temperature(for: .greedy), 1)
        XCTAssertEqual(TokenConfidence.temperature(for: SamplingParameters(temperature: 0.5)), 0.5)
        XCTAssertEqual(TokenConfidence.temperature(for: SamplingParameters(temperature: .leastNonzeroMagnitude)), 1)
    }

    func testSamplerHandsOverTheAdjustedRow() {
        var s = Sampler(SamplingParameters(temperature: 0.8, presencePenalty: 1.5, logitBias: [2: 4], seed: 1))
        s.accept(1)
        var logits: [Float] = [1, 2, 3, 0.5]
        var copy = [Float](repeating: 0, count: 4)
        _ = logits.withUnsafeMutableBufferPointer { l in copy.withUnsafeMutableBufferPointer { s.sample(l, keepingAdjustedIn: $0) } }
        XCTAssertEqual(copy, [1, 2 - 1.5, 3 + 4, 0.5])
    }
}
