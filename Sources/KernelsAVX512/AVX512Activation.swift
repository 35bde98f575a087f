#if arch(x86_64)
/// SwiGLU 16 lanes at a time: the same steps as `VectorOps.swiglu` and its `exp8` (same
/// constants, same operations in the same order, no fused multiply-adds), so every lane
/// gives the same bits (`exp16` gives 0 below e^−87.3 where `exp8` gives e^−87.3, and
/// 1 + e^−87.3 rounds to 1 either way); the portable one runs on SSE registers.
public enum AVX512Activation {
    /// gate[i] = gate[i] / (1 + e^(−gate[i])) · up[i] for i in 0..<n, n a multiple of 16.
    public static func swiglu(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, _ n: Int) {
        let rg = UnsafeMutableRawPointer(gate), ru = UnsafeRawPointer(up)
        var i = 0
        while i + 16 <= n {
            let g = rg.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
            let v = g / (1 + exp16(-g)) * ru.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
            rg.storeBytes(of: v, toByteOffset: 4 * i, as: SIMD16<Float>.self)
            i += 16
        }
    }

    /// e^x lane by lane (Cephes expf, relative error ≈ 2e-7, as VectorOps.exp8); −∞ gives 0.
    @inline(__always)
    static func exp16(_ v: SIMD16<Float>) -> SIMD16<Float> {
        let lo = SIMD16<Float>(repeating: -87.3), hi = SIMD16<Float>(repeating: 88.3)
        let x = v.replacing(with: lo, where: v .< lo).replacing(with: hi, where: v .> hi)
        let magic = SIMD16<Float>(repeating: 12_582_912)
        let t = x * 1.442_695_04 + magic
        let n = t - magic
        let ni = unsafeBitCast(t, to: SIMD16<Int32>.self) &- 0x4B40_0000
        var r = x - n * 0.693_359_375
        r = r - n * -2.121_944_4e-4
        var p = SIMD16<Float>(repeating: 1.987_569_1e-4)
        p = p * r + 1.398_199_9e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_6e-2
        p = p * r + 1.666_666_5e-1
        p = p * r + 5.000_000_1e-1
        let er = p * (r * r) + r + 1
        let bits = (ni &+ 127) &<< 23
        let e = er * unsafeBitCast(bits, to: SIMD16<Float>.self)
        return e.replacing(with: 0, where: v .< lo)  // below e^-87.3 (and −∞ padding): 0
    }
}
#endif
