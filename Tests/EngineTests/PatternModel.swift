import Engine
import Kernels
import Model

/// A model without weights whose next token depends on the last `order` tokens, read back
/// from the paged cache, and whose output falls into cycles: prompt lookup finds the cycle
/// and its proposals are accepted, while its shorter n-grams also propose wrong tokens that
/// must be rejected. Reading history from the cache makes a bad rollback (a rejected
/// proposal's key left in place of the real token's) change the output.
///
/// Its logits are soft (the favourite token, a runner-up, then the rest), so sampling at
/// temperature > 0 really draws.
final class PatternModel: BatchModel {
    let vocabSize: Int
    let contextLength = 4096
    let order: Int
    private(set) var batchSizes: [Int] = []

    init(vocab: Int = 11, order: Int = 3) {
        vocabSize = vocab
        self.order = order
    }

    func makeCacheStorage(tokens: Int, blockSize: Int, type: KVCacheType) -> KVCacheStorage {
        KVCacheStorage(layers: 1, kvDim: 1, blockSize: blockSize, blockCount: (tokens + blockSize - 1) / blockSize, type: .f32)
    }

    /// The favourite next token after `history` (the greedy oracle).
    static func next(after history: ArraySlice<Int32>, vocab: Int) -> Int32 {
        var h: UInt64 = 1469598103934665603
        for t in history { h = (h ^ UInt64(t)) &* 1099511628211 }
        return Int32(h % UInt64(vocab))
    }

    func logits(after history: [Int32]) -> [Float] {
        let best = Self.next(after: history.suffix(order), vocab: vocabSize)
        var l = [Float](repeating: 0, count: vocabSize)
        for i in 0..<vocabSize { l[i] = Float((i * 7 + history.count) % 5) * 0.3 }  // varies with position
        l[Int(best)] = 3
        l[Int((best + 1) % Int32(vocabSize))] = 2
        return l
    }

    func forward(_ batch: [BatchSequence], cache: KVCacheStorage) throws -> [Float] {
        batchSizes.append(batch.reduce(0) { $0 + $1.tokens.count })
        var out: [Float] = []
        for seq in batch {
            for (i, t) in seq.tokens.enumerated() {
                let pos = seq.startPosition + i
                var f = Float(t)
                cache.store(layer: 0, block: Int(seq.blockTable[pos / cache.blockSize]), slot: pos % cache.blockSize, key: &f, value: &f)
            }
            let rows: [Int]
            switch seq.logits {
            case .none: rows = []
            case .last: rows = [seq.tokens.count - 1]
            case .all: rows = Array(0..<seq.tokens.count)
            }
            for i in rows {
                let end = seq.startPosition + i
                let history = (0...end).map { p in
                    var f: Float = 0
                    cache.readKey(layer: 0, block: Int(seq.blockTable[p / cache.blockSize]), slot: p % cache.blockSize, into: &f)
                    return Int32(f)
                }
                out += logits(after: history)
            }
        }
        return out
    }
}

/// A test draft built around a PatternModel (`inner`): its vocabulary, context and cache are
/// the inner model's; the draft changes only what `forward` returns.
protocol PatternModelWrapper: BatchModel {
    var inner: PatternModel { get }
}

extension PatternModelWrapper {
    var vocabSize: Int { inner.vocabSize }
    var contextLength: Int { inner.contextLength }
    func makeCacheStorage(tokens: Int, blockSize: Int, type: KVCacheType) -> KVCacheStorage {
        inner.makeCacheStorage(tokens: tokens, blockSize: blockSize, type: type)
    }
}
