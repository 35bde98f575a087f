#if arch(x86_64)
import _Builtin_intrinsics.intel

/// F16 weights against float activations on AVX-512, as a register-blocked GEMM for the
/// embedding models' batched passes (hundreds to thousands of tokens per matmul).
///
/// A tile of 64 weight rows is widened to float once and transposed into a panel
/// [cols][64], so the 16 lanes of a vector hold 16 output rows: the micro-kernel keeps
/// 64 rows × 6 tokens in 24 accumulators and, per column, does 4 panel loads and 6
/// broadcasts of the activations for 24 FMAs, with no horizontal sums at the end. The
/// panel (up to 64 × 3072 floats, 768 KiB) streams from L2 for every 6 tokens: measured
/// faster than blocking the columns to keep a slice in L1, whose partial sums then have
/// to be stored and reloaded.
///
/// Each output is one float FMA chain over the columns in order, so a token's result is
/// the same whatever the batch around it.
public enum AVX512F16Gemm {
    /// Weight rows per panel: 4 vectors of 16.
    public static let panelRows = 64

    /// panel[k·64 + i] = w[r0 + i, k] as float for i < n, 0 for n ≤ i < 64, k < cols.
    /// w: F16 rows of `cols` (a multiple of 16). Blocks of 16 rows × 16 columns are widened
    /// and transposed in registers, so packing costs well under a cycle per weight.
    public static func pack(w: UnsafeRawPointer, cols: Int, r0: Int, n: Int, panel: UnsafeMutablePointer<Float>) {
        let zero = _mm512_setzero_ps()
        for g in 0..<(panelRows / 16) {
            let i0 = 16 * g
            @inline(__always) func row(_ i: Int, _ k0: Int) -> __m512 {
                guard i0 + i < n else { return zero }
                let src = w + ((r0 + i0 + i) * cols + k0) * 2
                return _mm512_cvtph_ps(_mm256_loadu_si256(src.assumingMemoryBound(to: __m256i.self)))
            }
            var k0 = 0
            while k0 < cols {
                var b = (row(0, k0), row(1, k0), row(2, k0), row(3, k0), row(4, k0), row(5, k0), row(6, k0), row(7, k0),
                         row(8, k0), row(9, k0), row(10, k0), row(11, k0), row(12, k0), row(13, k0), row(14, k0), row(15, k0))
                transpose16(&b)
                let out = panel + k0 * panelRows + i0
                _mm512_storeu_ps(out, b.0); _mm512_storeu_ps(out + panelRows, b.1)
                _mm512_storeu_ps(out + 2 * panelRows, b.2); _mm512_storeu_ps(out + 3 * panelRows, b.3)
                _mm512_storeu_ps(out + 4 * panelRows, b.4); _mm512_storeu_ps(out + 5 * panelRows, b.5)
                _mm512_storeu_ps(out + 6 * panelRows, b.6); _mm512_storeu_ps(out + 7 * panelRows, b.7)
                _mm512_storeu_ps(out + 8 * panelRows, b.8); _mm512_storeu_ps(out + 9 * panelRows, b.9)
                _mm512_storeu_ps(out + 10 * panelRows, b.10); _mm512_storeu_ps(out + 11 * panelRows, b.11)
                _mm512_storeu_ps(out + 12 * panelRows, b.12); _mm512_storeu_ps(out + 13 * panelRows, b.13)
                _mm512_storeu_ps(out + 14 * panelRows, b.14); _mm512_storeu_ps(out + 15 * panelRows, b.15)
                k0 += 16
            }
        }
    }

    typealias Block = (__m512, __m512, __m512, __m512, __m512, __m512, __m512, __m512,
                       __m512, __m512, __m512, __m512, __m512, __m512, __m512, __m512)

