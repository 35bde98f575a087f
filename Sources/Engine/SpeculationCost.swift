/// What speculation costs on this machine, measured by the engine as it runs: seconds of a
/// target pass and of a draft pass by the tokens they compute (exponential averages, small
/// passes only), and the rule that says from them and a sequence's acceptance whether
/// speculating pays for it.
///
/// The rule: a step that proposes k tokens to a sequence whose proposals stand with
/// probability a each (one after another, until the first miss) emits on average
/// E(k) = 1 + a + … + a^k tokens, and costs C(k) = T(s + s·k) / T(s) + k · D(s) / T(s) plain
/// steps, with s the sequences generating, T the target pass and D one draft pass (0 for
/// prompt lookup). Speculating pays when some k has E(k) / C(k) > 1 + `margin` (the
/// verification's sampling of k + 1 rows and the draft's bookkeeping are not in the timed
/// passes); how many to propose is then left to the sequence's adaptive depth.
struct SpeculationCost {
    /// Seconds by tokens computed (index 1...maxTokens), nil until seen.
    private(set) var target: [Double?]
    private(set) var draft: [Double?]
    static let maxTokens = 64
    /// Relative cost of one more token in a pass, until two sizes were seen (Qwen 1.5B Q4_K_M,
    /// 2 cores: benchmarks/speculative/README.md) and of a draft pass against a target pass.
    static let priorPerToken = 0.16
    static let priorDraftRatio = 0.4
    /// Positions a draft catches up without the rule's charge (a short prompt, a verification's
    /// accepted tokens): a few more tokens in a pass it makes anyway.
    static let freeCatchUp = 16
    /// The most tokens a sequence is taken to emit still when weighing a catch-up.
    static let expectedRemaining = 512
    /// A depth is taken only when it beats a plain step by this much.
    static let margin = 0.05

    init() {
        target = Array(repeating: nil, count: Self.maxTokens + 1)
        draft = Array(repeating: nil, count: Self.maxTokens + 1)
    }

    /// Costs given instead of measured (tests): `target(n)` and `draft(n)` seconds, and the
    /// draft's seconds per token of a catch-up pass (nil: its largest pass's), kept.
    init(target t: (Int) -> Double, draft d: (Int) -> Double, catchUpPerToken: Double? = nil) {
        self.init()
        for n in 1...Self.maxTokens { target[n] = t(n); draft[n] = d(n) }
        draftPerTokenLarge = catchUpPerToken
        frozen = true
    }

    private var frozen = false

    /// Whether a target pass of `n` tokens was timed (past `maxTokens`: taken as known, the
    /// estimate then scales the largest sizes).
    func timed(tokens n: Int) -> Bool { n > Self.maxTokens || target[max(1, n)] != nil }

    /// Seconds per token of draft passes over `maxTokens` tokens (sequences catching up), nil until seen.
    private(set) var draftPerTokenLarge: Double?

    mutating func recordTarget(tokens: Int, seconds: Double) { if !frozen { Self.record(&target, tokens, seconds) } }
    mutating func recordDraft(tokens: Int, seconds: Double) {
        guard !frozen else { return }
        if tokens > Self.maxTokens, seconds > 0, seconds.isFinite {
            let x = seconds / Double(tokens)
            draftPerTokenLarge = draftPerTokenLarge.map { 0.8 * $0 + 0.2 * x } ?? x
        } else {
            Self.record(&draft, tokens, seconds)
        }
    }

    private static func record(_ table: inout [Double?], _ n: Int, _ seconds: Double) {
        guard n >= 1, n <= maxTokens, seconds > 0, seconds.isFinite else { return }
        table[n] = table[n].map { 0.8 * $0 + 0.2 * seconds } ?? seconds
    }

    /// Seconds of a pass of `n` tokens: the measured one, else interpolated between the nearest
    /// measured sizes, else scaled from the one measured size by the prior slope; nil when none.
    /// Past `maxTokens` (e.g. 8 sequences verifying 8 proposals each: 72 tokens), the estimate at
    /// `maxTokens` in proportion to the tokens: such a pass is compute-bound, and the fixed part
    /// counted again errs on the costly side. (Clamped, deeper proposals for many sequences looked free.)
    static func estimate(_ table: [Double?], _ n: Int) -> Double? {
        if n > maxTokens { return estimate(table, maxTokens).map { $0 * Double(n) / Double(maxTokens) } }
        let n = max(n, 1)
        if let x = table[n] { return x }
        var lo: Int?, hi: Int?
        for i in stride(from: n - 1, through: 1, by: -1) where table[i] != nil { lo = i; break }
        for i in (n + 1)..<table.count where table[i] != nil { hi = i; break }
        if let lo, let hi, let a = table[lo], let b = table[hi] {
            return a + (b - a) * Double(n - lo) / Double(hi - lo)
        }
        guard let k = lo ?? hi, let x = table[k] else { return nil }
        return x * (1 + priorPerToken * Double(n - 1)) / (1 + priorPerToken * Double(k - 1))
    }

