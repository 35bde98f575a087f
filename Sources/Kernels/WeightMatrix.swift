import GGUF
#if arch(x86_64)
import KernelsAVX2
#endif

/// A quantized weight matrix viewed in place in the mapped file (or a copy made at load):
/// `rows` rows (output features) of `cols` elements (input features), each row `rowBytes`
/// long, unless the rows exist only in a packed layout (`onlyPacked`).
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
    /// for Q4_0/Q4_1/Q5_0/Q8_0/IQ4_NL `AVX2Packed32`'s, which AVX2's and AVX-512 VNNI's kernels read; F16
    /// `AVX2F16Packed`'s), or nil.
    public let packed: UnsafeRawPointer?
    /// The rows exist only in the packed layout (`data` is `packed`): a copy made at load that no
    /// kernel reads row by row (`PackedWeights.requantizedQ4_0`). `row(_:)` must not be used;
    /// `dequantizeRow` and `copyRow` unpack.
    public let onlyPacked: Bool

    public init(type: GGMLType, data: UnsafeRawPointer, rows: Int, cols: Int, packed: UnsafeRawPointer? = nil) {
        self.init(type, data, rows, cols, packed, onlyPacked: false)
    }

    /// A matrix whose rows are only in `packed` (see `onlyPacked`), laid out by `AVX2Packed32`;
    /// nil where that layout has no kernel (no AVX2, another type, rows not whole blocks). So
    /// every such matrix can be multiplied by the AVX2 kernel and its rows unpacked.
    public init?(type: GGMLType, onlyPacked packed: UnsafeRawPointer, rows: Int, cols: Int) {
        #if arch(x86_64)
        guard CPUFeatures.hasAVX2, AVX2Packed32.supports(typeID: type.rawValue), cols % 32 == 0 else { return nil }
        self.init(type, packed, rows, cols, packed, onlyPacked: true)
        #else
        return nil
        #endif
    }

    private init(_ type: GGMLType, _ data: UnsafeRawPointer, _ rows: Int, _ cols: Int, _ packed: UnsafeRawPointer?,
                 onlyPacked: Bool) {
        self.type = type
        self.data = data
        self.rows = rows
        self.cols = cols
        self.rowBytes = type.byteCount(elements: cols) ?? 0
        self.packed = packed
        self.onlyPacked = onlyPacked
    }

    /// The first `n` rows: a view of the same bytes. A plain matrix keeps its packed layout only
    /// for whole tiles of 16 rows (or all rows), a K-quant or 32-element one (`AVX2Packed32`'s
    /// layout) for any `n` (their kernels store only the rows of a partial last tile that exist, and
    /// Q2_K and Q3_K have no kernel without it); a packed-only one keeps it for any `n` too.
    public func prefix(rows n: Int) -> WeightMatrix {
        if onlyPacked { return WeightMatrix(type, data, n, cols, packed, onlyPacked: true) }
        let keepsPacked = n == rows || n % 16 == 0 || KQuantDot.supports(type) || Self.hasPacked32Layout(type)
        return WeightMatrix(type: type, data: data, rows: n, cols: cols, packed: keepsPacked ? packed : nil)
    }

    /// Rows `r0...`: a view of the same bytes, with the packed copy of a K-quant or 32-element
    /// matrix from tile r0 / 16 on when r0 is a whole number of tiles (both layouts are tile after tile).
    public func suffix(fromRow r0: Int) -> WeightMatrix {
        let tail = packed.flatMap { p -> UnsafeRawPointer? in
            guard r0 % 16 == 0 else { return nil }
            if KQuantDot.supports(type), cols % 256 == 0 {
                return p + KQuantPacker.packedBytes(typeID: type.rawValue, rows: r0, superBlocks: cols / 256)
            }
            #if arch(x86_64)
            if Self.hasPacked32Layout(type), cols % 32 == 0 {
                return p + AVX2Packed32.packedBytes(typeID: type.rawValue, rows: r0, blocks: cols / 32)
            }
            #endif
            return nil
        }
        return WeightMatrix(type: type, data: data + r0 * rowBytes, rows: rows - r0, cols: cols, packed: tail)
    }

    /// A 32-element format, whose packed copy (`PackedWeights.pack32`) is in `AVX2Packed32`'s layout.
    static func hasPacked32Layout(_ type: GGMLType) -> Bool {
        #if arch(x86_64)
        return AVX2Packed32.supports(typeID: type.rawValue)
        #else
        return false
        #endif
    }

    /// Row r's `rowBytes` bytes in the file's layout: from a 32-element format's packed copy when
    /// there is one (the file's pages of a copied matrix were dropped at load, and reading them would
    /// bring them back page by page), else from `data`.
    public func copyRow(_ r: Int, into out: UnsafeMutableRawPointer) {
        #if arch(x86_64)
        if let packed, onlyPacked || Self.hasPacked32Layout(type) {
            AVX2Packed32.unpackRow(typeID: type.rawValue, packed: packed, blocks: cols / 32, row: r, into: out)
            return
        }
        #endif
        out.copyMemory(from: row(r), byteCount: rowBytes)
    }

    @inline(__always) public func row(_ r: Int) -> UnsafeRawPointer { data + r * rowBytes }

    /// Dequantizes one row into `out[0..<cols]`.
    @inline(__always) public func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        // Types are checked with Dequantize.supports when the model loads. A 32-element format's
        // packed copy is read instead of the file (`copyRow`): a tied embedding's lookups would
        // otherwise bring the dropped pages back one by one.
        if packed != nil && (onlyPacked || Self.hasPacked32Layout(type)) {
            // Every token's embedding lookup comes here on such a model: the row's bytes on the stack.
            withUnsafeTemporaryAllocation(byteCount: rowBytes, alignment: 16) { bytes in
                guard let p = bytes.baseAddress else { return }
                copyRow(r, into: p)
                try? Dequantize.row(type, UnsafeRawPointer(p), count: cols, into: out)
            }
            return
        }
        try? Dequantize.row(type, row(r), count: cols, into: out)
    }
}
