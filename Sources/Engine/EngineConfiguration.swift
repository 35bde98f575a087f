import Kernels

/// Scheduler and cache sizes.
public struct EngineConfiguration: Sendable {
    /// Tokens computed per step at most (prompt chunks plus one per running sequence).
    public var maxBatchTokens: Int = 512
    /// Sequences running at once at most.
    public var maxSequences: Int = 64
    /// KV cache size in tokens (rounded up to whole blocks).
    public var cacheTokens: Int = 16384
    public var blockSize: Int = 16
    public var prefixCaching: Bool = true
    /// Requests waiting at most; more are refused.
    public var maxWaiting: Int = 1024
    /// How the cache stores keys and values.
    public var cacheType: KVCacheType = .f16
    /// While some sequences are generating, prompt chunks are cut so a step takes about
    /// this long at the measured speed: their inter-token gaps stay near it however long
    /// a new prompt is. 0 turns it off (chunks of up to maxBatchTokens).
    public var stepTargetSeconds: Double = 0.6
    /// The target instead, when every prompt in progress or waiting fits one step
    /// (maxBatchTokens): bursts of short prompts then cost the generating sequences short
    /// gaps, while a long prompt keeps the long steps that keep its time to first token
    /// down. Raised to twice the measured step of as many sequences generating alone as are
    /// running and waiting, when that is longer (`Scheduler.shortPromptTarget`), and never
    /// above stepTargetSeconds. 0: stepTargetSeconds for all prompts.
    public var shortPromptStepTargetSeconds: Double = 0
    /// Speculative decoding (off by default).
    public var speculation = SpeculationConfiguration()

    public init(maxBatchTokens: Int = 512, maxSequences: Int = 64, cacheTokens: Int = 16384, blockSize: Int = 16,
                prefixCaching: Bool = true, maxWaiting: Int = 1024, cacheType: KVCacheType = .f16,
                stepTargetSeconds: Double = 0.6) {
        self.cacheType = cacheType
        self.stepTargetSeconds = stepTargetSeconds
        self.maxBatchTokens = maxBatchTokens
        self.maxSequences = maxSequences
        self.cacheTokens = cacheTokens
        self.blockSize = blockSize
        self.prefixCaching = prefixCaching
        self.maxWaiting = maxWaiting
    }

    public var blockCount: Int { (cacheTokens + blockSize - 1) / blockSize }
}
