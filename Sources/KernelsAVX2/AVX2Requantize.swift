#if arch(x86_64)
import _Builtin_intrinsics.intel

/// The level step of `Requantize.q4_0Block` on 256-bit registers: the scalar rule's product and
/// sum (no fused multiply-add), then a clamp to 0...15 and truncation, which is its floor then
/// clamp, so every nibble is the scalar one. Element by element, a draft model's copies took
/// seconds at start-up.
public enum AVX2Requantize {
    /// The 16 bytes of a Q4_0 block's nibbles from its 32 values: floor(v · inv + 8.5) kept
    /// within 0...15, NaN 8; byte j holds element j (low) and j + 16 (high).
    public static func q4_0Nibbles(_ x: UnsafePointer<Float>, _ inv: Float, _ out: UnsafeMutableRawPointer) {
        let vi = _mm256_set1_ps(inv), half = _mm256_set1_ps(8.5), zero = _mm256_setzero_ps()
        let top = _mm256_set1_ps(15), eight = _mm256_set1_ps(8)
        let magnitude = _mm256_set1_epi32(0x7FFF_FFFF), infinity = _mm256_set1_epi32(0x7F80_0000)
        // Qwords 0, 2, 1, 3 (`vpermq` 0xD8, whose intrinsic is a macro Swift does not import).
        let order = _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7)
        @inline(__always) func levels(_ p: UnsafePointer<Float>) -> __m256i {
            let v = _mm256_loadu_ps(p)
            // Clamped before truncation: the same as floor then clamp (`vroundps` is a macro).
            var t = _mm256_min_ps(_mm256_max_ps(_mm256_add_ps(_mm256_mul_ps(v, vi), half), zero), top)
            // NaN: a magnitude's bits above infinity's (`vcmpps` is a macro too).
            let nan = _mm256_cmpgt_epi32(_mm256_and_si256(_mm256_castps_si256(v), magnitude), infinity)
            t = _mm256_blendv_ps(t, eight, _mm256_castsi256_ps(nan))
            return _mm256_cvttps_epi32(t)
        }
        let a = _mm256_or_si256(levels(x), _mm256_slli_epi32(levels(x + 16), 4))
        let b = _mm256_or_si256(levels(x + 8), _mm256_slli_epi32(levels(x + 24), 4))
        // 16 dwords to 16 bytes: each pack works within 128-bit lanes, the permutes put them back in order.
        let words = _mm256_permutevar8x32_epi32(_mm256_packus_epi32(a, b), order)
        let bytes = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(words, words), order)
        _mm_storeu_si128(out.assumingMemoryBound(to: __m128i.self), _mm256_castsi256_si128(bytes))
    }
}
#endif
