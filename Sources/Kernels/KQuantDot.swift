import GGUF
import KernelsAVX2

/// The reference for every K-quant kernel (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and IQ4_XS against Q8_K activations),
/// in plain Swift, one element at a time. Its arithmetic is the contract the SIMD
/// kernels keep bit for bit: per super-block s of a row and a token,
///
///     isum = Σ_j sc_j · Σ_{l ∈ j} q_l · a_l        (exact in int32; Q6_K: q − 32; Q3_K: sc − 32, q in −4...3;
///                                                  IQ4_XS: sc − 32, q its level, −127...113)
///     imin = Σ_j m_j · Σ_{l ∈ j} a_l                (Q2_K, Q4_K, Q5_K)
///     acc  = fma(d · d_a, Float(isum), acc)
///     acc  = fma(−(dmin · d_a), Float(imin), acc)   (Q2_K, Q4_K, Q5_K)
///
/// in order of s, from acc = 0. Integer sums do not depend on the order of their terms,
/// so any kernel that keeps the float steps above gives identical results whatever
/// the batch size, the tile or the thread.
public enum KQuantDot {
    public static func supports(_ type: GGMLType) -> Bool {
        switch type {
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_xs: return true
        default: return false
        }
    }

    /// Σ_c w[row, c] · x[t, c] of one weight row against token t of `act`.
    public static func dot(_ type: GGMLType, _ row: UnsafeRawPointer, _ act: Q8KActivationsView, token t: Int) -> Float {
        let nsb = act.superBlocks
        var acc: Float = 0
        var q = [Int32](repeating: 0, count: 256)
        var sc = [Int32](repeating: 0, count: 16), mn = [Int32](repeating: 0, count: 16)
        for s in 0..<nsb {
            let a = act.qs + (t * nsb + s) * 256
            let da = act.d[t * nsb + s]
            let bytes = type.blockBytes
            let x = row + s * bytes
            var d: Float = 0, dmin: Float = 0
            let groups: Int  // elements per scale
            var mins = false
            switch type {
            case .q2_K:
                groups = 16
                mins = true
                d = halfToFloat(x.loadUnaligned(fromByteOffset: 80, as: UInt16.self))
                dmin = halfToFloat(x.loadUnaligned(fromByteOffset: 82, as: UInt16.self))
                for e in 0..<256 { q[e] = Dequantize.elementQ2K(e, x) }
                for g in 0..<16 {
                    let byte = x.load(fromByteOffset: g, as: UInt8.self)
                    sc[g] = Int32(byte & 0x0F)
                    mn[g] = Int32(byte >> 4)
                }
            case .q6_K:
                groups = 16
                d = halfToFloat(x.loadUnaligned(fromByteOffset: 208, as: UInt16.self))
                let ql = x.assumingMemoryBound(to: UInt8.self), qh = ql + 128
                for e in 0..<256 {
                    let h = e / 128, r = e % 128, l = r % 32, quarter = r / 32
                    // Quarters 0, 1: low nibbles of ql[64h + l], ql[64h + 32 + l]; 2, 3: their high nibbles.
                    let byte = ql[64 * h + 32 * (quarter % 2) + l]
                    let nib = quarter < 2 ? byte & 0x0F : byte >> 4
                    let hb = (qh[32 * h + l] >> (2 * UInt8(quarter))) & 3
                    q[e] = Int32(nib | hb << 4) - 32
                }
                for g in 0..<16 { sc[g] = Int32((x + 192).load(fromByteOffset: g, as: Int8.self)) }
            case .iq4_xs:
                groups = 32
                d = halfToFloat(x.loadUnaligned(fromByteOffset: 0, as: UInt16.self))
                for e in 0..<256 { q[e] = Dequantize.elementIQ4XS(e, x) }
                for j in 0..<8 { sc[j] = Dequantize.scaleIQ4XS(j, x) }
            case .q3_K:
                groups = 16
                d = halfToFloat(x.loadUnaligned(fromByteOffset: 108, as: UInt16.self))
                for e in 0..<256 { q[e] = Dequantize.elementQ3K(e, x) }
                for g in 0..<16 { sc[g] = Dequantize.scaleQ3K(g, x + 96) }
            case .q4_K, .q5_K:
                groups = 32
                mins = true
                d = halfToFloat(x.loadUnaligned(fromByteOffset: 0, as: UInt16.self))
                dmin = halfToFloat(x.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
                let scales = (x + 4).assumingMemoryBound(to: UInt8.self)
                for j in 0..<8 {
                    let (s1, m1) = Dequantize.scaleMinK4(j, scales)
                    sc[j] = Int32(s1)
                    mn[j] = Int32(m1)
                }
                let five = type == .q5_K
                let qh = (x + 16).assumingMemoryBound(to: UInt8.self)
                let ql = (x + (five ? 48 : 16)).assumingMemoryBound(to: UInt8.self)
                for e in 0..<256 {
                    let j = e / 32, l = e % 32, byte = ql[32 * (j / 2) + l]
                    var v = Int32(j % 2 == 0 ? byte & 0x0F : byte >> 4)
                    if five, qh[l] & (1 << UInt8(j)) != 0 { v += 16 }
                    q[e] = v
                }
            default:
                preconditionFailure("KQuantDot: \(type) is not a K-quant")
            }
            var isum: Int32 = 0, imin: Int32 = 0
            for g in 0..<(256 / groups) {
                var dot: Int32 = 0, sum: Int32 = 0
                for e in (g * groups)..<((g + 1) * groups) {
                    dot += q[e] * Int32(a[e])
                    sum += Int32(a[e])
                }
                isum += sc[g] * dot
                if mins { imin += mn[g] * sum }
            }
            acc = acc.addingProduct(d * da, Float(isum))
            if mins { acc = acc.addingProduct(-(dmin * da), Float(imin)) }
        }
        return acc
    }
}
