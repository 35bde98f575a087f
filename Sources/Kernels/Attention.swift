#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if arch(x86_64)
import KernelsAVX2
#endif

/// Causal grouped-query attention of one token over a paged KV cache, with an
/// online softmax: keys are scored one cache block at a time and the running
/// output is rescaled when the maximum grows, so no score row is materialised.
public enum Attention {
    /// q: [nHead, headSize] of the token at `position`; it attends to positions
    /// max(0, position - window + 1)...position of its sequence, found through
    /// `blockTable`. out: [nHead, headSize].
    public static func attend(q: UnsafePointer<Float>, position: Int, window: Int? = nil,
                              blockTable: UnsafePointer<Int32>, storage: KVCacheStorage, layer: Int,
                              nHead: Int, nKVHead: Int, headSize: Int, scale: Float,
                              out: UnsafeMutablePointer<Float>) {
        let first = window.map { max(0, position - $0 + 1) } ?? 0
        let keys = storage.keys(layer: layer), values = storage.values(layer: layer)
        #if arch(x86_64)
        if CPUFeatures.hasAVX2, AVX2Attention.supports(headSize: headSize, blockSize: storage.blockSize) {
            AVX2Attention.attend(q: q, first: first, last: position, blockTable: blockTable, keys: keys, values: values,
                                 f16: storage.type == .f16, blockSize: storage.blockSize, kvDim: storage.kvDim, nHead: nHead, nKVHead: nKVHead,
                                 headSize: headSize, scale: scale, out: out)
            return
        }
        #endif
        portable(q: q, first: first, last: position, blockTable: blockTable, keys: keys, values: values, type: storage.type,
                 blockSize: storage.blockSize, kvDim: storage.kvDim, nHead: nHead, nKVHead: nKVHead,
                 headSize: headSize, scale: scale, out: out)
    }

    /// The same in Swift SIMD. keys/values: the layer's [blocks, blockSize, kvDim] elements of `type`.
    static func portable(q: UnsafePointer<Float>, first: Int, last: Int, blockTable: UnsafePointer<Int32>,
                         keys: UnsafeRawPointer, values: UnsafeRawPointer, type: KVCacheType, blockSize bs: Int, kvDim: Int,
                         nHead: Int, nKVHead: Int, headSize hs: Int, scale: Float, out: UnsafeMutablePointer<Float>) {
        let group = nHead / nKVHead
        let sc = UnsafeMutablePointer<Float>.allocate(capacity: (bs + 7) / 8 * 8)  // [blockSize] scores of one block
        let kv = UnsafeMutablePointer<Float>.allocate(capacity: 2 * hs)           // one key and one value as floats
        defer { sc.deallocate(); kv.deallocate() }
        let eb = type.elementBytes
        for h in 0..<nHead {
            let kvh = h / group
            let qh = q + h * hs, oh = out + h * hs
            oh.update(repeating: 0, count: hs)
            var m = -Float.infinity, l: Float = 0
            var p = first
            while p <= last {
                let s0 = p % bs, cnt = min(bs - s0, last - p + 1)
                let blk = Int(blockTable[p / bs])
                let off = (blk * bs + s0) * kvDim + kvh * hs
                var mx = -Float.infinity
                for i in 0..<cnt {
                    KVCacheStorage.decodeKey(keys, block: blk, slot: s0 + i, blockSize: bs, kvDim: kvDim, from: kvh * hs, count: hs,
                                             type: type, into: kv)
                    sc[i] = VectorOps.dot(qh, kv, hs) * scale
                    mx = max(mx, sc[i])
                }
                let mNew = max(m, mx)
                let corr = m == -.infinity ? 0 : expf(m - mNew)
                if corr != 1 { for j in 0..<hs { oh[j] *= corr } }
                l *= corr
                for i in 0..<cnt {
                    let e = expf(sc[i] - mNew)
                    l += e
                    KVCacheStorage.decode(values + (off + i * kvDim) * eb, into: kv + hs, hs, type)
                    VectorOps.axpy(e, kv + hs, oh, hs)
                }
                m = mNew
                p += cnt
            }
            let inv = 1 / l
            for j in 0..<hs { oh[j] *= inv }
        }
    }
}