    /// A 16 × 16 float transpose: interleave 32-bit pairs, then 64-bit pairs, then 128-bit lanes twice.
    @inline(__always)
    static func transpose16(_ b: inout Block) {
        @inline(__always) func lo32(_ a: __m512, _ c: __m512) -> __m512 { _mm512_unpacklo_ps(a, c) }
        @inline(__always) func hi32(_ a: __m512, _ c: __m512) -> __m512 { _mm512_unpackhi_ps(a, c) }
        @inline(__always) func lo64(_ a: __m512, _ c: __m512) -> __m512 {
            _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a), _mm512_castps_pd(c)))
        }
        @inline(__always) func hi64(_ a: __m512, _ c: __m512) -> __m512 {
            _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a), _mm512_castps_pd(c)))
        }
        // 128-bit lanes 0 and 2 (even) or 1 and 3 (odd) of a, then the same of c (vpermt2ps; the
        // immediate shuffle vshuff32x4 is a C macro Swift does not import).
        let evenIndex = unsafeBitCast(SIMD16<Int32>(0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27), to: __m512i.self)
        let oddIndex = unsafeBitCast(SIMD16<Int32>(4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31), to: __m512i.self)
        @inline(__always) func even(_ a: __m512, _ c: __m512) -> __m512 { _mm512_permutex2var_ps(a, evenIndex, c) }
        @inline(__always) func odd(_ a: __m512, _ c: __m512) -> __m512 { _mm512_permutex2var_ps(a, oddIndex, c) }
        let t0 = lo32(b.0, b.1), t1 = hi32(b.0, b.1), t2 = lo32(b.2, b.3), t3 = hi32(b.2, b.3)
        let t4 = lo32(b.4, b.5), t5 = hi32(b.4, b.5), t6 = lo32(b.6, b.7), t7 = hi32(b.6, b.7)
        let t8 = lo32(b.8, b.9), t9 = hi32(b.8, b.9), t10 = lo32(b.10, b.11), t11 = hi32(b.10, b.11)
        let t12 = lo32(b.12, b.13), t13 = hi32(b.12, b.13), t14 = lo32(b.14, b.15), t15 = hi32(b.14, b.15)
        let u0 = lo64(t0, t2), u1 = hi64(t0, t2), u2 = lo64(t1, t3), u3 = hi64(t1, t3)
        let u4 = lo64(t4, t6), u5 = hi64(t4, t6), u6 = lo64(t5, t7), u7 = hi64(t5, t7)
        let u8 = lo64(t8, t10), u9 = hi64(t8, t10), u10 = lo64(t9, t11), u11 = hi64(t9, t11)
        let u12 = lo64(t12, t14), u13 = hi64(t12, t14), u14 = lo64(t13, t15), u15 = hi64(t13, t15)
        let v0 = even(u0, u4), v1 = even(u1, u5), v2 = even(u2, u6), v3 = even(u3, u7)
        let v4 = odd(u0, u4), v5 = odd(u1, u5), v6 = odd(u2, u6), v7 = odd(u3, u7)
        let v8 = even(u8, u12), v9 = even(u9, u13), v10 = even(u10, u14), v11 = even(u11, u15)
        let v12 = odd(u8, u12), v13 = odd(u9, u13), v14 = odd(u10, u14), v15 = odd(u11, u15)
        b = (even(v0, v8), even(v1, v9), even(v2, v10), even(v3, v11), even(v4, v12), even(v5, v13), even(v6, v14), even(v7, v15),
             odd(v0, v8), odd(v1, v9), odd(v2, v10), odd(v3, v11), odd(v4, v12), odd(v5, v13), odd(v6, v14), odd(v7, v15))
    }

    /// y[t·ldy + i] = Σ_k panel[k·64 + i] · x[t·ldx + k] for i < n (≤ 64) and t < nTokens;
    /// y points at the tile's first output column. Outputs past n are not written.
    public static func multiply(panel: UnsafePointer<Float>, cols: Int, n: Int, x: UnsafePointer<Float>, ldx: Int,
                                nTokens: Int, y: UnsafeMutablePointer<Float>, ldy: Int) {
        func mask(_ v: Int) -> __mmask16 {
            let live = min(max(n - 16 * v, 0), 16)
            return __mmask16(truncatingIfNeeded: (1 << live) - 1)
        }
        let masks = (mask(0), mask(1), mask(2), mask(3))
        var t = 0
        while t < nTokens {
            let kt = min(6, nTokens - t)
            micro(panel, cols, x + t * ldx, ldx, kt, y + t * ldy, ldy, masks)
            t += kt
        }
    }

    /// 64 rows × kt (≤ 6) tokens over kc columns; missing tokens repeat the first and are not stored.
    @inline(__always)
    static func micro(_ p: UnsafePointer<Float>, _ kc: Int, _ x: UnsafePointer<Float>, _ ldx: Int, _ kt: Int,
                      _ y: UnsafeMutablePointer<Float>, _ ldy: Int,
                      _ m: (__mmask16, __mmask16, __mmask16, __mmask16)) {
        let x0 = x, x1 = kt > 1 ? x + ldx : x, x2 = kt > 2 ? x + 2 * ldx : x
        let x3 = kt > 3 ? x + 3 * ldx : x, x4 = kt > 4 ? x + 4 * ldx : x, x5 = kt > 5 ? x + 5 * ldx : x
        let y1 = y + ldy, y2 = y + 2 * ldy, y3 = y + 3 * ldy, y4 = y + 4 * ldy, y5 = y + 5 * ldy
        let z = _mm512_setzero_ps()
        var a00 = z, a01 = z, a02 = z, a03 = z, a10 = z, a11 = z, a12 = z, a13 = z, a20 = z, a21 = z, a22 = z, a23 = z
        var a30 = z, a31 = z, a32 = z, a33 = z, a40 = z, a41 = z, a42 = z, a43 = z, a50 = z, a51 = z, a52 = z, a53 = z
        var w = p
        for c in 0..<kc {
            let w0 = _mm512_loadu_ps(w), w1 = _mm512_loadu_ps(w + 16), w2 = _mm512_loadu_ps(w + 32), w3 = _mm512_loadu_ps(w + 48)
            var v = _mm512_set1_ps(x0[c])
            a00 = _mm512_fmadd_ps(w0, v, a00); a01 = _mm512_fmadd_ps(w1, v, a01)
            a02 = _mm512_fmadd_ps(w2, v, a02); a03 = _mm512_fmadd_ps(w3, v, a03)
            v = _mm512_set1_ps(x1[c])
            a10 = _mm512_fmadd_ps(w0, v, a10); a11 = _mm512_fmadd_ps(w1, v, a11)
            a12 = _mm512_fmadd_ps(w2, v, a12); a13 = _mm512_fmadd_ps(w3, v, a13)
            v = _mm512_set1_ps(x2[c])
            a20 = _mm512_fmadd_ps(w0, v, a20); a21 = _mm512_fmadd_ps(w1, v, a21)
            a22 = _mm512_fmadd_ps(w2, v, a22); a23 = _mm512_fmadd_ps(w3, v, a23)
            v = _mm512_set1_ps(x3[c])
            a30 = _mm512_fmadd_ps(w0, v, a30); a31 = _mm512_fmadd_ps(w1, v, a31)
            a32 = _mm512_fmadd_ps(w2, v, a32); a33 = _mm512_fmadd_ps(w3, v, a33)
            v = _mm512_set1_ps(x4[c])
            a40 = _mm512_fmadd_ps(w0, v, a40); a41 = _mm512_fmadd_ps(w1, v, a41)
            a42 = _mm512_fmadd_ps(w2, v, a42); a43 = _mm512_fmadd_ps(w3, v, a43)
            v = _mm512_set1_ps(x5[c])
            a50 = _mm512_fmadd_ps(w0, v, a50); a51 = _mm512_fmadd_ps(w1, v, a51)
            a52 = _mm512_fmadd_ps(w2, v, a52); a53 = _mm512_fmadd_ps(w3, v, a53)
            w += panelRows
        }
        @inline(__always) func put(_ yp: UnsafeMutablePointer<Float>, _ a: __m512, _ b: __m512, _ c: __m512, _ d: __m512) {
            _mm512_mask_storeu_ps(yp, m.0, a); _mm512_mask_storeu_ps(yp + 16, m.1, b)
            _mm512_mask_storeu_ps(yp + 32, m.2, c); _mm512_mask_storeu_ps(yp + 48, m.3, d)
        }
        put(y, a00, a01, a02, a03)
        if kt > 1 { put(y1, a10, a11, a12, a13) }
        if kt > 2 { put(y2, a20, a21, a22, a23) }
        if kt > 3 { put(y3, a30, a31, a32, a33) }
        if kt > 4 { put(y4, a40, a41, a42, a43) }
        if kt > 5 { put(y5, a50, a51, a52, a53) }
    }
}
#endif
