import Grammar
import Model

/// One sequence to generate, as the API layer hands it to the engine.
public struct GenerationRequest: Sendable {
    public var id: String
    public var promptTokens: [Int32]
    public var sampling: SamplingParameters
    public var maxTokens: Int
    public var ignoreEOS: Bool
    /// Extra token ids that end generation, besides the model's end-of-generation ids.
    public var stopTokenIDs: Set<Int32>
    /// Top alternatives to report with each generated token's log-probability; nil: none.
    public var logprobs: Int?
    /// Same for prompt tokens (completions `echo` with `logprobs`); nil: none.
    public var promptLogprobs: Int?
    /// Requests with the same group and prompt (the `n` choices of one API call)
    /// share the prompt's cache blocks: the first computes them, the others wait
    /// for it and then find them in the prefix cache.
    public var shareGroup: String?
    /// Where the choices of one prompt leave its log-probabilities (completions `echo` with
    /// `logprobs` and `n` > 1): the first to compute the prompt scores it, the others take its
    /// scores and its cached blocks instead of computing every position again.
    public var promptLogprobsShare: SharedPromptLogprobs?
    /// Structured output: each token must keep the text in this grammar; nil: free text.
    public var grammar: TokenGrammar?
    /// Where `grammar` starts holding when it is lazy (a tool call under `auto`); nil: from the
    /// first token.
    public var lazyGrammar: LazyGrammar?
    /// Measure each generated token's probability and the entropy of the distribution it was
    /// drawn from (TokenConfidence): one more pass over the vocabulary per token.
    public var measureConfidence = false
    /// The client asked for confidence itself (not only the server's metrics): then a constrained
    /// token's confidence is always of the masked distribution it was drawn from.
    public var confidenceRequested = false
    /// Lets the engine speculate for this request when it is configured to (`"speculative": false`
    /// opts out, e.g. to benchmark). The tokens are the same either way.
    public var speculative = true
    /// Predicted Outputs (OpenAI's `prediction`): tokens the answer is expected to repeat, proposed
    /// as speculation whether or not the server speculates otherwise (`PredictedOutput`); the
    /// tokens generated are the same with or without them. Empty: none.
    public var prediction: [Int32] = []
    /// LoRA adapters applied to this sequence (none: the base model). Its cached prompt blocks
    /// are keyed by them.
    public var adapters: [LoraSelection] = []

    public init(id: String, promptTokens: [Int32], sampling: SamplingParameters = .greedy, maxTokens: Int,
                ignoreEOS: Bool = false, stopTokenIDs: Set<Int32> = [], logprobs: Int? = nil, promptLogprobs: Int? = nil) {
        self.id = id
        self.promptTokens = promptTokens
        self.sampling = sampling
        self.maxTokens = maxTokens
        self.ignoreEOS = ignoreEOS
        self.stopTokenIDs = stopTokenIDs
        self.logprobs = logprobs
        self.promptLogprobs = promptLogprobs
    }
}

/// The prompt log-probabilities that choices of one prompt share (`promptLogprobsShare`).
/// Read and written on the engine's thread only.
public final class SharedPromptLogprobs: @unchecked Sendable {
    var scores: [TokenLogprob?]?
    public init() {}
}

/// A token with its log-probability and the most likely alternatives.
public struct TokenLogprob: Sendable, Equatable {
    public var token: Int32
    public var logprob: Float
    public var top: [TokenAlternative]
    public init(token: Int32, logprob: Float, top: [TokenAlternative]) {
        self.token = token
        self.logprob = logprob
        self.top = top
    }
}

public struct TokenAlternative: Sendable, Equatable {
    public var token: Int32
    public var logprob: Float
    public init(token: Int32, logprob: Float) { self.token = token; self.logprob = logprob }
}

public enum FinishReason: Sendable, Equatable {
    case stop        // end-of-generation or stop token
    case length      // max tokens or context full
    case aborted     // cancelled by the caller
    case error(String)
}

