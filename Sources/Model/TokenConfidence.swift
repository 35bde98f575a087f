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
    /// `temperature`. Two vectorized passes over the vocabulary (maximum, then sums), 8 lanes at a time.
    public static func measure(_ logits: UnsafeBufferPointer<Float>, chosen: Int32, temperature: Float) -> TokenConfidence {
        guard let base = logits.baseAddress, logits.count > 0, Int(chosen) >= 0, Int(chosen) < logits.count else {
            return TokenConfidence(logprob: 0, entropy: 0)
        }
        let n = logits.count
        let raw = UnsafeRawPointer(base)
        var vmax = SIMD8<Float>(repeating: -.infinity)
        var i = 0
        while i + 8 <= n {
            let v = raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            vmax.replace(with: v, where: v .> vmax)
            i += 8
        }
        var m = vmax.max()
        while i < n { m = max(m, logits[i]); i += 1 }
        guard m.isFinite else { return TokenConfidence(logprob: 0, entropy: 0) }
        let inv = 1 / temperature
        // With z = (l - m)/T and w = e^z: Z = Σw, log p(c) = z_c - log Z, H = log Z - Σ w·z / Z.
        // Lanes sum 16 chunks in Float, then into Double: a 150k vocabulary keeps log Z to ~1e-7.
        var total = 0.0, weighted = 0.0
        let vm = SIMD8<Float>(repeating: m), vi = SIMD8<Float>(repeating: inv)
        let floor = SIMD8<Float>(repeating: -80)  // e^-80 is nothing beside the best token's 1
        i = 0
        while i + 8 <= n {
            var sw = SIMD8<Float>(), swz = SIMD8<Float>()
            var k = 0
            while k < 16 && i + 8 <= n {
                var z = (raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) - vm) * vi
                // Masked tokens (-inf) would make 0·-inf: they have weight 0 and add nothing.
                z.replace(with: floor, where: z .< floor)
                let w = VectorOps.exp8(z)
                sw += w
                swz += w * z
                i += 8
                k += 1
            }
            total += Double(sw.sum())
            weighted += Double(swz.sum())
        }
        while i < n {
            let z = max((logits[i] - m) * inv, -80)
            let w = expf(z)
            total += Double(w)
            weighted += Double(w * z)
            i += 1
        }
        let logZ = log(total)
        let zc = (Double(logits[Int(chosen)]) - Double(m)) / Double(temperature)
        let entropy = max(0, logZ - weighted / total)
        return TokenConfidence(logprob: Float(zc - logZ), entropy: Float(entropy))
    }
}
