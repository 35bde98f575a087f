#if arch(x86_64)
import _Builtin_intrinsics.intel

/// Q2_K's steps of the packed AVX2 kernel (`AVX2KQuantPacked`), on the tile of
/// `VNNIKQuantPacked+Q2K.swift`: Q3_K's steps with 2-bit weights, unsigned 4-bit scales, and 4-bit
/// mins that meet the activations' sums per 16 (`KQuantDot`'s second float step).
extension AVX2KQuantPacked {
    /// Weight vector v (8 rows × 4 elements, 2-bit) of unit g of a Q2_K super-block's half h32/32:
    /// bits 2·(g % 4) of vector 4·(g / 4) + v (the mask drops what crosses bytes).
    @inline(__always)
    static func q2kWeights(_ base: UnsafeRawPointer, _ g: Int, _ v: Int, _ h32: Int) -> __m256i {
        let l = load(base + (4 * (g / 4) + v) * 64 + h32)
        return _mm256_and_si256(g % 4 == 0 ? l : _mm256_srli_epi16(l, Int32(2 * (g % 4))), _mm256_set1_epi8(0x03))
    }

    /// The scale-and-min bytes of units 2j and 2j + 1 for 8 rows at p, as int16 pairs; the scales
    /// (low nibbles) or the mins (high nibbles).
    @inline(__always) static func q2kScales(_ p: UnsafeRawPointer) -> __m256i {
        _mm256_and_si256(_mm256_cvtepu8_epi16(load128(p)), _mm256_set1_epi16(0x0F))
    }
    @inline(__always) static func q2kMins(_ p: UnsafeRawPointer) -> __m256i { _mm256_srli_epi16(_mm256_cvtepu8_epi16(load128(p)), 4) }

