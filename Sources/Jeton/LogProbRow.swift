#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One position's next-token distribution as llama-perplexity stores it in a
/// `--kl-divergence-base` file, and the comparisons made against it.
///
/// A row is `2·⌈vocab/2⌉ + 4` little-endian UInt16: two Float32 (the step `scale` and
/// `minLogProb`, the log-probability that code 0 stands for), then one code per token,
/// log p(i) ≈ minLogProb + scale·code. Codes span the 16 nats below the best token; anything
/// further down is code 0. The arithmetic below follows llama.cpp's (Float32 where it uses
/// float, Double for the sums) so that both tools write and read the same numbers.
enum LogProbRow {
    /// UInt16 per row: the two Float32 of the header, the codes, padded to an even count.
    static func length(vocab: Int) -> Int { 2 * ((vocab + 1) / 2) + 4 }

    /// Log-probabilities below the best token's minus this are not stored (code 0).
    static let range: Float = 16

    /// The max logit, its first index and log Σ exp(logit − max), as llama.cpp computes them.
    struct Softmax {
        let max: Float
        let argmax: Int
        let logSumExp: Float

        init(_ logits: UnsafeBufferPointer<Float>) {
            var m = logits[0], im = 0
            for i in 1..<logits.count where logits[i] > m { m = logits[i]; im = i }
            var s = 0.0
            for x in logits { s += Double(expf(x - m)) }
            max = m
            argmax = im
            logSumExp = Float(log(s))
        }

        /// −log p(token).
        func nll(_ logits: UnsafeBufferPointer<Float>, _ token: Int) -> Float { max + logSumExp - logits[token] }
    }

    /// Writes the compressed row of `logits` into `out` (`length(vocab:)` elements) and
    /// returns −log p(target).
    static func encode(_ logits: UnsafeBufferPointer<Float>, target: Int, into out: UnsafeMutableBufferPointer<UInt16>) -> Float {
        let sm = Softmax(logits)
        var lo = logits[0]
        for x in logits where x < lo { lo = x }
        lo = Swift.max(lo, sm.max - range)
        let minLogProb = lo - sm.max - sm.logSumExp
        let scale = (sm.max - lo) / 65535
        put(scale, at: 0, out)
        put(minLogProb, at: 2, out)
        for i in 4..<out.count { out[i] = 0 }
        if scale != 0 {
            let inv = 1 / scale
            for (i, x) in logits.enumerated() where x > lo {
                // Round half to even, as llama.cpp's nearest_int (the float magic-number trick). The
                // cap only matters for a degenerate row (a scale so small that its inverse is infinite).
                out[4 + i] = UInt16(Swift.min(inv * (x - lo), 65535).rounded(.toNearestOrEven))
            }
        }
        return sm.nll(logits, target)
    }

    /// What one position contributes to the KL-divergence statistics.
    struct Comparison {
        var nll: Float        // −log q(target), the evaluated model
        var nllBase: Float    // −log p(target), the base file
        var kld: Double       // Σ p·(log p − log q) over tokens with log p > −16
        var pDiff: Float      // q(target) − p(target)
        var sameTop: Bool     // both give their highest probability to the same token
    }

    /// Compares the evaluated model's `logits` with a base `row` at the position whose next token is `target`.
    static func compare(_ logits: UnsafeBufferPointer<Float>, base row: UnsafeBufferPointer<UInt16>, target: Int) -> Comparison {
        let sm = Softmax(logits)
        let scale = get(0, row), minLogProb = get(2, row)
        let codes = UnsafeBufferPointer(rebasing: row[4...])
        let nll = sm.nll(logits, target)
        let nllBase = -(scale * Float(codes[target]) + minLogProb)
        let logZ = sm.max + sm.logSumExp  // log q(i) = logits[i] − logZ
        var sum = 0.0
        var topBase = 0
        var bestBase: Float = 0
        for i in 0..<logits.count {
            let lp = scale * Float(codes[i]) + minLogProb
            if i == 0 || lp > bestBase { bestBase = lp; topBase = i }
            if lp > -range { sum += Double(expf(lp) * (lp - logits[i] + logZ)) }
        }
        return Comparison(nll: nll, nllBase: nllBase, kld: sum, pDiff: expf(-nll) - expf(-nllBase),
                          sameTop: sm.argmax == topBase)
    }

    /// The two Float32 of the row header live in its first four UInt16, low half first.
    private static func put(_ x: Float, at i: Int, _ out: UnsafeMutableBufferPointer<UInt16>) {
        out[i] = UInt16(truncatingIfNeeded: x.bitPattern)
        out[i + 1] = UInt16(truncatingIfNeeded: x.bitPattern >> 16)
    }

    private static func get(_ i: Int, _ row: UnsafeBufferPointer<UInt16>) -> Float {
        Float(bitPattern: UInt32(row[i]) | UInt32(row[i + 1]) << 16)
    }
}
