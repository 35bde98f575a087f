import Kernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How sure the model was of one generated token, in the distribution it was drawn from:
/// softmax(adjusted logits / T), where the adjusted logits are the model's after logit bias,
/// penalties and any grammar mask. Top-k, top-p and min-p truncation are left out: they
/// only decide which tokens may be drawn, and renormalizing over the survivors would make
/// every truncated answer look surer than the model was. At temperature 0 (greedy) the drawn
/// distribution is a point mass; T = 1 is used instead, so that without penalties or masks
/// `logprob` is exactly the returned `logprobs` value.
public struct TokenConfidence: Sendable, Equatable {
    /// Natural log of the chosen token's probability.
    public var logprob: Float
    /// Entropy of the whole next-token distribution, in nats.
    public var entropy: Float

    public init(logprob: Float, entropy: Float) {
        self.logprob = logprob
        self.entropy = entropy
    }

    public var probability: Double { exp(Double(logprob)) }

    /// The temperature the measure uses: the request's, or 1 when it samples greedily (or with
    /// a temperature so small that 1/T overflows, which the sampler also treats as greedy).
    public static func temperature(for p: SamplingParameters) -> Float {
        p.isGreedy || !(1 / p.temperature).isFinite ? 1 : p.temperature
    }

    /// Measures `chosen` in the distribution of `logits` (adjusted, before temperature) at
    /// `temperature`: two passes over the vocabulary (`LogitStats`: maximum, then sums), the first
    /// skipped when the caller gives the row's `maximum` (a greedy pick's value is it).
    public static func measure(_ logits: UnsafeBufferPointer<Float>, chosen: Int32, temperature: Float,
                               maximum: Float? = nil) -> TokenConfidence {
        guard let base = logits.baseAddress, logits.count > 0, Int(chosen) >= 0, Int(chosen) < logits.count else {
            return TokenConfidence(logprob: 0, entropy: 0)
        }
        let m = maximum ?? LogitStats.maximum(base, logits.count)
        guard m.isFinite else { return TokenConfidence(logprob: 0, entropy: 0) }
        // With z = (l - m)/T and w = e^z: Z = Σw, log p(c) = z_c - log Z, H = log Z - Σ w·z / Z.
        let (total, weighted) = LogitStats.softmaxSums(base, logits.count, max: m, inverseTemperature: 1 / temperature)
        let logZ = log(total)
        let zc = (Double(logits[Int(chosen)]) - Double(m)) / Double(temperature)
        let entropy = max(0, logZ - weighted / total)
        return TokenConfidence(logprob: Float(zc - logZ), entropy: Float(entropy))
    }
}
