import GGUF

/// A quantized weight matrix viewed in place in the mapped file: `rows` rows
/// (output features) of `cols` elements (input features), each row `rowBytes` long.
// @unchecked Sendable: the pointers are read-only views of memory immutable after load (the
// read-only file mapping, or a PackedWeights copy written before the matrix is returned), and
// ModelWeights keeps both owners alive as long as any matrix.
public struct WeightMatrix: @unchecked Sendable {
    public let type: GGMLType
    public let data: UnsafeRawPointer
    public let rows: Int
    public let cols: Int
    public let rowBytes: Int
    /// The same weights repacked for a kernel's layout (`PackedWeights`: the K-quant kernels, and
    /// AVX2's for Q4_0/Q4_1/Q5_0), or nil.
    public let packed: UnsafeRawPointer?

    public init(type: GGMLType, data: UnsafeRawPointer, rows: Int, cols: Int, packed: UnsafeRawPointer? = nil) {
        self.type = type
        self.data = data
        self.rows = rows
        self.cols = cols
        self.rowBytes = type.byteCount(elements: cols) ?? 0
        self.packed = packed
    }

    @inline(__always) public func row(_ r: Int) -> UnsafeRawPointer { data + r * rowBytes }

    /// Dequantizes one row into `out[0..<cols]`.
    @inline(__always) public func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        // Types are checked with Dequantize.supports when the model loads.
        try? Dequantize.row(type, row(r), count: cols, into: out)
    }
}
