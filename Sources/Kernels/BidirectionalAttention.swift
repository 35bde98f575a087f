#if arch(x86_64)
import KernelsAVX512
#endif

/// Full (non-causal) softmax attention within each sequence of a packed batch, for
/// encoder models: every token attends to every token of its own sequence and to
/// nothing else, so inputs of different lengths share one batch without padding.
/// With AVX-512, blocks of 8 queries share each key and value load
/// (AVX512EncoderAttention); otherwise one query at a time with SIMD axpys.
public enum BidirectionalAttention {
    /// A sequence's tokens are rows start..<start+length of the packed batch.
    public struct Span: Sendable {
        public let start: Int
        public let length: Int
        public init(start: Int, length: Int) { self.start = start; self.length = length }
    }

    /// Queries per work item: enough to amortize gathering the head's keys.
    static let queryChunk = 32

    /// qkv: [nTokens, ld] with Q at column 0, K at `dim`, V at 2·`dim` (dim = heads·headSize);
    /// out: [nTokens, dim]. scale multiplies q·k before the softmax.
    public static func attend(qkv: UnsafePointer<Float>, ld: Int, heads: Int, headSize: Int, spans: [Span],
                              out: UnsafeMutablePointer<Float>, scale: Float, pool: ThreadPool, blocked: Bool? = nil) {
        #if arch(x86_64)
        if blocked ?? (CPUFeatures.hasAVX512VNNI && headSize % 16 == 0) {
            attendBlocked(qkv: qkv, ld: ld, heads: heads, headSize: headSize, spans: spans, out: out, scale: scale, pool: pool)
            return
        }
        #endif
        let dim = heads * headSize
        var items: [(span: Int, head: Int, q0: Int)] = []  // one per (sequence, head, query chunk)
        for (s, span) in spans.enumerated() {
            for h in 0..<heads {
                var q = 0
                while q < span.length { items.append((s, h, q)); q += queryChunk }
            }
        }
        let maxLen = spans.map(\.length).max() ?? 0
        pool.parallelFor(items.count) { range in
            let kt = UnsafeMutablePointer<Float>.allocate(capacity: headSize * maxLen)  // [headSize, L]: keys transposed
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: maxLen)       // [L]
            defer { kt.deallocate(); scores.deallocate() }
            var gathered: (span: Int, head: Int)? = nil
            for item in items[range] {
                let span = spans[item.span], L = span.length
                let base = qkv + span.start * ld
                let kCol = dim + item.head * headSize, vCol = 2 * dim + item.head * headSize
                if let g = gathered, g.span == item.span, g.head == item.head {
                    // this head's keys are already transposed in kt
                } else {
                    for j in 0..<L {
                        let k = base + j * ld + kCol
                        for c in 0..<headSize { kt[c * L + j] = k[c] }
                    }
                    gathered = (item.span, item.head)
                }
                for i in item.q0..<min(L, item.q0 + queryChunk) {
                    let q = base + i * ld + item.head * headSize
                    scores.initialize(repeating: 0, count: L)
                    for c in 0..<headSize { VectorOps.axpy(q[c] * scale, kt + c * L, scores, L) }
                    VectorOps.softmax(scores, L)
                    let o = out + (span.start + i) * dim + item.head * headSize  // [headSize]
                    o.initialize(repeating: 0, count: headSize)
                    for j in 0..<L { VectorOps.axpy(scores[j], base + j * ld + vCol, o, headSize) }
                }
            }
        }
    }

    #if arch(x86_64)
    /// The AVX-512 path: per (sequence, head, chunk of queries), keys transposed and padded to
    /// 16 columns once, then blocks of 8 queries: scores, softmax per row, weighted sum of values.
    static func attendBlocked(qkv: UnsafePointer<Float>, ld: Int, heads: Int, headSize hs: Int, spans: [Span],
                              out: UnsafeMutablePointer<Float>, scale: Float, pool: ThreadPool) {
        let dim = heads * hs
        var items: [(span: Int, head: Int, q0: Int)] = []
        for (s, span) in spans.enumerated() {
            for h in 0..<heads {
                var q = 0
                while q < span.length { items.append((s, h, q)); q += queryChunk }
            }
        }
        let maxPad = ((spans.map(\.length).max() ?? 0) + 15) / 16 * 16
        pool.parallelFor(items.count) { range in
            let kt = UnsafeMutablePointer<Float>.allocate(capacity: hs * maxPad)  // [hs, Lpad]
            let qs = UnsafeMutablePointer<Float>.allocate(capacity: 8 * hs)       // [8, hs] scaled queries
            let sc = UnsafeMutablePointer<Float>.allocate(capacity: 8 * maxPad)   // [8, Lpad] scores
            let vs = UnsafeMutablePointer<Float>.allocate(capacity: maxPad * hs)  // [L, hs] this head's values, contiguous
            defer { kt.deallocate(); qs.deallocate(); sc.deallocate(); vs.deallocate() }
            var gathered: (span: Int, head: Int)? = nil
            for item in items[range] {
                let span = spans[item.span], L = span.length, lpad = (L + 15) / 16 * 16
                let base = qkv + span.start * ld
                if let g = gathered, g.span == item.span, g.head == item.head {
                    // keys already in kt
                } else {
                    let kCol = dim + item.head * hs, vCol = 2 * dim + item.head * hs
                    for c in 0..<hs {
                        let row = kt + c * lpad
                        for j in 0..<L { row[j] = base[j * ld + kCol + c] }
                        for j in L..<lpad { row[j] = 0 }
                    }
                    for j in 0..<L { (vs + j * hs).update(from: base + j * ld + vCol, count: hs) }
                    gathered = (item.span, item.head)
                }
                var i0 = item.q0
                let end = min(L, item.q0 + queryChunk)
                while i0 < end {
                    let nq = min(8, end - i0)
                    for i in 0..<8 {
                        let q = base + (i0 + min(i, nq - 1)) * ld + item.head * hs
                        for c in 0..<hs { qs[i * hs + c] = i < nq ? q[c] * scale : 0 }
                    }
                    AVX512EncoderAttention.scores(qs: qs, headSize: hs, kt: kt, ldK: lpad, nj: lpad, s: sc, ldS: lpad)
                    for i in 0..<nq { AVX512EncoderAttention.softmax(sc + i * lpad, L) }
                    AVX512EncoderAttention.weightedSum(p: sc, ldP: lpad, nq: nq, v: vs, ldV: hs,
                                                       count: L, headSize: hs, out: out + (span.start + i0) * dim + item.head * hs,
                                                       ldo: dim)
                    i0 += nq
                }
            }
        }
    }
    #endif
}
