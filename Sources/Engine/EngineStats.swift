/// A snapshot of the engine for metrics and health.
public struct EngineStats: Sendable, Equatable {
    public var running = 0
    public var waiting = 0
    public var usedBlocks = 0
    public var totalBlocks = 0
    /// KV cache bytes, all layers, and those held by requests: with sliding-window layers in
    /// a pool of their own, blocks of the two pools differ in size.
    public var cacheBytes = 0
    public var usedCacheBytes = 0
    public var prefixQueries = 0      // prompt blocks looked up, once per request
    public var prefixHits = 0         // of which found cached
    public var preemptions = 0
    public var steps = 0
    public var lastBatchTokens = 0
    public var promptTokens = 0       // computed, excluding cache hits
    public var generatedTokens = 0
    /// Seconds the engine thread has spent in forward passes, and working at all (not
    /// waiting for requests): their ratio is the share of its work that is inference.
    public var forwardSeconds = 0.0
    public var busySeconds = 0.0
    /// Structured output: token masks applied, and the seconds they took.
    public var grammarMasks = 0
    public var grammarMaskSeconds = 0.0
    /// Masks computed on another thread while the forward pass ran (of `grammarMasks`).
    public var grammarMasksOverlapped = 0
    /// Tokens greedy constrained sequences took without a mask (the grammar allowed their best).
    public var grammarFastPicks = 0
    /// Speculative decoding: tokens proposed and accepted (the latter are emitted without a step
    /// of their own), and entries verified.
    public var speculativeProposed = 0
    public var speculativeAccepted = 0
    /// Of those, prompt lookup's (with a draft model, lookup proposes first where it pays).
    public var speculativeLookupProposed = 0
    public var speculativeLookupAccepted = 0
    /// Of those, clients' predicted outputs' (`GenerationRequest.prediction`; not lookup's).
    public var speculativePredictionProposed = 0
    public var speculativePredictionAccepted = 0
    public var speculativeVerifications = 0
    public var loopAlive = true

    public init() {}
    public var cacheUsage: Double {
        if cacheBytes > 0 { return Double(usedCacheBytes) / Double(cacheBytes) }
        return totalBlocks == 0 ? 0 : Double(usedBlocks) / Double(totalBlocks)
    }
}
