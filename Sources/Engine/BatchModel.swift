import Kernels
import Model

/// What the engine needs of a model: a batched forward pass over a paged cache.
/// Tests drive the scheduler with a fake that needs no weights.
public protocol BatchModel: AnyObject {
    var vocabSize: Int { get }
    var contextLength: Int { get }
    func makeCacheStorage(tokens: Int, blockSize: Int, type: KVCacheType) -> KVCacheStorage
    /// Widest sliding window of its layers, nil when all are global: sliding layers then get
    /// a pool of their own (`localTokens` slots) and each sequence a ring of blocks there.
    var slidingWindow: Int? { get }
    func makeCacheStorage(tokens: Int, localTokens: Int, blockSize: Int, type: KVCacheType) -> KVCacheStorage
    /// Tokens 0..<logitRows get logits (fewer for a sequence's `scoredRows`, and each sequence's
    /// `alsoScored`); the rest -infinity.
    var logitRows: Int { get }
    /// Whether attention over an f16 cache sums its values in bf16 (for the start-up log).
    var bf16ValueSums: Bool { get }
    /// Whether attention over an f16 cache sums its values in int16 products (for the start-up log).
    var int16ValueSums: Bool { get }
    /// Whether attention over an f16 cache scores in int16 products (for the start-up log).
    var int16AttentionScores: Bool { get }
    /// Logits [Σ logit rows, vocab] in batch order.
    func forward(_ batch: [BatchSequence], cache: KVCacheStorage) throws -> [Float]
    /// The same logits into `logits`, resized to them and reusing its storage: the engine keeps
    /// one array across steps, so a step's logits land on pages already touched.
    func forward(_ batch: [BatchSequence], cache: KVCacheStorage, into logits: inout [Float]) throws
}

extension BatchModel {
    public func forward(_ batch: [BatchSequence], cache: KVCacheStorage, into logits: inout [Float]) throws {
        logits = try forward(batch, cache: cache)
    }
    public var slidingWindow: Int? { nil }
    public var logitRows: Int { vocabSize }
    public var bf16ValueSums: Bool { false }
    public var int16ValueSums: Bool { false }
    public var int16AttentionScores: Bool { false }
    public func makeCacheStorage(tokens: Int, localTokens: Int, blockSize: Int, type: KVCacheType) -> KVCacheStorage {
        makeCacheStorage(tokens: tokens, blockSize: blockSize, type: type)
    }
}

extension LlamaModel: BatchModel {
    public var vocabSize: Int { config.vocabSize }
    public var contextLength: Int { config.contextLength }
    public var bf16ValueSums: Bool { attentionBackend == .avx512BF16 }
    public var int16ValueSums: Bool { attentionBackend == .avx512Int16 && Attention.int16Scores && Attention.int16Sums }
    public var int16AttentionScores: Bool { (attentionBackend == .avx512BF16 || attentionBackend == .avx512Int16) && Attention.int16Scores }
}
