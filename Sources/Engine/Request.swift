import Grammar
import Model

/// A request's state inside the engine (vLLM's `Request`). The scheduler owns the
/// first group of fields (what is in the cache, and where); the engine owns the
/// second (sampling and what the caller has been told). Engine thread only.
final class Request {
    let request: GenerationRequest
    let arrival: Int             // admission order: FCFS and preemption go by it

    // Scheduler's.
    var tokens: [Int32]          // prompt, then the output so far
    var computed = 0             // tokens whose keys/values are in the cache
    var blocks: [Int32] = []     // block table
    var ring: [Int32] = []       // sliding-window layers' blocks, reused in turn (Scheduler.ringBlocks)
    var hashes: [UInt64] = []    // prefix hashes of the leading full blocks, registered
    var cachedTokens = 0         // prompt tokens found in the prefix cache at first admission
    var admitted = false         // scheduled at least once
    var paused = false           // its client reads slowly: skipped by steps, keeps its blocks
    var preemptedAt: Int?        // Scheduler.finishes when blocks ran short and it gave its own up
    var promptLogprobsSent = false
    /// A sibling's prompt log-probabilities taken at admission, sent with this step's outputs.
    var reusedPromptLogprobs: [TokenLogprob?]?
    /// The prefix-cache chain's root: 0 for the base model, a hash of the adapters otherwise.
    let cacheRoot: UInt64
    /// Tokens to propose next step (adapted to recent acceptance); nil until it first speculates.
    var speculationDepth: Int?
    /// Whether speculating still pays for it, from its acceptance (SpeculationCost's rule).
    var speculationControl = SpeculationControl()
    /// Positions whose keys and values the draft model holds in its own cache (same block
    /// table as the target's): rolled back with `computed`, zero after preemption.
    var draftComputed = 0
    /// Proposals verified for this request and those accepted, for its finish event (the access
    /// log's acceptance); counted before the tokens are emitted, since one of them may end it.
    var speculation = SpeculationUsage.none
    /// Where the answer stands in the client's predicted output, if it gave one: it proposes
    /// instead of the draft model, and prompt lookup only while the answer is off it.
    var prediction: PredictedOutput?

    // Engine's.
    let sink: GenerationSink
    var sampler: Sampler
    var matcher: GrammarMatcher?  // where a constrained sequence is in its grammar
    var generated = 0
    var promptLogprobs: [TokenLogprob?] = []
    var submittedAt: UInt64 = 0  // uptime nanoseconds
    /// The draft model's sampler for this sequence: its own random stream (derived from the
    /// seed) and penalty counts, so proposals never change the target's draws.
    var draftSampler: Sampler?
    /// The distinct tokens of the sequence past a draft's smaller vocabulary (which the draft
    /// scores too: identifiers a prompt repeats are rare tokens), and how many of its tokens
    /// lie past its common part and past the larger part (a language written in them: the draft
    /// scores the larger part, or the whole vocabulary).
    private var draftOwn: [Int32] = []
    private var draftOwnSet = Set<Int32>()
    private var draftUncommonCount = 0
    private var draftRareCount = 0
    private var draftScanned = 0

    /// What a draft model scores for one sequence: its first `rows` tokens (nil: the model's
    /// `logitRows`), its own tokens past them, or every token (`whole`).
    struct DraftVocabulary: Equatable {
        var own: [Int32]
        var rows: Int?
        var whole: Bool
    }

    /// The draft's vocabulary for this sequence's next proposals, from its tokens so far:
    /// `always` first (its tokens never count as rare), then the sequence's own. `first`: the
    /// model's `logitRows`; `common`: a smaller part for sequences that rarely leave it (0: none).
    func draftVocabulary(first: Int, common: Int = 0, always: Set<Int32> = []) -> DraftVocabulary {
        let low = common > 0 ? min(common, first) : first
        if draftScanned > tokens.count || draftScanned == 0 {
            draftScanned = 0; draftUncommonCount = 0; draftRareCount = 0
            draftOwn = always.filter { Int($0) >= low }.sorted()
            draftOwnSet = Set(draftOwn)
        }
        for id in tokens[draftScanned...] where Int(id) >= low && !always.contains(id) {
            draftUncommonCount += 1
            if Int(id) >= first { draftRareCount += 1 }
            if draftOwnSet.insert(id).inserted { draftOwn.append(id) }
        }
        draftScanned = tokens.count
        let whole = draftRareCount * Self.wholeVocabularyShare > tokens.count
        let narrow = low < first && !whole && draftUncommonCount * Self.commonVocabularyShare <= tokens.count
        return DraftVocabulary(own: draftOwn, rows: narrow ? low : nil, whole: whole)
    }

    /// Past one token in this many at or past the larger part (`draft_vocabulary`; control tokens aside),
    /// the draft scores them all: code and English hold none past Qwen's first 100,000;
    /// Chinese, Japanese, Korean and Russian answers 12-34 % (README, speculative decoding).
    static let wholeVocabularyShare = 50
    /// Past one token in this many at or past the common part, the draft scores the larger
    /// one: past Qwen's first 32,768 tokens lie 4-9 % of English and code, 20-26 % of French,
    /// German and Spanish, 58-71 % of Chinese, Japanese, Korean and Russian (README).
    static let commonVocabularyShare = 7

    init(request: GenerationRequest, sink: @escaping GenerationSink, arrival: Int) {
        self.request = request
        self.sink = sink
        self.arrival = arrival
        tokens = request.promptTokens
        sampler = Sampler(request.sampling, promptTokens: request.promptTokens)
        matcher = request.grammar.map { $0.matcher(lazy: request.lazyGrammar) }
        prediction = request.prediction.isEmpty || !request.speculative ? nil : PredictedOutput(tokens: request.prediction)
        cacheRoot = request.adapters.isEmpty ? 0
            : BlockManager.hash(parent: 0x4C6F_5241, tokens: Array(LoraSelection.cacheKey(request.adapters).utf8).map { Int32($0) }[...]) | 1
    }

    var promptCount: Int { request.promptTokens.count }
    var id: String { request.id }
    /// Still reading its original prompt for the first time (prompt logprobs wanted): every
    /// prompt position must be computed, so it skips the prefix cache (unless a sibling's scores
    /// were taken at admission: `promptLogprobsSent` is then set).
    var wantsPromptLogprobs: Bool { request.promptLogprobs != nil && !promptLogprobsSent }
    /// Has all its prompt in the cache and generates one token per step.
    var isGenerating: Bool { computed >= promptCount }
}
