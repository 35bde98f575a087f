#if arch(x86_64)
import _Builtin_intrinsics.intel

/// IQ4_XS's steps of the packed AVX2 kernel (`AVX2KQuantPacked`), on the tiles of
/// `VNNIKQuantPacked+IQ4XS.swift`. A level + 128 (up to 241) against an int8 activation would
/// saturate `vpmaddubsw`'s int16 pairs, so the signed level's magnitude (≤ 127) meets the
/// activation with the level's sign (`vpsignb`; no level is 0): a pair is at most 2 · 127 · 127,
/// and each goes through `vpmaddwd` against the scale alone. No offset, so no activation sums;
/// c = fma(d · da, Float(isum), c) per super-block, `KQuantDot`'s steps. The activations must lie
/// in −127...127 (the AVX2 quantizer's range: −128 would not change sign).
extension AVX2KQuantPacked {
    enum IQ4XS: Block {
        static var bytes: Int { KQuantTile.iq4XS }

        /// The 16 signed levels in both 128-bit lanes (IQ4_NL's too, `AVX2Packed32`).
        @inline(__always) static var levels: __m256i {
            _mm256_setr_epi8(-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
                             -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113)
        }

        /// Levels of weight vector v (8 rows × 4 elements) of unit g, rows 8·(h32 / 32)...
        @inline(__always) static func weights(_ base: UnsafeRawPointer, _ g: Int, _ v: Int, _ h32: Int) -> __m256i {
            let x = load(base + (4 * (g / 2) + v) * 64 + h32)
            // 16-bit shift: the mask drops what crosses bytes.
            return _mm256_shuffle_epi8(levels, _mm256_and_si256(g % 2 == 0 ? x : _mm256_srli_epi16(x, 4), _mm256_set1_epi8(0x0F)))
        }

        /// Sub-block j's scale of rows 8·half..., in both int16 halves of each row's lane.
        @inline(__always) static func scale(_ base: UnsafeRawPointer, _ j: Int, _ half: Int) -> __m256i {
            let s = _mm256_cvtepi8_epi32(load64(base + 2048 + 16 * j + 8 * half))
            return _mm256_or_si256(_mm256_and_si256(s, _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(s, 16))
        }

        /// acc + the products of weight vector `w` (8 rows × 4 levels) with the activation dword at a,
        /// times the scale: one vector at a time, so few registers are live (AVX2 has 16; a unit's four
        /// vectors and their magnitudes at once spilled, and a token took 2.5× as long).
        @inline(__always) static func product(_ acc: __m256i, _ w: __m256i, _ u: __m256i, _ a: UnsafeRawPointer, _ sc: __m256i) -> __m256i {
            let b = _mm256_set1_epi32(a.loadUnaligned(as: Int32.self))
            return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, _mm256_sign_epi8(b, w)), sc))
        }

        @inline(__always) static func block(_ base: UnsafeRawPointer, _ half: Int, _ act: Q8KActivationsView, _ t0: Int, _ nt: Int,
                                            _ s: Int, _ c: inout Sums, _ ahead: UnsafeRawPointer?, _ end: UnsafeRawPointer) {
            let nsb = act.superBlocks, h32 = 32 * half
            let z = _mm256_setzero_si256()
            var i = (z, z, z, z, z, z, z, z)
            @inline(__always) func unit(_ g: Int) {
                if let ahead { spread(ahead, end, (bytes + 63) / 64, 16 * half + g, 32) }
                // The unit's four vectors decoded once for all the tokens (per vector, the token loop's
                // 64 copies per super-block measured a third slower on a 512-token prompt).
                let w = (weights(base, g, 0, h32), weights(base, g, 1, h32), weights(base, g, 2, h32), weights(base, g, 3, h32))
                let u = (_mm256_abs_epi8(w.0), _mm256_abs_epi8(w.1), _mm256_abs_epi8(w.2), _mm256_abs_epi8(w.3))
                let sc = scale(base, g / 2, half)
                eachToken(nt, &i) { t, acc in
                    let a = UnsafeRawPointer(act.qs + ((t0 + t) * nsb + s) * 256 + 16 * g)
                    acc = product(product(product(product(acc, w.0, u.0, a, sc), w.1, u.1, a + 4, sc), w.2, u.2, a + 8, sc), w.3, u.3, a + 12, sc)
                }
            }
            unit(0); unit(1); unit(2); unit(3); unit(4); unit(5); unit(6); unit(7)
            unit(8); unit(9); unit(10); unit(11); unit(12); unit(13); unit(14); unit(15)
            let d = _mm256_cvtph_ps(load128(base + 2176 + 16 * half))
            eachSum(nt, i, &c) { t, isum, c in
                c = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(act.d[(t0 + t) * nsb + s])), _mm256_cvtepi32_ps(isum), c)
            }
        }

        @inline(__always) static func vectorBlock(_ base: UnsafeRawPointer, _ act: Q8KActivationsView, _ s: Int, _ c: inout __m256,
                                                  _ d: inout __m256, _ ahead: UnsafeRawPointer, _ end: UnsafeRawPointer) {
            var i0 = _mm256_setzero_si256(), i1 = i0
            let a0 = UnsafeRawPointer(act.qs + s * 256)
            @inline(__always) func unit(_ g: Int) {
                spread(ahead, end, (bytes + 63) / 64, g, 16, oneToken: true)  // rounded up: a tile may start mid-line
                let sc0 = scale(base, g / 2, 0), sc1 = scale(base, g / 2, 1)
                @inline(__always) func vector(_ v: Int) {
                    let w0 = weights(base, g, v, 0), w1 = weights(base, g, v, 32)
                    let a = a0 + 16 * g + 4 * v
                    i0 = product(i0, w0, _mm256_abs_epi8(w0), a, sc0)
                    i1 = product(i1, w1, _mm256_abs_epi8(w1), a, sc1)
                }
                vector(0); vector(1); vector(2); vector(3)
            }
            unit(0); unit(1); unit(2); unit(3); unit(4); unit(5); unit(6); unit(7)
            unit(8); unit(9); unit(10); unit(11); unit(12); unit(13); unit(14); unit(15)
            let da = _mm256_set1_ps(act.d[s])
            c = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtph_ps(load128(base + 2176)), da), _mm256_cvtepi32_ps(i0), c)
            d = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtph_ps(load128(base + 2192)), da), _mm256_cvtepi32_ps(i1), d)
        }
    }
}
#endif
