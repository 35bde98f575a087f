#if arch(x86_64)
import _Builtin_intrinsics.intel
import KernelsAVX2

/// Attention scores as 16-bit integer dot products (`vpdpwssd`: two products per lane and
/// instruction, twice the f32 FMAs' rate), for `AVX512Attention.attendTileBF16` and `attendTile`
/// (`int16Scores`).
///
/// Each query row is scaled so that its Euclidean norm is `range` (32767), each key (one slot)
/// likewise, and both rounded to integers: a score is then τ_row·σ_slot·Σ q̂·k̂. By Cauchy-Schwarz
/// no element and no partial sum of a finite query can leave int16 or Int32 (|Σ| ≤ ‖q̂‖·‖k̂‖ ≈ 2³⁰;
/// the query's int16 conversion saturates, for a norm whose square underflowed; a non-finite
/// query's words are whatever saturation gives, and its scale 0 makes its scores 0). An element's
/// error is half a step, 2⁻¹⁶ of its vector's norm, so a logit moves by at most √hs·‖q‖·‖k‖·2⁻¹⁵
/// (times the scale) and typically by 0.4·‖q‖·‖k‖·2⁻¹⁵. Where one biased dimension dominates both
/// the query and the key (Qwen2's keys), that is finer than the f16 query llama.cpp multiplies
/// (2⁻¹¹ of each element at worst); where it dominates the key alone and the query ignores it,
/// coarser (a key bias of 300 moved a logit by 0.003 nats RMS, an f16 query by 0.0001), inside the
/// KLD measured on real models (benchmarks/kernels/README.md). bf16 scores (2⁻⁸ of each element at
/// worst) would move a large logit by tenths.
///
/// A row's scale depends only on its own query, a slot's only on its own key, so a token's scores
/// stay the same whichever tile or batch computes them. A query that is zero, non-finite or whose
/// squared norm overflows (‖q‖ > 1.8e19) scores 0 against every key.
enum Int16Scores {
    /// The norm a query or key is scaled to.
    static let range: Float = 32767

    /// Int32 words of scratch for the queries of `rows` rows and a chunk of keys (pairs of
    /// elements per word), plus the rows' and slots' scales, and 16 to align the keys to 64 bytes.
    static func scratchWords(headSize hs: Int, rows: Int) -> Int { rows * hs / 2 + rows + 16 * hs + 32 + 32 + 16 }

