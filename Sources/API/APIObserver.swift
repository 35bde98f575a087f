import Engine

/// What one generation request cost and how fast it went, for metrics and the access log.
public struct GenerationReport: Sendable {
    public var requestID: String
    public var endpoint: String          // "/v1/completions" or "/v1/chat/completions"
    public var model: String
    /// The LoRA adapter the request used (its first, when several); nil: the base model.
    public var adapter: String? = nil
    public var promptTokens: Int         // as in the response's usage
    public var completionTokens: Int     // as in the response's usage
    public var timeToFirstToken: Double? // seconds from the request's arrival
    public var duration: Double          // seconds from arrival to the last token
    public var finishReasons: [String]
    public var stream: Bool
    public var prompt: String?           // only when prompt logging is on
    public var output: [String]?         // only when prompt logging is on
    /// One per choice whose tokens were measured (GenerationRequest.measureConfidence) and that has any.
    public var confidence: [AnswerConfidence] = []
    /// Speculative decoding over all choices: tokens proposed and accepted (zero: none proposed).
    public var speculation: SpeculationUsage = .none
}

/// Receives per-request facts from the API layer, on the request's own output queue
/// (never the engine thread), from many requests at once: implementations must be thread-safe.
public protocol APIObserver: AnyObject, Sendable {
    func interTokenLatency(_ seconds: Double)
    func generationFinished(_ report: GenerationReport)
    /// A stream's client stopped reading, so its sequences were paused (`aborted`: false), or
    /// stayed paused past the slow-reader timeout and the request was ended (`aborted`: true).
    func slowReader(aborted: Bool)
}

extension APIObserver {
    public func slowReader(aborted: Bool) {}
}