    /// Plain steps a step costs when each of `sequences` proposes `depth` tokens (with a draft
    /// model: `depth` draft passes).
    func relativeCost(depth k: Int, sequences s: Int, drafted: Bool) -> Double {
        let s = max(1, s)
        let base = Self.estimate(target, s)
        let verify: Double
        if let base, let t = Self.estimate(target, s + s * k) { verify = t / base } else {
            verify = 1 + Self.priorPerToken * Double(s * k) / Double(s)
        }
        guard drafted else { return verify }
        let ratio: Double
        if let base, let d = Self.estimate(draft, s) { ratio = d / base } else { ratio = Self.priorDraftRatio }
        return verify + Double(k) * ratio
    }

    /// Plain steps of `sequences` that a draft pass over `lag` positions takes: per token, the
    /// large passes' measured time, else the largest small pass's, else the prior ratio of the
    /// target's; nil when nothing was timed.
    func catchUpCost(lag: Int, sequences s: Int) -> Double? {
        guard lag > 0, let base = Self.estimate(target, max(1, s)) else { return nil }
        let n = Double(Self.maxTokens)
        guard let perToken = draftPerTokenLarge ?? Self.estimate(draft, Self.maxTokens).map({ $0 / n })
                ?? Self.estimate(target, Self.maxTokens).map({ Self.priorDraftRatio * $0 / n }) else { return nil }
        return Double(lag) * perToken / base
    }

    /// Whether a sequence whose draft is `lag` positions behind wins the catch-up back over the
    /// `remaining` tokens it may still emit: at the best depth's gain g it saves
    /// remaining · (1 - 1/g) plain steps, and the catch-up pass holds up all `sequences` of the
    /// step for only this one's gain, so it is charged that many times. Without this, sequences
    /// that had generated plainly in a full batch turned speculation on as the batch thinned
    /// near its end, and each first caught up its whole prompt: 16 clients gave 0.94-0.97× the
    /// throughput without a draft, with 0.91 s gaps. Unknown or nil costs: taken to pay.
    func catchUpPays(lag: Int, remaining: Int, acceptance a: Double, maxDepth: Int, sequences: Int) -> Bool {
        let s = max(1, sequences)
        guard let cost = catchUpCost(lag: lag, sequences: s), cost > 0 else { return true }
        let (k, g) = best(acceptance: a, maxDepth: maxDepth, sequences: s, drafted: true)
        return k > 0 && Double(remaining) * (1 - 1 / g) > Double(s) * cost
    }

    /// Tokens emitted per plain step's time at `depth` (E(k) / C(k)).
    func gain(acceptance a: Double, depth k: Int, sequences: Int, drafted: Bool) -> Double {
        var expected = 1.0, power = 1.0
        for _ in 0..<max(0, k) { power *= a; expected += power }
        return expected / relativeCost(depth: k, sequences: sequences, drafted: drafted)
    }

    /// The depth (0...maxDepth) that emits the most tokens per plain step's time for a
    /// sequence whose proposals stand with probability `acceptance`; 0 when speculating loses.
    func bestDepth(acceptance a: Double, maxDepth: Int, sequences: Int, drafted: Bool) -> Int {
        best(acceptance: a, maxDepth: maxDepth, sequences: sequences, drafted: drafted).depth
    }

    /// `bestDepth` and its gain (E(k) / C(k); 1 + `margin` at depth 0).
    func best(acceptance a: Double, maxDepth: Int, sequences: Int, drafted: Bool) -> (depth: Int, gain: Double) {
        var best = 0, bestGain = 1 + Self.margin
        var expected = 1.0, power = 1.0
        for k in stride(from: 1, through: maxDepth, by: 1) {
            power *= a
            expected += power
            let gain = expected / relativeCost(depth: k, sequences: sequences, drafted: drafted)
            if gain > bestGain { best = k; bestGain = gain }
        }
        return (best, bestGain)
    }
}
