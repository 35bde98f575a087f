#if arch(x86_64)
import _Builtin_intrinsics.intel

/// Q6_K's steps of the packed AVX2 kernel (`AVX2KQuantPacked`): 6-bit weights from a nibble and
/// two top bits, signed scales, and the +32 offset taken out through the activations' sums.
extension AVX2KQuantPacked {
    /// Weight vector v (8 rows × 4 elements, 6-bit) of unit g of a Q6_K super-block's half h32/32:
    /// the low or high nibble (`lowShift` 0 or 4, odd g) and bits 2k, 2k+1 (k = g % 4) of the
    /// top-bits bytes moved to bits 4, 5 (the mask drops what crosses bytes). Literal arguments
    /// make every shift an immediate.
    @inline(__always)
    static func q6kWeights(_ base: UnsafeRawPointer, _ g: Int, _ v: Int, _ h32: Int, _ k: Int, _ lowShift: Int) -> __m256i {
        let l = load(base + KQuantTile.q6KLow(g / 2, v) + h32)
        let low = _mm256_and_si256(lowShift == 0 ? l : _mm256_srli_epi16(l, 4), _mm256_set1_epi8(0x0F))
        let h = load(base + KQuantTile.q6KTop(g / 4, v) + h32)
        let top = k < 2 ? _mm256_slli_epi16(h, Int32(4 - 2 * k)) : k == 2 ? h : _mm256_srli_epi16(h, 2)
        return _mm256_or_si256(low, _mm256_and_si256(top, _mm256_set1_epi8(0x30)))
    }

