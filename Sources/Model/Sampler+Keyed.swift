#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Seeded draws keyed to (seed, position): the token at a position is the winner of an
/// exponential race, argmin over kept tokens t of E_t / w_t, where E_t = -ln u_t and u_t is a
/// hash of (seed, position, t). That is a draw from the weights w normalised (the Gumbel-max
/// trick in another form), and it depends on nothing but the seed, the position and the
/// distribution: not on how many draws an earlier step used. Speculative decoding relies on
/// it. A draft model racing its own distribution with the same noise proposes the token the
/// target will draw whenever the two agree, and the target's token is the same whether or not
/// a proposal was made, so a seeded request's text is the same under any batch, drafter or
/// speculation method (drafter-invariant speculative decoding).
extension Sampler {
    static func noiseKey(seed: UInt64, position: Int) -> UInt64 {
        mix(seed ^ mix(UInt64(bitPattern: Int64(position)) &+ 0x632B_E59B_D9B4_E019))
    }

    /// splitmix64's finaliser: every input bit moves every output bit.
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// 1 - u_t, in (0, 1): the uniform behind token t's exponential E_t = -ln u_t.
    @inline(__always)
    static func complement(_ key: UInt64, _ t: Int) -> Double {
        (Double(mix(key ^ UInt64(t) &* 0xD6E8_FEB8_6659_FD93) >> 11) + 0.5) * 0x1p-53
    }

    /// The race over every token with weight ≥ floor (the best token, w = 1, among them).
    /// E_t ≥ 1 - u_t, so a token whose 1 - u_t already exceeds the leader's score times w_t
    /// cannot win and needs no logarithm: most of a large vocabulary is settled by one hash.
    static func keyedChoice(_ w: UnsafeBufferPointer<Float>, floor: Float, key: UInt64) -> Int32 {
        var best = -1, score = Double.infinity
        for t in w.indices where w[t] >= floor {
            let wt = Double(w[t]), c = complement(key, t)
            guard c < score * wt else { continue }
            let s = -log1p(-c) / wt
            if s < score { score = s; best = t }
        }
        return Int32(max(best, 0))
    }

    /// The race over an explicit candidate list (top-k / top-p kept tokens, unnormalised weights).
    static func keyedChoice(ids: [Int32], weights: [Double], key: UInt64) -> Int32 {
        var best = 0, score = Double.infinity
        for (i, wt) in weights.enumerated() where wt > 0 {
            let c = complement(key, Int(ids[i]))
            guard c < score * wt else { continue }
            let s = -log1p(-c) / wt
            if s < score { score = s; best = i }
        }
        return ids.isEmpty ? 0 : ids[best]
    }
}