    /// Super-block s of all 16 rows of a Q2_K tile against one token, rows 0..<8 added to c and
    /// 8..<16 to d: `q2kBlock`'s steps, with both halves sharing each unit's activation broadcasts.
    @inline(__always)
    static func q2kVectorBlock(_ base: UnsafeRawPointer, _ act: Q8KActivationsView, _ s: Int, _ c: inout __m256, _ d: inout __m256,
                               _ ahead: UnsafeRawPointer, _ end: UnsafeRawPointer) {
        let evenWords = _mm256_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13, 0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13)
        let oddWords = _mm256_add_epi8(evenWords, _mm256_set1_epi8(2))
        var i0 = _mm256_setzero_si256(), i1 = i0
        let a0 = UnsafeRawPointer(act.qs + s * 256)
        @inline(__always) func unit(_ g: Int) {
            let a = a0 + 16 * g
            spread(ahead, end, q2kTileBytes / 64, g, 16)
            @inline(__always) func bc(_ j: Int) -> __m256i { _mm256_set1_epi32(a.loadUnaligned(fromByteOffset: 4 * j, as: Int32.self)) }
            let b0 = bc(0), b1 = bc(1), b2 = bc(2), b3 = bc(3)
            @inline(__always) func half(_ h32: Int, _ acc: inout __m256i) {
                @inline(__always) func weights(_ v: Int) -> __m256i { q2kWeights(base, g, v, h32) }
                // Lane r of the pairs is s(2p) | s(2p+1) << 16 (int16): one byte shuffle copies the unit's word to both.
                let pairs = q2kScales(base + 1024 + 32 * (g / 2) + h32 / 2)
                let sc = _mm256_shuffle_epi8(pairs, g % 2 == 0 ? evenWords : oddWords)
                // 4 products per int16 lane (8 elements per row): |Σ| ≤ 4 · 3 · 128 fits.
                let s01 = _mm256_add_epi16(_mm256_maddubs_epi16(weights(0), b0), _mm256_maddubs_epi16(weights(1), b1))
                let s23 = _mm256_add_epi16(_mm256_maddubs_epi16(weights(2), b2), _mm256_maddubs_epi16(weights(3), b3))
                acc = _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_madd_epi16(s01, sc), _mm256_madd_epi16(s23, sc)))
            }
            half(0, &i0)
            half(32, &i1)
        }
        unit(0); unit(1); unit(2); unit(3); unit(4); unit(5); unit(6); unit(7)
        unit(8); unit(9); unit(10); unit(11); unit(12); unit(13); unit(14); unit(15)
        let da = _mm256_set1_ps(act.d[s])
        let bs = UnsafeRawPointer(act.bsums + 16 * s)
        var p0 = _mm256_setzero_si256(), p1 = p0
        for j in 0..<8 {
            let sums = _mm256_set1_epi32(bs.loadUnaligned(fromByteOffset: 4 * j, as: Int32.self))
            p0 = _mm256_add_epi32(p0, _mm256_madd_epi16(q2kMins(base + 1024 + 32 * j), sums))
            p1 = _mm256_add_epi32(p1, _mm256_madd_epi16(q2kMins(base + 1040 + 32 * j), sums))
        }
        // Σ min · Σq per 16, then KQuantDot's two float steps.
        let c1 = _mm256_fmadd_ps(_mm256_mul_ps(halfs(base + 1280, high: false), da), _mm256_cvtepi32_ps(i0), c)
        c = _mm256_fnmadd_ps(_mm256_mul_ps(halfs(base + 1280, high: true), da), _mm256_cvtepi32_ps(p0), c1)
        let d1 = _mm256_fmadd_ps(_mm256_mul_ps(halfs(base + 1312, high: false), da), _mm256_cvtepi32_ps(i1), d)
        d = _mm256_fnmadd_ps(_mm256_mul_ps(halfs(base + 1312, high: true), da), _mm256_cvtepi32_ps(p1), d1)
    }

    /// Super-block s of rows 8·half..<8·half+8 of a Q2_K tile against tokens t0..<t0+nt, added to c.
    @inline(__always)
    static func q2kBlock(_ base: UnsafeRawPointer, _ half: Int, _ act: Q8KActivationsView, _ t0: Int, _ nt: Int, _ s: Int,
                         _ c: inout Sums, _ ahead: UnsafeRawPointer?, _ end: UnsafeRawPointer) {
        let nsb = act.superBlocks, h32 = 32 * half
        let z = _mm256_setzero_si256()
        var i = (z, z, z, z, z, z, z, z)
        // Each call below passes its unit as a literal, so every shift is an immediate.
        @inline(__always) func unit(_ g: Int) {
            if let ahead { spread(ahead, end, q2kTileBytes / 64, 16 * half + g, 32) }
            @inline(__always) func weights(_ v: Int) -> __m256i { q2kWeights(base, g, v, h32) }
            // The unit's scale in both int16 halves of each row's lane.
            let scalePairs = q2kScales(base + 1024 + 32 * (g / 2) + 16 * half)  // lane r: s(2p) | s(2p+1) << 16
            let one = g % 2 == 0 ? _mm256_and_si256(scalePairs, _mm256_set1_epi32(0xFFFF)) : _mm256_srli_epi32(scalePairs, 16)
            let sc = _mm256_or_si256(_mm256_and_si256(one, _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(one, 16))
            // Two weight vectors per pass over the tokens, as Q6_K's and Q3_K's steps.
            // 4 products per int16 lane (8 elements per row): |Σ| ≤ 4 · 3 · 128 fits.
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
        unit(0); unit(1); unit(2); unit(3); unit(4); unit(5); unit(6); unit(7)
        unit(8); unit(9); unit(10); unit(11); unit(12); unit(13); unit(14); unit(15)
        let dw = halfs(base + 1280 + 32 * half, high: false), dmw = halfs(base + 1280 + 32 * half, high: true)
        // Σ min · Σq per 16, two units per vpmaddwd, then KQuantDot's two float steps.
        @inline(__always) func finish(_ t: Int, _ isum: __m256i, _ c: inout __m256) {
            let bs = UnsafeRawPointer(act.bsums + ((t0 + t) * nsb + s) * 16)
            var p = _mm256_setzero_si256()
            for j in 0..<8 {
                let mins = q2kMins(base + 1024 + 32 * j + 16 * half)
                p = _mm256_add_epi32(p, _mm256_madd_epi16(mins, _mm256_set1_epi32(bs.loadUnaligned(fromByteOffset: 4 * j, as: Int32.self))))
            }
            let da = _mm256_set1_ps(act.d[(t0 + t) * nsb + s])
            let c1 = _mm256_fmadd_ps(_mm256_mul_ps(dw, da), _mm256_cvtepi32_ps(isum), c)
            c = _mm256_fnmadd_ps(_mm256_mul_ps(dmw, da), _mm256_cvtepi32_ps(p), c1)
        }
        eachSum(nt, i, &c, finish)
    }
}
#endif
