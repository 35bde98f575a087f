#if arch(x86_64)
import KernelsAVX2
#endif

/// The two products of a low-rank (LoRA) update for one token, y += B·(s·A·x): with AVX2 one
/// pass over x for four of A's rows and one pass over y for all of B's columns (`AVX2Lora`),
/// else dot products and axpys. The same path serves a token alone or in any batch.
public enum LowRank {
    /// t[k] = A[k]·x for k in 0..<rank; A is [rank, cols].
    public static func project(_ a: UnsafePointer<Float>, rank: Int, cols: Int, x: UnsafePointer<Float>,
                               into t: UnsafeMutablePointer<Float>) {
        #if arch(x86_64)
        if CPUFeatures.hasAVX2 {
            AVX2Lora.dots(a, rows: rank, cols: cols, x: x, into: t)
            return
        }
        #endif
        for k in 0..<rank { t[k] = VectorOps.dot(a + k * cols, x, cols) }
    }

    /// y += Σ_k t[k] · bT[k] (bT is [rank, rows]: B transposed).
    public static func expand(_ t: UnsafePointer<Float>, rank: Int, bT: UnsafePointer<Float>, rows: Int,
                              into y: UnsafeMutablePointer<Float>) {
        #if arch(x86_64)
        if CPUFeatures.hasAVX2 {
            AVX2Lora.addCombination(t, count: rank, of: bT, rows: rows, into: y)
            return
        }
        #endif
        for k in 0..<rank { VectorOps.axpy(t[k], bT + k * rows, y, rows) }
    }
}
