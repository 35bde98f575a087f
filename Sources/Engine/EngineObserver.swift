/// Receives the engine's per-step facts for metrics. Called on the engine
/// thread: implementations must be quick and must not call back into the engine.
public protocol EngineObserver: AnyObject, Sendable {
    /// A forward pass computed `batchTokens` tokens for `sequences` sequences.
    func engineDidStep(batchTokens: Int, sequences: Int)
    /// A request was scheduled for the first time after waiting `queueSeconds`.
    func requestDidStart(queueSeconds: Double)
    /// A forward pass of the target model ended (a draft model's passes are not steps): how long
    /// it took against what the scheduler's pace expected when it cut the step (the pacing that
    /// keeps generating sequences' gaps near the step target). Failed passes too.
    func engineDidFinishStep(_ step: StepTiming)
}

extension EngineObserver {
    public func engineDidFinishStep(_ step: StepTiming) {}
}

/// One forward pass's size and time.
public struct StepTiming: Sendable {
    public var tokens: Int
    public var sequences: Int
    /// Of `tokens`, those of prompts (the rest: generated tokens and speculative proposals).
    public var promptTokens: Int
    public var seconds: Double
    /// The pace's estimate for a step of `tokens` before this one was folded in; nil until it has one.
    public var predictedSeconds: Double?
    /// The pass threw (its requests ended with an error).
    public var failed: Bool

    public init(tokens: Int, sequences: Int, promptTokens: Int, seconds: Double, predictedSeconds: Double?, failed: Bool = false) {
        self.tokens = tokens
        self.sequences = sequences
        self.promptTokens = promptTokens
        self.seconds = seconds
        self.predictedSeconds = predictedSeconds
        self.failed = failed
    }
}
