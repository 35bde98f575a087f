import Engine
import Kernels
import Model

/// A model without weights whose next token depends on every earlier token as
/// read back through the block table from the paged cache, so a wrong block
/// table, a lost block or a bad recompute changes the output.
final class FakeModel: BatchModel {
    let vocabSize: Int
    let contextLength: Int
    private(set) var batchSizes: [Int] = []

    init(vocab: Int = 97, context: Int = 4096) {
        vocabSize = vocab
        contextLength = context
    }

    /// f32 whatever is asked: token ids are stored in the cache and must read back exactly.
    func makeCacheStorage(tokens: Int, blockSize: Int, type: KVCacheType) -> KVCacheStorage {
        KVCacheStorage(layers: 1, kvDim: 1, blockSize: blockSize, blockCount: (tokens + blockSize - 1) / blockSize, type: .f32)
    }

    /// The token that follows `history` (the oracle the engine must reproduce).
    static func next(after history: [Int32], vocab: Int) -> Int32 {
        var h: UInt64 = 1469598103934665603
        for t in history { h = (h ^ UInt64(t)) &* 1099511628211 }
        return Int32(h % UInt64(vocab))
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
                var logits = [Float](repeating: 0, count: vocabSize)
                logits[Int(Self.next(after: history, vocab: vocabSize))] = 10
                out += logits
            }
        }
        return out
    }
}