    /// Super-block s of all 16 rows of a Q6_K tile against one token, rows 0..<8 added to c and
    /// 8..<16 to d: `q6kBlock`'s steps, with both halves sharing each unit's activation broadcasts.
    @inline(__always)
    static func q6kVectorBlock(_ base: UnsafeRawPointer, _ act: Q8KActivationsView, _ s: Int, _ c: inout __m256, _ d: inout __m256,
                               _ ahead: UnsafeRawPointer, _ end: UnsafeRawPointer) {
        let evenWords = _mm256_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13, 0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13)
        let oddWords = _mm256_add_epi8(evenWords, _mm256_set1_epi8(2))
        var i0 = _mm256_setzero_si256(), i1 = i0
        let a0 = UnsafeRawPointer(act.qs + s * 256)
        @inline(__always) func unit(_ g: Int, _ k: Int, _ lowShift: Int) {
            let a = a0 + 16 * g
            spread(ahead, end, q6kTileBytes / 64, g, 16, oneToken: true)
            @inline(__always) func bc(_ j: Int) -> __m256i { _mm256_set1_epi32(a.loadUnaligned(fromByteOffset: 4 * j, as: Int32.self)) }
            let b0 = bc(0), b1 = bc(1), b2 = bc(2), b3 = bc(3)
            @inline(__always) func half(_ h32: Int, _ acc: inout __m256i) {
                @inline(__always) func weights(_ v: Int) -> __m256i { q6kWeights(base, g, v, h32, k, lowShift) }
                // Lane r of the pairs is s(2p) | s(2p+1) << 16 (int16): one byte shuffle copies the unit's word to both.
                let pairs = _mm256_cvtepi8_epi16(load128(base + 3072 + 32 * (g / 2) + h32 / 2))
                let sc = _mm256_shuffle_epi8(pairs, lowShift == 0 ? evenWords : oddWords)
                // 4 products per int16 lane (8 elements per row): |Σ| ≤ 4 · 63 · 128 fits.
                let s01 = _mm256_add_epi16(_mm256_maddubs_epi16(weights(0), b0), _mm256_maddubs_epi16(weights(1), b1))
                let s23 = _mm256_add_epi16(_mm256_maddubs_epi16(weights(2), b2), _mm256_maddubs_epi16(weights(3), b3))
                acc = _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_madd_epi16(s01, sc), _mm256_madd_epi16(s23, sc)))
            }
            half(0, &i0)
            half(32, &i1)
        }
        for quad in 0..<4 {
            unit(4 * quad, 0, 0)
            unit(4 * quad + 1, 1, 4)
            unit(4 * quad + 2, 2, 0)
            unit(4 * quad + 3, 3, 4)
        }
        let da = _mm256_set1_ps(act.d[s])
        let bs = UnsafeRawPointer(act.bsums + 16 * s)
        var p0 = _mm256_setzero_si256(), p1 = p0
        for j in 0..<8 {
            let sums = _mm256_set1_epi32(bs.loadUnaligned(fromByteOffset: 4 * j, as: Int32.self))
            p0 = _mm256_add_epi32(p0, _mm256_madd_epi16(_mm256_cvtepi8_epi16(load128(base + 3072 + 32 * j)), sums))
            p1 = _mm256_add_epi32(p1, _mm256_madd_epi16(_mm256_cvtepi8_epi16(load128(base + 3088 + 32 * j)), sums))
        }
        // The +32 offset: Σ scale · Σq per 16.
        c = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtph_ps(load128(base + 3328)), da), _mm256_cvtepi32_ps(_mm256_sub_epi32(i0, _mm256_slli_epi32(p0, 5))), c)
        d = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_cvtph_ps(load128(base + 3344)), da), _mm256_cvtepi32_ps(_mm256_sub_epi32(i1, _mm256_slli_epi32(p1, 5))), d)
    }

    /// Super-block s of rows 8·half..<8·half+8 of a Q6_K tile against tokens t0..<t0+nt, added to c.
    @inline(__always)
    static func q6kBlock(_ base: UnsafeRawPointer, _ half: Int, _ act: Q8KActivationsView, _ t0: Int, _ nt: Int, _ s: Int,
                         _ c: inout Sums, _ ahead: UnsafeRawPointer?, _ end: UnsafeRawPointer) {
        let nsb = act.superBlocks, h32 = 32 * half
        let z = _mm256_setzero_si256()
        var i = (z, z, z, z, z, z, z, z)
        // Unit g takes bits 2k, 2k+1 (k = g % 4) of the top-bits bytes and the low or high
        // nibble (odd g); each call below passes them as literals, so every shift is an
        // immediate (a loop over g left the top-bit shift count to run time).
        @inline(__always) func unit(_ g: Int, _ k: Int, _ lowShift: Int) {
            if let ahead { spread(ahead, end, q6kTileBytes / 64, 16 * half + g, 32) }
            @inline(__always) func weights(_ v: Int) -> __m256i { q6kWeights(base, g, v, h32, k, lowShift) }
            // The unit's signed scale in both int16 halves of each row's lane.
            let scalePairs = _mm256_cvtepi8_epi16(load128(base + 3072 + 32 * (g / 2) + 16 * half))  // lane r: s(2p) | s(2p+1) << 16
            let one = lowShift == 0 ? _mm256_srai_epi32(_mm256_slli_epi32(scalePairs, 16), 16) : _mm256_srai_epi32(scalePairs, 16)
            let sc = _mm256_or_si256(_mm256_and_si256(one, _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(one, 16))
            // Two weight vectors per pass over the tokens: 6-bit weights need a vpmaddwd per two
            // vpmaddubsw anyway, and with four live the 8 sums were spilled and reloaded each unit.
            // 4 products per int16 lane (8 elements per row): |Σ| ≤ 4 · 63 · 128 fits.
            @inline(__always) func pair(_ v: Int) {
                let wa = weights(v), wb = weights(v + 1)
                eachToken(nt, &i) { t, acc in
                    let a = UnsafeRawPointer(act.qs + ((t0 + t) * nsb + s) * 256 + 16 * g + 4 * v)
                    @inline(__always) func bc(_ o: Int) -> __m256i {
                        _mm256_set1_epi32(a.loadUnaligned(fromByteOffset: o, as: Int32.self))
                    }
                    let m = _mm256_add_epi16(_mm256_maddubs_epi16(wa, bc(0)), _mm256_maddubs_epi16(wb, bc(4)))
                    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(m, sc))
                }
            }
            pair(0)
            pair(2)
        }
        for quad in 0..<4 {
            unit(4 * quad, 0, 0)
            unit(4 * quad + 1, 1, 4)
            unit(4 * quad + 2, 2, 0)
            unit(4 * quad + 3, 3, 4)
        }
        let dw = _mm256_cvtph_ps(load128(base + 3328 + 16 * half))
        // The +32 offset: Σ scale · Σq per 16, two units per vpmaddwd.
        @inline(__always) func finish(_ t: Int, _ isum: __m256i, _ c: inout __m256) {
            let bs = UnsafeRawPointer(act.bsums + ((t0 + t) * nsb + s) * 16)
            var p = _mm256_setzero_si256()
            for j in 0..<8 {
                let pairs = _mm256_cvtepi8_epi16(load128(base + 3072 + 32 * j + 16 * half))
                p = _mm256_add_epi32(p, _mm256_madd_epi16(pairs, _mm256_set1_epi32(bs.loadUnaligned(fromByteOffset: 4 * j, as: Int32.self))))
            }
            let da = _mm256_set1_ps(act.d[(t0 + t) * nsb + s])
            c = _mm256_fmadd_ps(_mm256_mul_ps(dw, da), _mm256_cvtepi32_ps(_mm256_sub_epi32(isum, _mm256_slli_epi32(p, 5))), c)
        }
        eachSum(nt, i, &c, finish)
    }
}
#endif