/// What the engine tells a request's sink, on the engine thread, in order.
public enum GenerationEvent: Sendable {
    /// Prompt token log-probabilities (first token has none), once, before any token.
    case promptLogprobs([TokenLogprob?])
    /// A generated token, its log-probability entry when asked for, its confidence when measured,
    /// and whether it is a token of the request's predicted output that stood (`prediction`).
    case token(Int32, TokenLogprob?, TokenConfidence?, predicted: Bool)
    case finished(FinishReason, promptTokens: Int, completionTokens: Int, cachedTokens: Int, speculation: SpeculationUsage)
}

/// One request's speculative decoding: tokens proposed for it and how many of them the target
/// kept (emitted without a step of their own). Both zero when it never speculated (speculation
/// off, opted out, or nothing to propose).
public struct SpeculationUsage: Sendable, Equatable {
    public var proposed: Int
    public var accepted: Int
    /// Of those, the tokens the request's predicted output proposed (the ones that stood are
    /// counted as the client gets them: `GenerationEvent.token`'s `predicted`).
    public var predictionProposed: Int
    public init(proposed: Int = 0, accepted: Int = 0, predictionProposed: Int = 0) {
        self.proposed = proposed
        self.accepted = accepted
        self.predictionProposed = predictionProposed
    }
    public static let none = SpeculationUsage()
    public static func + (a: Self, b: Self) -> Self {
        .init(proposed: a.proposed + b.proposed, accepted: a.accepted + b.accepted,
              predictionProposed: a.predictionProposed + b.predictionProposed)
    }
    /// Accepted over proposed; nil when nothing was proposed.
    public var acceptance: Double? { proposed > 0 ? Double(accepted) / Double(proposed) : nil }
}

public typealias GenerationSink = @Sendable (GenerationEvent) -> Void

/// Why the engine refuses a request at submission.
public enum SubmissionError: Error, Equatable, CustomStringConvertible {
    case emptyPrompt
    case invalidToken(Int32)
    case contextExceeded(prompt: Int, maxTokens: Int, context: Int)
    case cacheTooSmall(prompt: Int, needed: Int, capacity: Int)
    case duplicateID(String)
    case shuttingDown
    case queueFull(Int)

    /// The limit `prompt + maxTokens` tokens break, if any: the smaller of the context and the
    /// KV cache is named (with a cache smaller than the context, max_model_len says the cache's
    /// size, and the context's message named a limit the request never had). The engine and the
    /// API's pre-stream check both ask it.
    public static func limit(prompt: Int, maxTokens: Int, context: Int, cache: Int) -> SubmissionError? {
        let need = prompt + maxTokens
        if cache < context && need > cache { return .cacheTooSmall(prompt: prompt, needed: need, capacity: cache) }
        if need > context { return .contextExceeded(prompt: prompt, maxTokens: maxTokens, context: context) }
        // A sequence that could not fit even alone would be preempted forever.
        if need > cache { return .cacheTooSmall(prompt: prompt, needed: need, capacity: cache) }
        return nil
    }

    public var description: String {
        switch self {
        case .emptyPrompt: return "the prompt is empty"
        case let .invalidToken(t): return "token id \(t) is outside the vocabulary"
        case let .contextExceeded(p, m, c):
            return "This model's maximum context length is \(c) tokens. However, you requested \(p + m) tokens (\(p) in the prompt, \(m) for the completion). Please reduce the prompt or max_tokens."
        case let .cacheTooSmall(_, n, c):
            return "the request needs \(n) tokens of KV cache but the server's cache holds \(c); reduce the prompt or max_tokens"
        case let .duplicateID(id): return "request id \(id) is already in use"
        case .shuttingDown: return "the server is shutting down"
        case let .queueFull(n): return "the server's queue is full (\(n) requests waiting); retry later"
        }
    }
}
