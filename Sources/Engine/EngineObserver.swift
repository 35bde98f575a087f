/// Receives the engine's per-step facts for metrics. Called on the engine
/// thread: implementations must be quick and must not call back into the engine.
public protocol EngineObserver: AnyObject, Sendable {
    /// A forward pass computed `batchTokens` tokens for `sequences` sequences.
    func engineDidStep(batchTokens: Int, sequences: Int)
    /// A request was scheduled for the first time after waiting `queueSeconds`.
    func requestDidStart(queueSeconds: Double)
}
