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
    /// What its attention computes in fewer than 32 bits over a cache of `blockSize`-token blocks
    /// (`f16`: or f32), for the start-up log ("scores in int16", ...; `Attention.Plan.words`).
    func attentionArithmetic(blockSize: Int, f16: Bool) -> [String]
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
    public func attentionArithmetic(blockSize: Int, f16: Bool) -> [String] { [] }
    public func makeCacheStorage(tokens: Int, localTokens: Int, blockSize: Int, type: KVCacheType) -> KVCacheStorage {
        makeCacheStorage(tokens: tokens, blockSize: blockSize, type: type)
    }
}

extension LlamaModel: BatchModel {
    public var vocabSize: Int { config.vocabSize }
    public var contextLength: Int { config.contextLength }
    public func attentionArithmetic(blockSize: Int, f16: Bool) -> [String] {
        Attention.plan(backend: attentionBackend, headSize: config.headSize, blockSize: blockSize, f16: f16).words
    }
}
