#if arch(x86_64)
import _Builtin_intrinsics.intel

/// F16 weights against float activations on AVX-512, for the embedding models (whose
/// weights stay F16): a tile of weight rows is widened to float once (vcvtph2ps) into
/// scratch that stays in L2, then a 4-row × 6-token register block does 24 FMAs per
/// 10 loads over the columns. Each output is one dot product with a fixed order, so a
/// token's result does not depend on the batch around it.
public enum AVX512F16MatMul {
    /// y[t·ldy + r] = Σ_c w[r, c] · x[t·cols + c] for r in r0..<r1, t in 0..<nTokens.
    /// w: F16 rows of `cols` (a multiple of 16); scratch: (r1 - r0) · cols floats.
    public static func rows(w: UnsafeRawPointer, cols: Int, r0: Int, r1: Int, x: UnsafePointer<Float>, nTokens: Int,
                            y: UnsafeMutablePointer<Float>, ldy: Int, scratch: UnsafeMutablePointer<Float>) {
        let n = r1 - r0
        for r in 0..<n {  // [n, cols] floats
            let src = w + (r0 + r) * cols * 2, dst = scratch + r * cols
            var c = 0
            while c < cols {
                _mm512_storeu_ps(dst + c, _mm512_cvtph_ps(_mm256_loadu_si256((src + 2 * c).assumingMemoryBound(to: __m256i.self))))
                c += 16
            }
        }
        var t = 0
        while t < nTokens {
            let kt = min(6, nTokens - t)  // tokens in this group; missing ones repeat the first and are not stored
            let x0 = x + t * cols, x1 = kt > 1 ? x0 + cols : x0, x2 = kt > 2 ? x0 + 2 * cols : x0
            let x3 = kt > 3 ? x0 + 3 * cols : x0, x4 = kt > 4 ? x0 + 4 * cols : x0, x5 = kt > 5 ? x0 + 5 * cols : x0
            var r = 0
            while r < n {
                let kr = min(4, n - r)
                let w0 = scratch + r * cols, w1 = kr > 1 ? w0 + cols : w0, w2 = kr > 2 ? w0 + 2 * cols : w0, w3 = kr > 3 ? w0 + 3 * cols : w0
                var a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a04 = a00, a05 = a00
                var a10 = a00, a11 = a00, a12 = a00, a13 = a00, a14 = a00, a15 = a00
                var a20 = a00, a21 = a00, a22 = a00, a23 = a00, a24 = a00, a25 = a00
                var a30 = a00, a31 = a00, a32 = a00, a33 = a00, a34 = a00, a35 = a00
                var c = 0
                while c < cols {
                    let q0 = _mm512_loadu_ps(w0 + c), q1 = _mm512_loadu_ps(w1 + c)
                    let q2 = _mm512_loadu_ps(w2 + c), q3 = _mm512_loadu_ps(w3 + c)
                    var v = _mm512_loadu_ps(x0 + c)
                    a00 = _mm512_fmadd_ps(q0, v, a00); a10 = _mm512_fmadd_ps(q1, v, a10)
                    a20 = _mm512_fmadd_ps(q2, v, a20); a30 = _mm512_fmadd_ps(q3, v, a30)
                    v = _mm512_loadu_ps(x1 + c)
                    a01 = _mm512_fmadd_ps(q0, v, a01); a11 = _mm512_fmadd_ps(q1, v, a11)
                    a21 = _mm512_fmadd_ps(q2, v, a21); a31 = _mm512_fmadd_ps(q3, v, a31)
                    v = _mm512_loadu_ps(x2 + c)
                    a02 = _mm512_fmadd_ps(q0, v, a02); a12 = _mm512_fmadd_ps(q1, v, a12)
                    a22 = _mm512_fmadd_ps(q2, v, a22); a32 = _mm512_fmadd_ps(q3, v, a32)
                    v = _mm512_loadu_ps(x3 + c)
                    a03 = _mm512_fmadd_ps(q0, v, a03); a13 = _mm512_fmadd_ps(q1, v, a13)
                    a23 = _mm512_fmadd_ps(q2, v, a23); a33 = _mm512_fmadd_ps(q3, v, a33)
                    v = _mm512_loadu_ps(x4 + c)
                    a04 = _mm512_fmadd_ps(q0, v, a04); a14 = _mm512_fmadd_ps(q1, v, a14)
                    a24 = _mm512_fmadd_ps(q2, v, a24); a34 = _mm512_fmadd_ps(q3, v, a34)
                    v = _mm512_loadu_ps(x5 + c)
                    a05 = _mm512_fmadd_ps(q0, v, a05); a15 = _mm512_fmadd_ps(q1, v, a15)
                    a25 = _mm512_fmadd_ps(q2, v, a25); a35 = _mm512_fmadd_ps(q3, v, a35)
                    c += 16
                }
                let yb = y + t * ldy + r0 + r
                func put(_ i: Int, _ j: Int, _ v: __m512) {
                    if i < kr && j < kt { yb[j * ldy + i] = _mm512_reduce_add_ps(v) }
                }
                put(0, 0, a00); put(0, 1, a01); put(0, 2, a02); put(0, 3, a03); put(0, 4, a04); put(0, 5, a05)
                put(1, 0, a10); put(1, 1, a11); put(1, 2, a12); put(1, 3, a13); put(1, 4, a14); put(1, 5, a15)
                put(2, 0, a20); put(2, 1, a21); put(2, 2, a22); put(2, 3, a23); put(2, 4, a24); put(2, 5, a25)
                put(3, 0, a30); put(3, 1, a31); put(3, 2, a32); put(3, 3, a33); put(3, 4, a34); put(3, 5, a35)
                r += kr
            }
            t += kt
        }
    }
}
#endif
