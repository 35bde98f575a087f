#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Picks tokens from logits for one sequence, keeping what the penalties need
/// (counts of tokens seen) and the random state between steps.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    private var rng: RandomSource
    private var outputCounts: [Int32: Int] = [:]
    private var seen: Set<Int32>

    public init(_ parameters: SamplingParameters, promptTokens: [Int32] = []) {
        self.parameters = parameters
        rng = RandomSource(seed: parameters.seed ?? UInt64.random(in: 0...UInt64.max))
        seen = Set(promptTokens)
    }

    /// Records a token the sequence produced (for penalties).
    public mutating func accept(_ token: Int32) {
        outputCounts[token, default: 0] += 1
        seen.insert(token)
    }

    /// Applies bias and penalties in place, as the API defines them.
    public func adjust(_ logits: UnsafeMutableBufferPointer<Float>) {
        let p = parameters
        for (id, b) in p.logitBias where id >= 0 && Int(id) < logits.count { logits[Int(id)] += b }
        if p.repetitionPenalty != 1 {
            for id in seen where Int(id) < logits.count {
                let l = logits[Int(id)]
                logits[Int(id)] = l > 0 ? l / p.repetitionPenalty : l * p.repetitionPenalty
            }
        }
        if p.presencePenalty != 0 || p.frequencyPenalty != 0 {
            for (id, count) in outputCounts where Int(id) < logits.count {
                logits[Int(id)] -= p.presencePenalty + p.frequencyPenalty * Float(count)
            }
        }
    }

    /// Chooses the next token from raw logits (modified in place).
    public mutating func sample(_ logits: UnsafeMutableBufferPointer<Float>) -> Int32 {
        adjust(logits)
        let p = parameters
        if p.isGreedy || p.topK == 1 { return Int32(Self.argmax(logits)) }

        // Candidates: tokens within a factor e^-40 of the best, which keeps the
        // distribution exact to far below float precision while sorting few ids.
        let maxLogit = logits[Self.argmax(logits)]
        let cutoff = maxLogit - 40 * p.temperature
        var cand: [(id: Int32, logit: Float)] = []
        for i in 0..<logits.count where logits[i] >= cutoff { cand.append((Int32(i), logits[i])) }
        cand.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.id < $1.id) }
        if p.topK > 0 && cand.count > p.topK { cand.removeLast(cand.count - p.topK) }

        var probs = cand.map { Double(expf(($0.logit - maxLogit) / p.temperature)) }
        var total = probs.reduce(0, +)
        if p.minP > 0 {
            // Relative to the most likely token, as llama.cpp and vLLM define min_p.
            let floor = Double(p.minP) * probs[0]
            var keep = probs.count
            while keep > 1 && probs[keep - 1] < floor { keep -= 1 }
            probs.removeLast(probs.count - keep)
            total = probs.reduce(0, +)
        }
        if p.topP < 1 {
            var acc = 0.0, keep = 0
            while keep < probs.count {
                acc += probs[keep] / total
                keep += 1
                if acc >= Double(p.topP) { break }
            }
            probs.removeLast(probs.count - keep)
            total = probs.reduce(0, +)
        }
        var r = rng.nextUnit() * total
        for (i, pr) in probs.enumerated() {
            r -= pr
            if r < 0 { return cand[i].id }
        }
        return cand[probs.count - 1].id
    }

    public static func argmax(_ x: UnsafeMutableBufferPointer<Float>) -> Int {
        var best = 0
        var bv = -Float.infinity
        for i in 0..<x.count where x[i] > bv { bv = x[i]; best = i }
        return best
    }

    /// log-softmax of logits at `id`, and the `k` most likely (id, logprob) pairs.
    public static func logprobs(_ logits: UnsafeBufferPointer<Float>, chosen id: Int32, top k: Int)
        -> (chosen: Float, top: [(Int32, Float)]) {
        var m = -Float.infinity
        for l in logits where l > m { m = l }
        var sum = 0.0
        for l in logits { sum += Double(expf(l - m)) }
        let lse = m + Float(log(sum))
        var top: [(Int32, Float)] = []
        if k > 0 {
            // Keep a small sorted list; k is at most 20.
            for (i, l) in logits.enumerated() where top.count < k || l > top[top.count - 1].1 {
                var j = top.count
                if top.count == k { top.removeLast(); j -= 1 }
                while j > 0 && top[j - 1].1 < l { j -= 1 }
                top.insert((Int32(i), l), at: j)
            }
            top = top.map { ($0.0, $0.1 - lse) }
        }
        return (logits[Int(id)] - lse, top)
    }
}
