import Kernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Picks tokens from logits for one sequence, keeping what the penalties need
/// (counts of tokens seen) and the random state between steps.
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    var rng: RandomSource  // internal: Sampler+Distribution draws from it too
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

    /// Whether `adjust` looks at the tokens seen (repetition, presence or frequency penalty).
    public var hasPenalties: Bool {
        parameters.repetitionPenalty != 1 || parameters.presencePenalty != 0 || parameters.frequencyPenalty != 0
    }

    /// Takes `other`'s record of tokens seen, keeping its own random stream: a draft model's
    /// sampler then penalizes its proposals as the target's sampler will when verifying them.
    public mutating func takePenaltyCounts(of other: Sampler) {
        outputCounts = other.outputCounts
        seen = other.seen
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

    /// Chooses the next token from raw logits (modified in place). `adjusted`, when given (as large
    /// as `logits`), receives the logits exactly as drawn from, before temperature: for TokenConfidence.
    /// `position` is the token's place in its sequence: with a seed, the draw is then keyed to
    /// (seed, position) rather than taken from the stream (see `keyedChoice`), so a seeded
    /// sequence's tokens do not depend on how many draws came before them.
    public mutating func sample(_ logits: UnsafeMutableBufferPointer<Float>,
                                keepingAdjustedIn adjusted: UnsafeMutableBufferPointer<Float>? = nil,
                                position: Int? = nil) -> Int32 {
        adjust(logits)
        // Anything else that changes the logits (a grammar mask) belongs before this copy.
        if let a = adjusted?.baseAddress, let l = logits.baseAddress { a.update(from: l, count: logits.count) }
        let p = parameters
        // The row stays as `adjust` left it (Engine.sampleMeasuring measures it in place).
        if p.picksArgmax { return Int32(Self.argmax(logits)) }

        // Weights relative to the best token, w = e^((l - max)/T) ∈ (0, 1]. Tokens under
        // e^-40 (or under min_p, which is relative to the best) never count: that keeps
        // the distribution exact to far below float precision.
        let best = Self.argmax(logits)
        let maxLogit = logits[best]
        // A temperature so small that 1/T overflows, or an infinite logit, leaves no
        // distribution to draw from but the best token.
        guard maxLogit.isFinite, (1 / p.temperature).isFinite else { return Int32(best) }
        let floor = min(max(Float(4.25e-18), p.minP), 1)  // e^-40; the best token (w = 1) always stays
        Self.weights(logits, maxLogit: maxLogit, temperature: p.temperature)
        let key = p.seed.flatMap { s in position.map { Self.noiseKey(seed: s, position: $0) } }
        if p.topK == 0 && p.topP >= 1 {
            if let key { return Self.keyedChoice(UnsafeBufferPointer(logits), floor: floor, key: key) }
            // Nothing depends on the order: one pass to total, one to draw. (Sorting the
            // whole vocabulary for every token, at the API's default temperature 1, cost
            // milliseconds per token.)
            var total = 0.0
            for w in logits where w >= floor { total += Double(w) }
            var r = rng.nextUnit() * total
            var last = best
            for i in 0..<logits.count where logits[i] >= floor {
                r -= Double(logits[i])
                last = i
                if r < 0 { return Int32(i) }
            }
            return Int32(last)
        }
        // Top-k and top-p keep a prefix of the tokens in descending order (ties by id).
        // Only the tokens above a threshold are sorted, the threshold lowered until they
        // hold that prefix: enough tokens for k, enough mass for p.
        var total = 0.0  // mass the nucleus is a share of (before top-k truncation)
        if p.topK == 0 { for w in logits where w >= floor { total += Double(w) } }
        var threshold: Float = 1e-3
        var cand: [(id: Int32, w: Float)] = []
        while true {
            let th = max(threshold, floor)
            cand.removeAll(keepingCapacity: true)
            var mass = 0.0
            for i in 0..<logits.count where logits[i] >= th {
                cand.append((Int32(i), logits[i]))
                mass += Double(logits[i])
            }
            let enough = p.topK > 0 ? cand.count >= p.topK : mass >= Double(p.topP) * total
            if enough || th <= floor { break }
            threshold *= 1e-4
        }
        guard !cand.isEmpty else { return Int32(best) }
        cand.sort { $0.w > $1.w || ($0.w == $1.w && $0.id < $1.id) }
        if p.topK > 0 && cand.count > p.topK { cand.removeLast(cand.count - p.topK) }
        var probs = cand.map { Double($0.w) }
        if p.topK > 0 { total = probs.reduce(0, +) }
        if p.topP < 1 {
            var acc = 0.0, keep = 0
            while keep < probs.count {
                acc += probs[keep] / total
                keep += 1
                if acc >= Double(p.topP) { break }
            }
            probs.removeLast(probs.count - keep)
        }
        if let key { return Self.keyedChoice(ids: cand.prefix(probs.count).map(\.id), weights: probs, key: key) }
        var r = rng.nextUnit() * probs.reduce(0, +)
        for (i, pr) in probs.enumerated() {
            r -= pr
            if r < 0 { return cand[i].id }
        }
        return cand[probs.count - 1].id
    }

    /// logits ← e^((l - maxLogit)/T) in place, 8 lanes at a time.
    static func weights(_ x: UnsafeMutableBufferPointer<Float>, maxLogit: Float, temperature: Float) {
        guard let base = x.baseAddress else { return }
        let raw = UnsafeMutableRawPointer(base), inv = 1 / temperature
        let vm = SIMD8<Float>(repeating: maxLogit), vi = SIMD8<Float>(repeating: inv)
        var i = 0
        while i + 8 <= x.count {
            let v = raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            raw.storeBytes(of: VectorOps.exp8((v - vm) * vi), toByteOffset: 4 * i, as: SIMD8<Float>.self)
            i += 8
        }
        while i < x.count { x[i] = expf((x[i] - maxLogit) * inv); i += 1 }
    }

    public static func argmax(_ x: UnsafeMutableBufferPointer<Float>) -> Int {
        guard let base = x.baseAddress else { return 0 }
        return LogitStats.argmax(base, x.count)
    }

    /// log-softmax of logits at `id`, and the `k` most likely (id, logprob) pairs.
    public static func logprobs(_ logits: UnsafeBufferPointer<Float>, chosen id: Int32, top k: Int)
        -> (chosen: Float, top: [(Int32, Float)]) {
        var m = -Float.infinity
        for l in logits where l > m { m = l }
        var sum = 0.0
        for l in logits { sum += Double(expf(l - m)) }
        // In Double: at logits near 20 a Float log-partition alone is off by up to 1e-6.
        let lse = Double(m) + log(sum)
        var top: [(Int32, Float)] = []
        if k > 0 {
            // Keep a small sorted list; k is at most 20.
            for (i, l) in logits.enumerated() where top.count < k || l > top[top.count - 1].1 {
                var j = top.count
                if top.count == k { top.removeLast(); j -= 1 }
                while j > 0 && top[j - 1].1 < l { j -= 1 }
                top.insert((Int32(i), l), at: j)
            }
            top = top.map { ($0.0, Float(Double($0.1) - lse)) }
        }
        return (Float(Double(logits[Int(id)]) - lse), top)
    }
}