    /// Every row's query as int16 pairs qi[r·hs/2 + d/2] = (q̂_d, q̂_{d+1}) and its scale qs[r] = τ.
    @inline(__always)
    static func queries(_ t: AttentionTile, _ rows: Int, _ qi: UnsafeMutablePointer<Int32>, _ qs: UnsafeMutablePointer<Float>) {
        let hs = t.headSize
        for row in 0..<rows {
            let q = t.query(row)
            var ss = _mm512_setzero_ps()
            var j = 0
            while j < hs { let x = _mm512_loadu_ps(q + j); ss = _mm512_fmadd_ps(x, x, ss); j += 16 }
            let n = _mm512_reduce_add_ps(ss).squareRoot()
            // A zero or non-finite query (or one whose squared norm overflowed) scores 0 everywhere.
            let ok = n > 0 && n.isFinite
            qs[row] = ok ? n / range : 0
            let inv = _mm512_set1_ps(ok ? range / n : 0), out = UnsafeMutableRawPointer(qi + row * hs / 2)
            j = 0
            while j < hs {
                // Saturating: a norm whose square underflowed (|q| < 1e-19) can scale an element past 32767.
                let w = _mm512_cvtsepi32_epi16(_mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(q + j), inv)))
                _mm256_storeu_si256(out.advanced(by: j * 2).assumingMemoryBound(to: __m256i.self), w)
                j += 16
            }
        }
    }

    /// Half h (16 slots) of a chunk's keys, hs rows of 16 f16 slots at `stride` bytes from kt, to
    /// ki [hs/2][32] words (slot s's elements d and d+1 in word (d/2)·32 + s) and ks[s] =
    /// σ_s·scale. Slots of the half outside the tile hold whatever the cache holds there (even
    /// NaN); their lanes are masked when scored.
    @inline(__always)
    static func keys(_ kt: UnsafeRawPointer, _ stride: Int, _ hs: Int, _ h: Int, _ scale: Float,
                     _ ki: UnsafeMutablePointer<Int32>, _ ks: UnsafeMutablePointer<Float>) {
        let cs = AVX512Attention.chunk, base = 16 * h
        @inline(__always) func row(_ d: Int) -> __m512 {
            _mm512_cvtph_ps(_mm256_loadu_si256((kt + d * stride).assumingMemoryBound(to: __m256i.self)))
        }
        var ss = _mm512_setzero_ps()
        for d in 0..<hs { let x = row(d); ss = _mm512_fmadd_ps(x, x, ss) }
        let n = _mm512_sqrt_ps(ss)
        let bits = _mm512_castps_si512(n), nonzero = _mm512_test_epi32_mask(bits, bits)
        let inv = _mm512_maskz_div_ps(nonzero, _mm512_set1_ps(range), n)
        _mm512_storeu_ps(ks + base, _mm512_mul_ps(n, _mm512_set1_ps(scale / range)))
        var d = 0
        while d < hs {
            let a = _mm512_cvtps_epi32(_mm512_mul_ps(row(d), inv)), b = _mm512_cvtps_epi32(_mm512_mul_ps(row(d + 1), inv))
            // Low word the even element, high word the odd one.
            let w = _mm512_mask_blend_epi16(0xAAAA_AAAA, a, _mm512_slli_epi32(b, 16))
            _mm512_storeu_si512(ki + (d / 2) * cs + base, w)
            d += 2
        }
    }

    /// Scores of up to 6 rows r0..<r0+nr against the chunk's keys ki, already times `scale`,
    /// to pb[k·32...] (32 floats a row), as `AVX512Attention.scores` leaves its f32 products.
    @inline(__always)
    static func scores(_ ki: UnsafePointer<Int32>, _ ks: UnsafePointer<Float>, _ qi: UnsafePointer<Int32>,
                       _ qs: UnsafePointer<Float>, _ hs: Int, _ r0: Int, _ nr: Int, _ pb: UnsafeMutablePointer<Float>) {
        let cs = AVX512Attention.chunk, w = hs / 2
        @inline(__always) func row(_ k: Int) -> UnsafePointer<Int32> { qi + (r0 + min(k, nr - 1)) * w }
        let q0 = row(0), q1 = row(1), q2 = row(2), q3 = row(3), q4 = row(4), q5 = row(5)
        var a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0
        var b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0
        if nr > 3 {
            for p in 0..<w {
                let k0 = _mm512_loadu_si512(ki + p * cs), k1 = _mm512_loadu_si512(ki + p * cs + 16)
                var x = _mm512_set1_epi32(q0[p]); a0 = _mm512_dpwssd_epi32(a0, x, k0); b0 = _mm512_dpwssd_epi32(b0, x, k1)
                x = _mm512_set1_epi32(q1[p]); a1 = _mm512_dpwssd_epi32(a1, x, k0); b1 = _mm512_dpwssd_epi32(b1, x, k1)
                x = _mm512_set1_epi32(q2[p]); a2 = _mm512_dpwssd_epi32(a2, x, k0); b2 = _mm512_dpwssd_epi32(b2, x, k1)
                x = _mm512_set1_epi32(q3[p]); a3 = _mm512_dpwssd_epi32(a3, x, k0); b3 = _mm512_dpwssd_epi32(b3, x, k1)
                x = _mm512_set1_epi32(q4[p]); a4 = _mm512_dpwssd_epi32(a4, x, k0); b4 = _mm512_dpwssd_epi32(b4, x, k1)
                x = _mm512_set1_epi32(q5[p]); a5 = _mm512_dpwssd_epi32(a5, x, k0); b5 = _mm512_dpwssd_epi32(b5, x, k1)
            }
        } else {
            for p in 0..<w {
                let k0 = _mm512_loadu_si512(ki + p * cs), k1 = _mm512_loadu_si512(ki + p * cs + 16)
                var x = _mm512_set1_epi32(q0[p]); a0 = _mm512_dpwssd_epi32(a0, x, k0); b0 = _mm512_dpwssd_epi32(b0, x, k1)
                x = _mm512_set1_epi32(q1[p]); a1 = _mm512_dpwssd_epi32(a1, x, k0); b1 = _mm512_dpwssd_epi32(b1, x, k1)
                x = _mm512_set1_epi32(q2[p]); a2 = _mm512_dpwssd_epi32(a2, x, k0); b2 = _mm512_dpwssd_epi32(b2, x, k1)
            }
        }
        let s0 = _mm512_loadu_ps(ks), s1 = _mm512_loadu_ps(ks + 16)
        @inline(__always) func put(_ k: Int, _ a: __m512i, _ b: __m512i) {
            let t = _mm512_set1_ps(qs[r0 + k])
            _mm512_storeu_ps(pb + cs * k, _mm512_mul_ps(_mm512_cvtepi32_ps(a), _mm512_mul_ps(s0, t)))
            _mm512_storeu_ps(pb + cs * k + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(b), _mm512_mul_ps(s1, t)))
        }
        put(0, a0, b0)
        if nr > 1 { put(1, a1, b1) }
        if nr > 2 { put(2, a2, b2) }
        if nr > 3 { put(3, a3, b3) }
        if nr > 4 { put(4, a4, b4) }
        if nr > 5 { put(5, a5, b5) }
    }
}
#endif
