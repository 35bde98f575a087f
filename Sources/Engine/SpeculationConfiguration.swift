/// How the engine speculates: who proposes tokens, how many at most, and when a step is
/// already large enough that verifying proposals would cost more than it saves.
public struct SpeculationConfiguration: Sendable, Equatable {
    public enum Method: String, Sendable, CaseIterable {
        case off
        /// Prompt lookup: the tokens that followed the latest earlier occurrence of the
        /// sequence's last few tokens (in its prompt or output).
        case ngram
        /// A second, smaller model with the same tokenizer proposes (Engine.init's `draft`).
        case draft
    }

    public var method: Method = .off
    /// Proposed tokens per sequence and step at most (each sequence adapts its own depth
    /// below this from its recent acceptance).
    public var maxDepth: Int = 8
    /// Proposals are cut so a step computes at most this many tokens in all (its sequences' own
    /// tokens first), and none are made once those alone reach it, or while a prompt waits to be
    /// admitted (its chunk makes the step compute-bound). Measured on Qwen 1.5B Q4_K_M, 2 cores
    /// (benchmarks/speculative/README.md): a step of n tokens costs about 1 + 0.16 (n - 1)
    /// one-token steps, so it doubles near 7 tokens; at 12 a step costs ~2.8 single steps, and
    /// with 12 or more sequences generating nobody speculates (their step is compute-bound and
    /// the 16-client case must not lose throughput).
    public var maxBatchTokens: Int = 12
    /// Longest and shortest n-gram looked up (prompt lookup).
    public var ngramMax: Int = 3
    public var ngramMin: Int = 2
    /// With a draft model, prompt lookup is tried first: its proposals cost no draft pass, and
    /// are taken when they promise at least as many tokens per step's time as the draft's
    /// (each proposer's acceptance is measured per sequence).
    public var lookupFirst = true
    /// A greedy (or top_k 1) sequence's draft stops proposing after a token it gives less than
    /// this probability (the token itself is still proposed): past an unsure token the draft's
    /// next guesses mostly fail, and each costs a draft pass and a verified position. 0: off
    /// (measured: no faster on the whole, README "An unsure draft stops early").
    public var draftMinProbability: Double = 0
    /// Generated tokens a sequence waits, after speculation stopped paying for it, before it
    /// proposes again to see whether its acceptance came back (doubling while it has not, up
    /// to 8×).
    public var probeInterval = 16
    /// Tokens a draft scoring part of the vocabulary (`LlamaModel.logitRows`) always scores and
    /// never counts against the part (or the common part, `draftCommonRows`, when there is one):
    /// the vocabulary's control tokens (chat markers, ends of generation), which lie past it in
    /// Qwen's and Llama 3's and are in every chat prompt.
    public var draftAlwaysScored: Set<Int32> = []
    /// A draft scoring part of the vocabulary scores only its first this many tokens (and the
    /// sequence's own past them) for a sequence with at most one token in 7 past them
    /// (`Request.commonVocabularyShare`: code and English); 0, or not below the part: off.
    public var draftCommonRows = 0

    public init(method: Method = .off, maxDepth: Int = 8, maxBatchTokens: Int = 12) {
        self.method = method
        self.maxDepth = maxDepth
        self.maxBatchTokens = maxBatchTokens
    }

    public var isOn: Bool { method != .off && maxDepth > 0 }

    /// Depth a sequence starts at.
    var initialDepth: Int { min(4, maxDepth) }

    /// The next depth from the last verification: doubles while every proposal is accepted,
    /// else drops to one more than were accepted (a sequence that stops repeating its input
    /// costs one extra position a step, not `maxDepth`). Nothing proposed: unchanged.
    func nextDepth(current: Int, proposed: Int, accepted: Int) -> Int {
        guard proposed > 0 else { return current }
        if accepted >= proposed { return min(maxDepth, max(1, current) * 2) }
        return max(1, min(maxDepth, accepted + 1))
    }
}
