/// Causal grouped-query attention of one token over a paged KV cache.
public enum Attention {
    /// q: [nHead, headSize] of the token at `position`; it attends to positions
    /// max(0, position - window + 1)...position of its sequence, found through
    /// `blockTable`. out: [nHead, headSize]. scores: scratch of ≥ position + 1 floats.
    public static func attend(q: UnsafePointer<Float>, position: Int, window: Int? = nil,
                              blockTable: UnsafePointer<Int32>, storage: KVCacheStorage, layer: Int,
                              nHead: Int, nKVHead: Int, headSize: Int, scale: Float,
                              out: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>) {
        let group = nHead / nKVHead
        let bs = storage.blockSize
        let first = window.map { max(0, position - $0 + 1) } ?? 0
        let n = position - first + 1
        for h in 0..<nHead {
            let kvh = h / group
            let qh = q + h * headSize
            for p in first...position {
                let k = storage.key(layer: layer, block: Int(blockTable[p / bs]), slot: p % bs) + kvh * headSize
                scores[p - first] = VectorOps.dot(qh, k, headSize) * scale
            }
            VectorOps.softmax(scores, n)
            let oh = out + h * headSize
            oh.update(repeating: 0, count: headSize)
            for p in first...position {
                let v = storage.value(layer: layer, block: Int(blockTable[p / bs]), slot: p % bs) + kvh * headSize
                VectorOps.axpy(scores[p - first], v, oh, headSize)
            }
        }
    }
}
