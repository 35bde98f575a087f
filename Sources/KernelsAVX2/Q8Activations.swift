/// Activations quantized per block of 32 to int8, one float scale per block
/// (ggml's Q8_0, plus the block sums Q8_1 keeps). Both kernel paths read this
/// layout; `Kernels` owns the buffers and fills them.
// @unchecked Sendable: a read-only view; its owner (Q8Buffer) fills the buffers before the
// parallel region that reads them and frees them after it.
public struct Q8ActivationsView: @unchecked Sendable {
    public let qs: UnsafePointer<Int8>  // [nTokens, blocks * 32]
    public let d: UnsafePointer<Float>  // [nTokens, blocks] scale: x ≈ d · q
    public let s: UnsafePointer<Float>  // [nTokens, blocks] d · Σq, for weight formats with a per-block min
    public let blocks: Int              // blocks per token (cols / 32)
    public let nTokens: Int

    @inlinable  // built into the caller, so constructing a view runs no AVX code
    public init(qs: UnsafePointer<Int8>, d: UnsafePointer<Float>, s: UnsafePointer<Float>, blocks: Int, nTokens: Int) {
        self.qs = qs
        self.d = d
        self.s = s
        self.blocks = blocks
        self.nTokens = nTokens
    }
}
