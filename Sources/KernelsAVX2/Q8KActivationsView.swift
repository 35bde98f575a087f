/// Activations quantized per super-block of 256 to int8 with one float scale (ggml's
/// Q8_K), for the K-quant weight formats: the integer dot of a whole super-block,
/// sub-block scales included, is exact, and only one float multiply-add per
/// super-block remains. `Kernels` owns the buffers and fills them (Q8KBuffer).
// @unchecked Sendable: a read-only view; its owner (Q8KBuffer) fills the buffers before the
// parallel region that reads them and frees them after it.
public struct Q8KActivationsView: @unchecked Sendable {
    public let qs: UnsafePointer<Int8>     // [nTokens, superBlocks * 256], natural order
    /// The same quants in the order of Q4_K/Q5_K nibbles: per 128 elements,
    /// [0..<32, 64..<96, 32..<64, 96..<128], so one 64-byte load meets the low (or high)
    /// nibbles of 64 weight bytes.
    public let qsK4: UnsafePointer<Int8>   // [nTokens, superBlocks * 256]
    public let d: UnsafePointer<Float>     // [nTokens, superBlocks] scale: x ≈ d · q
    public let bsums: UnsafePointer<Int16> // [nTokens, superBlocks * 16] Σq of each 16 elements
    /// The sums per 32 as Q4_K/Q5_K's mins meet them, two to a dword: dword k of a super-block
    /// is Σq of elements 64k..<64k+32 (low int16) | of 64k+32..<64k+64 (high int16).
    public let pairSums: UnsafePointer<Int32> // [nTokens, superBlocks * 4]
    public let superBlocks: Int            // super-blocks per token (cols / 256)
    public let nTokens: Int

    @inlinable  // built into the caller, so constructing a view runs no AVX code
    public init(qs: UnsafePointer<Int8>, qsK4: UnsafePointer<Int8>, d: UnsafePointer<Float>, bsums: UnsafePointer<Int16>,
                pairSums: UnsafePointer<Int32>, superBlocks: Int, nTokens: Int) {
        self.qs = qs
        self.qsK4 = qsK4
        self.d = d
        self.bsums = bsums
        self.pairSums = pairSums
        self.superBlocks = superBlocks
        self.nTokens = nTokens
    }
}
