#if arch(x86_64)
import _Builtin_intrinsics.intel

/// The two products of encoder (non-causal) attention for a block of 8 queries of one
/// head, on AVX-512: each key (or value) vector loaded once serves all 8 queries, so
/// the loops are FMA-bound rather than load-bound. Softmax runs between them
/// (Kernels/BidirectionalAttention.swift drives both).
public enum AVX512EncoderAttention {
    /// s[i·ldS + j] = Σ_c qs[i·headSize + c] · kt[c·ldK + j] for i < 8 and j < nj (a multiple of 16).
    /// qs: [8, headSize] (scaled queries; unused rows zero), kt: [headSize, ldK] keys transposed.
    public static func scores(qs: UnsafePointer<Float>, headSize hs: Int, kt: UnsafePointer<Float>, ldK: Int, nj: Int,
                              s: UnsafeMutablePointer<Float>, ldS: Int) {
        var j = 0
        while j < nj {
            var a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
            for c in 0..<hs {
                let k = _mm512_loadu_ps(kt + c * ldK + j)
                a0 = _mm512_fmadd_ps(_mm512_set1_ps(qs[c]), k, a0)
                a1 = _mm512_fmadd_ps(_mm512_set1_ps(qs[hs + c]), k, a1)
                a2 = _mm512_fmadd_ps(_mm512_set1_ps(qs[2 * hs + c]), k, a2)
                a3 = _mm512_fmadd_ps(_mm512_set1_ps(qs[3 * hs + c]), k, a3)
                a4 = _mm512_fmadd_ps(_mm512_set1_ps(qs[4 * hs + c]), k, a4)
                a5 = _mm512_fmadd_ps(_mm512_set1_ps(qs[5 * hs + c]), k, a5)
                a6 = _mm512_fmadd_ps(_mm512_set1_ps(qs[6 * hs + c]), k, a6)
                a7 = _mm512_fmadd_ps(_mm512_set1_ps(qs[7 * hs + c]), k, a7)
            }
            _mm512_storeu_ps(s + j, a0); _mm512_storeu_ps(s + ldS + j, a1)
            _mm512_storeu_ps(s + 2 * ldS + j, a2); _mm512_storeu_ps(s + 3 * ldS + j, a3)
            _mm512_storeu_ps(s + 4 * ldS + j, a4); _mm512_storeu_ps(s + 5 * ldS + j, a5)
            _mm512_storeu_ps(s + 6 * ldS + j, a6); _mm512_storeu_ps(s + 7 * ldS + j, a7)
            j += 16
        }
    }

    /// out[i·ldo + d] = Σ_{j<L} p[i·ldP + j] · v[j·ldV + d] for i < nq (≤ 8) and d < headSize
    /// (a multiple of 16). Rows of p past nq are not read.
    public static func weightedSum(p: UnsafePointer<Float>, ldP: Int, nq: Int, v: UnsafePointer<Float>, ldV: Int, count L: Int,
                                   headSize hs: Int, out: UnsafeMutablePointer<Float>, ldo: Int) {
        let r = (0..<8).map { p + min($0, nq - 1) * ldP }  // missing queries repeat the last and are not stored
        let p0 = r[0], p1 = r[1], p2 = r[2], p3 = r[3], p4 = r[4], p5 = r[5], p6 = r[6], p7 = r[7]
        var d = 0
        while d < hs {
            var a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
            for j in 0..<L {
                let x = _mm512_loadu_ps(v + j * ldV + d)
                a0 = _mm512_fmadd_ps(_mm512_set1_ps(p0[j]), x, a0)
                a1 = _mm512_fmadd_ps(_mm512_set1_ps(p1[j]), x, a1)
                a2 = _mm512_fmadd_ps(_mm512_set1_ps(p2[j]), x, a2)
                a3 = _mm512_fmadd_ps(_mm512_set1_ps(p3[j]), x, a3)
                a4 = _mm512_fmadd_ps(_mm512_set1_ps(p4[j]), x, a4)
                a5 = _mm512_fmadd_ps(_mm512_set1_ps(p5[j]), x, a5)
                a6 = _mm512_fmadd_ps(_mm512_set1_ps(p6[j]), x, a6)
                a7 = _mm512_fmadd_ps(_mm512_set1_ps(p7[j]), x, a7)
            }
            let acc = (a0, a1, a2, a3, a4, a5, a6, a7)
            withUnsafeBytes(of: acc) { raw in
                for i in 0..<nq {
                    _mm512_storeu_ps(out + i * ldo + d, raw.loadUnaligned(fromByteOffset: 64 * i, as: __m512.self))
                }
            }
            d += 16
        }
    }

    /// In-place softmax of x[0..<n] over 16 lanes (Kernels' VectorOps.softmax, 16 wide).
    public static func softmax(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        guard n > 0 else { return }
        let raw = UnsafeMutableRawPointer(x)
        var vm = SIMD16<Float>(repeating: -.infinity)
        var i = 0
        while i + 16 <= n { vm = pointwiseMax(vm, raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)); i += 16 }
        var m = vm.max()
        while i < n { m = max(m, x[i]); i += 1 }
        let mv = SIMD16<Float>(repeating: m)
        var acc = SIMD16<Float>()
        i = 0
        while i + 16 <= n {
            let e = AVX512Activation.exp16(raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self) - mv)
            raw.storeBytes(of: e, toByteOffset: 4 * i, as: SIMD16<Float>.self)
            acc += e
            i += 16
        }
        var tail = SIMD16<Float>(repeating: -.infinity)
        for k in 0..<(n - i) { tail[k] = x[i + k] }
        let et = AVX512Activation.exp16(tail - mv)
        for k in 0..<(n - i) { x[i + k] = et[k] }
        var sum = acc.sum()
        for k in 0..<(n - i) { sum += et[k] }
        let inv = SIMD16<Float>(repeating: 1 / sum)
        i = 0
        while i + 16 <= n {
            raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self) * inv, toByteOffset: 4 * i, as: SIMD16<Float>.self)
            i += 16
        }
        while i < n { x[i] *= inv[0]; i += 1 }
    }
}
#endif
