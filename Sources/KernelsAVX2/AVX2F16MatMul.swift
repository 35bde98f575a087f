#if arch(x86_64)
import _Builtin_intrinsics.intel

/// F16 weights against float activations on AVX2 + F16C (the AVX-512 kernel's twin for
/// CPUs without it): a tile of rows is widened to float once into scratch, then a
/// 2-row × 4-token register block (8 accumulators, within AVX2's 16 registers) runs
/// over the columns. One fixed-order dot product per output: batch invariant.
public enum AVX2F16MatMul {
    /// y[t·ldy + r] = Σ_c w[r, c] · x[t·cols + c] for r in r0..<r1, t in 0..<nTokens.
    /// w: F16 rows of `cols` (a multiple of 8); scratch: (r1 - r0) · cols floats.
    public static func rows(w: UnsafeRawPointer, cols: Int, r0: Int, r1: Int, x: UnsafePointer<Float>, nTokens: Int,
                            y: UnsafeMutablePointer<Float>, ldy: Int, scratch: UnsafeMutablePointer<Float>) {
        let n = r1 - r0
        for r in 0..<n {  // [n, cols] floats
            let src = w + (r0 + r) * cols * 2, dst = scratch + r * cols
            var c = 0
            while c < cols {
                _mm256_storeu_ps(dst + c, _mm256_cvtph_ps(_mm_loadu_si128((src + 2 * c).assumingMemoryBound(to: __m128i.self))))
                c += 8
            }
        }
        var t = 0
        while t < nTokens {
            let kt = min(4, nTokens - t)
            let x0 = x + t * cols, x1 = kt > 1 ? x0 + cols : x0, x2 = kt > 2 ? x0 + 2 * cols : x0, x3 = kt > 3 ? x0 + 3 * cols : x0
            var r = 0
            while r < n {
                let kr = min(2, n - r)
                let w0 = scratch + r * cols, w1 = kr > 1 ? w0 + cols : w0
                var a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00
                var a10 = a00, a11 = a00, a12 = a00, a13 = a00
                var c = 0
                while c < cols {
                    let v0 = _mm256_loadu_ps(x0 + c), v1 = _mm256_loadu_ps(x1 + c)
                    let v2 = _mm256_loadu_ps(x2 + c), v3 = _mm256_loadu_ps(x3 + c)
                    let q0 = _mm256_loadu_ps(w0 + c), q1 = _mm256_loadu_ps(w1 + c)
                    a00 = _mm256_fmadd_ps(q0, v0, a00); a01 = _mm256_fmadd_ps(q0, v1, a01)
                    a02 = _mm256_fmadd_ps(q0, v2, a02); a03 = _mm256_fmadd_ps(q0, v3, a03)
                    a10 = _mm256_fmadd_ps(q1, v0, a10); a11 = _mm256_fmadd_ps(q1, v1, a11)
                    a12 = _mm256_fmadd_ps(q1, v2, a12); a13 = _mm256_fmadd_ps(q1, v3, a13)
                    c += 8
                }
                let yb = y + t * ldy + r0 + r
                func put(_ i: Int, _ j: Int, _ v: __m256) {
                    if i < kr && j < kt { yb[j * ldy + i] = v.sum() }
                }
                put(0, 0, a00); put(0, 1, a01); put(0, 2, a02); put(0, 3, a03)
                put(1, 0, a10); put(1, 1, a11); put(1, 2, a12); put(1, 3, a13)
                r += kr
            }
            t += kt
        }
    }
}
#endif
