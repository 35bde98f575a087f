#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import GGUF
#if arch(x86_64)
import KernelsAVX2
#endif

/// Weights rewritten in Q4_0 at load time: a draft model only proposes tokens that the target
/// verifies, so it can trade a little of its own accuracy for fewer bytes read per token
/// (Qwen2.5-Coder-0.5B Q4_K_M keeps most of its matrices in Q5_0 and Q8_0, its output in Q8_0).
public enum Requantize {
    /// Whether `w` would read fewer bytes as Q4_0 and has whole Q4_0 blocks per row.
    public static func shrinks(_ w: WeightMatrix) -> Bool { w.rows > 0 && shrinks(w.type, cols: w.cols) }

    /// Whether rows of `cols` elements of `type` would be fewer bytes as Q4_0 (whole blocks only).
    public static func shrinks(_ type: GGMLType, cols: Int) -> Bool {
        guard cols % 32 == 0, Dequantize.supports(type), let bytes = type.byteCount(elements: cols) else { return false }
        return bytes > q4_0Bytes(rows: 1, cols: cols)
    }

    /// Bytes of `rows` rows of `cols` elements in Q4_0.
    public static func q4_0Bytes(rows: Int, cols: Int) -> Int { rows * (cols / 32) * GGMLType.q4_0.blockBytes }

    /// Rows `rows` of `w` written as Q4_0 rows into `out` (row `rows.lowerBound` first).
    public static func q4_0(_ w: WeightMatrix, rows: Range<Int>, into out: UnsafeMutableRawPointer) {
        let nb = w.cols / 32, rowBytes = nb * GGMLType.q4_0.blockBytes
        let x = UnsafeMutablePointer<Float>.allocate(capacity: w.cols)
        defer { x.deallocate() }
        for r in rows {
            w.dequantizeRow(r, into: x)
            let row = out + (r - rows.lowerBound) * rowBytes
            for b in 0..<nb { q4_0Block(x + 32 * b, row + b * GGMLType.q4_0.blockBytes) }
        }
    }

    /// One block of 32: the scale maps the value of largest magnitude to -8 (so its sign picks
    /// which end of the 16 levels is used fully), the others rounded to the nearest level. A
    /// scale past f16's range is clamped to it (the block's largest values then saturate).
    @inline(__always) static func q4_0Block(_ x: UnsafePointer<Float>, _ out: UnsafeMutableRawPointer) {
        var extreme: Float = 0
        for j in 0..<32 where abs(x[j]) > abs(extreme) { extreme = x[j] }
        let d = halfToFloat(floatToHalf(max(-65504, min(65504, extreme / -8))))
        let inv: Float = d != 0 ? 1 / d : 0
        out.storeBytes(of: floatToHalf(d), toByteOffset: 0, as: UInt16.self)
        #if arch(x86_64)
        if CPUFeatures.hasAVX2 { return AVX2Requantize.q4_0Nibbles(x, inv, out + 2) }
        #endif
        q4_0Nibbles(x, inv, out + 2)
    }

    /// The nibbles of a block, element by element (`AVX2Requantize.q4_0Nibbles` gives the same bytes).
    static func q4_0Nibbles(_ x: UnsafePointer<Float>, _ inv: Float, _ out: UnsafeMutableRawPointer) {
        let qs = out.assumingMemoryBound(to: UInt8.self)
        // NaN gives level 8 (zero); the clamps keep every conversion in range.
        let level = { (v: Float) -> UInt8 in v.isNaN ? 8 : UInt8(min(15, max(0, (v * inv + 8.5).rounded(.down)))) }
        for j in 0..<16 { qs[j] = level(x[j]) | level(x[j + 16]) << 4 }
    }
}

extension PackedWeights {
    /// Rows `0..<rows` of `w` as a Q4_0 matrix this object owns, packed for the backend's kernel
    /// where it has a layout (AVX2 and AVX-512 VNNI: then only packed, `WeightMatrix.onlyPacked`, for
    /// `MatMul.multiply`, whose paths there read that layout; the plain rows, written first, are freed). The file's
    /// pages of `w` are the caller's to drop.
    public func requantizedQ4_0(_ w: WeightMatrix, rows: Int) -> WeightMatrix {
        let n = min(rows, w.rows)
        let size = Requantize.q4_0Bytes(rows: n, cols: w.cols)
        #if arch(x86_64)
        let packs = enabled && (backend == .avx2 && CPUFeatures.hasAVX2 || backend == .avx512 && CPUFeatures.hasAVX512VNNI)
            && AVX2Packed32.supports(typeID: GGMLType.q4_0.rawValue)
        #else
        let packs = false
        #endif
        let out = packs ? UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64) : own(bytes: size)
        let chunks = min(n, 4 * max(1, sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        nonisolated(unsafe) let target = out
        let rowBytes = Requantize.q4_0Bytes(rows: 1, cols: w.cols)
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = c * n / chunks, hi = (c + 1) * n / chunks
            Requantize.q4_0(w, rows: lo..<hi, into: target + lo * rowBytes)
        }
        let plain = WeightMatrix(type: .q4_0, data: UnsafeRawPointer(out), rows: n, cols: w.cols)
        guard packs else { return plain }
        defer { out.deallocate() }
        if let packed = pack32(plain).packed, let only = WeightMatrix(type: .q4_0, onlyPacked: packed, rows: n, cols: w.cols) {
            return only
        }
        // (Not reached where the backend packs Q4_0: the plain rows are then kept as they are.)
        let kept = own(bytes: size)
        kept.copyMemory(from: out, byteCount: size)
        return WeightMatrix(type: .q4_0, data: UnsafeRawPointer(kept), rows: n, cols: w.cols)
    }
}
