/// How long a step takes for how many tokens, learnt from the steps run so far: a
/// fixed part (reading the weights once, whatever the batch) and a part per token.
/// The scheduler asks it how many tokens fit in a time target, so a long prompt is
/// cut into chunks that leave generating sequences their pace.
struct StepPace {
    /// Seconds of a step with a few tokens (mostly the weights' read), and per extra token.
    private(set) var fixed: Double?
    private(set) var perToken: Double?
    /// Seconds of a step of generating sequences alone (one token each, no prompt token), by
    /// how many: the gap they see once a burst's prompts are done. Not the line above: a burst's
    /// steps all carry prompt tokens, which skip the output projection, so the line under-predicts
    /// these steps (Qwen 1.5B, 2 Zen 4 cores, 16 sequences: ~70 ms predicted, ~95 ms taken).
    private(set) var decodeSteps: [Int: Double] = [:]

    /// Folds in one step (exponential averages: the machine's speed drifts, and the cost per
    /// token grows with the context a long prompt has reached, so every step above the
    /// fixed range counts). A step slower than predicted weighs more than one faster: large
    /// prompt steps cost less per token than the mixed steps that follow them, and an
    /// estimate that catches up slowly overshoots the target for several steps in a row
    /// (the stalls the target exists to prevent).
    mutating func record(tokens: Int, seconds: Double) {
        guard tokens > 0, seconds > 0 else { return }
        let late = predicted(tokens: tokens).map { seconds > 1.1 * $0 } ?? false
        let w = late ? 0.5 : 0.2
        @inline(__always) func blend(_ old: Double?, _ new: Double) -> Double { old.map { (1 - w) * $0 + w * new } ?? new }
        if tokens <= 8 {
            fixed = blend(fixed, seconds)
        } else {
            let f = fixed ?? 0
            perToken = blend(perToken, max(seconds - f, seconds * 0.1) / Double(tokens))
        }
    }

    /// Folds in a step of `sequences` generating sequences with no prompt token (an exponential
    /// average per count: their context grows, and the machine drifts). A step faster than the
    /// average weighs more than a slower one: a value too high lengthens the steps it sets, a
    /// count may come back seldom, and a lone slow pass (the host's hiccup) should not last.
    mutating func recordDecode(sequences: Int, seconds: Double) {
        guard sequences > 0, seconds > 0 else { return }
        decodeSteps[sequences] = decodeSteps[sequences].map { seconds < $0 ? 0.5 * $0 + 0.5 * seconds : 0.8 * $0 + 0.2 * seconds }
            ?? seconds
    }

    /// Seconds a step of `sequences` generating sequences alone takes: the count's own average;
    /// else between the nearest counts seen below and above it, in proportion; else the largest
    /// count below plus the line's cost per token for each sequence more (low: the line leaves
    /// out the output row each of them pays; a burst of short prompts beside generating ones
    /// seldom has all of them generate at once, so the full count is rarely seen); nil when no
    /// count below was seen.
    func decodeStep(sequences n: Int) -> Double? {
        if let s = decodeSteps[n] { return s }
        var below: (count: Int, seconds: Double)?, above: (count: Int, seconds: Double)?
        for (k, s) in decodeSteps {
            if (k < n) && (k > (below?.count ?? 0)) { below = (k, s) }
            if (k > n) && (k < (above?.count ?? .max)) { above = (k, s) }
        }
        guard let below else { return nil }
        guard let above else { return below.seconds + Double(n - below.count) * (perToken ?? 0) }
        let f = Double(n - below.count) / Double(above.count - below.count)
        return below.seconds + f * (above.seconds - below.seconds)
    }

    /// Seconds the model expects a step of `tokens` to take, once it has seen a large step.
    func predicted(tokens: Int) -> Double? {
        perToken.map { (fixed ?? 0) + $0 * Double(tokens) }
    }

    /// Tokens a step can take and still end within `target` seconds, between 16 and `limit`;
    /// `limit` until a large step has been seen.
    func tokens(within target: Double, limit: Int) -> Int {
        guard let perToken, perToken > 0 else { return limit }
        let n = Int((target - (fixed ?? 0)) / perToken)
        return max(16, min(limit, n))
    }
}
