/// The sampler's distribution as a vector, for speculative decoding with a draft model at
/// temperature > 0: rejection sampling needs the target's probabilities p and the draft's q
/// over the whole vocabulary, not one draw.
extension Sampler {
    /// The distribution `sample` draws from, given logits already adjusted (bias, penalties,
    /// grammar mask): after temperature, min-p, top-k and top-p, summing to 1, written into
    /// `probs` (as large as `logits`). `logits` is changed in place. Greedy: all mass on the argmax.
    public func distribution(_ logits: UnsafeMutableBufferPointer<Float>, into probs: UnsafeMutableBufferPointer<Float>) {
        precondition(probs.count == logits.count)
        let p = parameters
        let best = Self.argmax(logits)
        let maxLogit = logits[best]
        for i in probs.indices { probs[i] = 0 }
        guard !p.picksArgmax, maxLogit.isFinite, (1 / p.temperature).isFinite else {
            probs[best] = 1
            return
        }
        let floor = min(max(Float(4.25e-18), p.minP), 1)  // as in `sample`
        Self.weights(logits, maxLogit: maxLogit, temperature: p.temperature)
        if p.topK == 0 && p.topP >= 1 {
            var total = 0.0
            for w in logits where w >= floor { total += Double(w) }
            for i in logits.indices where logits[i] >= floor { probs[i] = Float(Double(logits[i]) / total) }
            return
        }
        // The same prefix of the tokens in descending order (ties by id) that `sample` keeps.
        var cand: [(id: Int32, w: Float)] = []
        var total = 0.0
        for i in logits.indices where logits[i] >= floor {
            cand.append((Int32(i), logits[i]))
            total += Double(logits[i])
        }
        cand.sort { $0.w > $1.w || ($0.w == $1.w && $0.id < $1.id) }
        if p.topK > 0 && cand.count > p.topK {
            cand.removeLast(cand.count - p.topK)
            total = cand.reduce(0) { $0 + Double($1.w) }
        }
        var keep = cand.count
        if p.topP < 1 {
            var acc = 0.0
            keep = 0
            while keep < cand.count {
                acc += Double(cand[keep].w) / total
                keep += 1
                if acc >= Double(p.topP) { break }
            }
        }
        let kept = cand.prefix(keep).reduce(0) { $0 + Double($1.w) }
        for c in cand.prefix(keep) { probs[Int(c.id)] = Float(Double(c.w) / kept) }
    }

    /// Uniform in [0, 1) from this sequence's random stream.
    public mutating func uniform() -> Double { rng.nextUnit() }

    /// A token drawn from unnormalised non-negative weights (the first positive one if rounding
    /// leaves the draw past the end); nil when every weight is zero.
    public mutating func draw(from weights: UnsafeBufferPointer<Float>) -> Int32? {
        var total = 0.0
        for w in weights { total += Double(w) }
        guard total > 0 else { return nil }
        var r = rng.nextUnit() * total
        var last: Int32?
        for i in weights.indices where weights[i] > 0 {
            r -= Double(weights[i])
            last = Int32(i)
            if r < 0 { return Int32(i) }
        }
        return last
    }
}
