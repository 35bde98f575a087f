import Kernels
import Model

/// What the engine needs of a model: a batched forward pass over a paged cache.
/// Tests drive the scheduler with a fake that needs no weights.
public protocol BatchModel: AnyObject {
    var vocabSize: Int { get }
    var contextLength: Int { get }
    func makeCacheStorage(tokens: Int, blockSize: Int, type: KVCacheType) -> KVCacheStorage
    /// Logits [Σ logit rows, vocab] in batch order.
    func forward(_ batch: [BatchSequence], cache: KVCacheStorage) throws -> [Float]
}

extension LlamaModel: BatchModel {
    public var vocabSize: Int { config.vocabSize }
    public var contextLength: Int { config.contextLength }
}
