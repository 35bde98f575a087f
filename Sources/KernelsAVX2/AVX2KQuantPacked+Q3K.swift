#if arch(x86_64)
import _Builtin_intrinsics.intel

/// Q2_K's and Q3_K's steps of the packed AVX2 kernel (`AVX2KQuantPacked`), on the tiles of
/// `VNNIKQuantPacked+Q2K.swift` and `+Q3K.swift`: Q6_K's steps (16 units of 16) with their weights,
/// scales and float steps (Q3_K: 3-bit weights from two low bits and a high bit, signed scales, the +4
/// offset taken out through the activations' sums; Q2_K: 2-bit weights, 4-bit scales, 4-bit mins
/// against the sums). Q6_K keeps its own steps: in this generic form they measured slower.
extension AVX2KQuantPacked {
    protocol LowKUnits: Block {
        /// Weight vector v (8 rows × 4 elements) of unit g of a super-block's half h32 / 32.
        static func weights(_ base: UnsafeRawPointer, _ g: Int, _ v: Int, _ h32: Int) -> __m256i
        /// Where a super-block's unit bytes start (byte 32j + 2r + h: unit 2j + h, row r).
        static var pairsOffset: Int { get }
        /// 8 rows' bytes of units 2j, 2j + 1 at p as int16 pairs: the scales, and what meets the
        /// activations' sums per 16 (Q3_K's scales, for its offset; Q2_K's mins).
        static func scalePairs(_ p: UnsafeRawPointer) -> __m256i
        static func sumPairs(_ p: UnsafeRawPointer) -> __m256i
        /// Rows 8·half..<8·half+8's float factors (d; Q2_K's dmin too).
        static func factors(_ base: UnsafeRawPointer, _ half: Int) -> (__m256, __m256)
        /// c after `KQuantDot`'s float steps, from the integer sum and the sums' product p.
        static func finish(_ c: __m256, isum: __m256i, p: __m256i, da: __m256, _ f: (__m256, __m256)) -> __m256
    }

    enum Q3K: LowKUnits {
        static var bytes: Int { q3kTileBytes }
        static var pairsOffset: Int { 1536 }
        /// Bits 2·(g % 4) of vector 4·(g / 4) + v, or'd with bit g % 8 of high-bit vector 4·(g / 8) + v
        /// moved to bit 2 (the masks drop what crosses bytes). Literal arguments make every shift an immediate.
        @inline(__always) static func weights(_ base: UnsafeRawPointer, _ g: Int, _ v: Int, _ h32: Int) -> __m256i {
            let l = load(base + (4 * (g / 4) + v) * 64 + h32)
            let low = _mm256_and_si256(g % 4 == 0 ? l : _mm256_srli_epi16(l, Int32(2 * (g % 4))), _mm256_set1_epi8(0x03))
            let h = load(base + 1024 + (4 * (g / 8) + v) * 64 + h32), b = g % 8
            let high = b < 2 ? _mm256_slli_epi16(h, Int32(2 - b)) : b == 2 ? h : _mm256_srli_epi16(h, Int32(b - 2))
            return _mm256_or_si256(low, _mm256_and_si256(high, _mm256_set1_epi8(0x04)))
        }
        @inline(__always) static func scalePairs(_ p: UnsafeRawPointer) -> __m256i { _mm256_cvtepi8_epi16(load128(p)) }
        @inline(__always) static func sumPairs(_ p: UnsafeRawPointer) -> __m256i { _mm256_cvtepi8_epi16(load128(p)) }
        @inline(__always) static func factors(_ base: UnsafeRawPointer, _ half: Int) -> (__m256, __m256) {
            let d = _mm256_cvtph_ps(load128(base + 1792 + 16 * half))
            return (d, d)
        }
        @inline(__always) static func finish(_ c: __m256, isum: __m256i, p: __m256i, da: __m256, _ f: (__m256, __m256)) -> __m256 {
            _mm256_fmadd_ps(_mm256_mul_ps(f.0, da), _mm256_cvtepi32_ps(_mm256_sub_epi32(isum, _mm256_slli_epi32(p, 2))), c)
        }
    }

    /// Super-block s of all 16 rows of a tile against one token, rows 0..<8 added to c and
    /// 8..<16 to d: `lowKBlock`'s steps, with both halves sharing each unit's activation broadcasts.
    @inline(__always)
    static func lowKVectorBlock<U: LowKUnits>(_: U.Type, _ base: UnsafeRawPointer, _ act: Q8KActivationsView, _ s: Int,
                                              _ c: inout __m256, _ d: inout __m256, _ ahead: UnsafeRawPointer, _ end: UnsafeRawPointer) {
        let evenWords = _mm256_setr_epi8(0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13, 0, 1, 0, 1, 4, 5, 4, 5, 8, 9, 8, 9, 12, 13, 12, 13)
        let oddWords = _mm256_add_epi8(evenWords, _mm256_set1_epi8(2))
        var i0 = _mm256_setzero_si256(), i1 = i0
        let a0 = UnsafeRawPointer(act.qs + s * 256)
        @inline(__always) func unit(_ g: Int) {
            let a = a0 + 16 * g
            spread(ahead, end, (U.bytes + 63) / 64, g, 16, oneToken: true)  // rounded up: a tile may start mid-line
            @inline(__always) func bc(_ j: Int) -> __m256i { _mm256_set1_epi32(a.loadUnaligned(fromByteOffset: 4 * j, as: Int32.self)) }
            let b0 = bc(0), b1 = bc(1), b2 = bc(2), b3 = bc(3)
            @inline(__always) func half(_ h32: Int, _ acc: inout __m256i) {
                @inline(__always) func weights(_ v: Int) -> __m256i { U.weights(base, g, v, h32) }
                // Lane r of the pairs is s(2p) | s(2p+1) << 16 (int16): one byte shuffle copies the unit's word to both.
                let pairs = U.scalePairs(base + U.pairsOffset + 32 * (g / 2) + h32 / 2)
                let sc = _mm256_shuffle_epi8(pairs, g % 2 == 0 ? evenWords : oddWords)
                // 4 products per int16 lane (8 elements per row): |Σ| ≤ 4 · 7 · 128 fits.
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
            p0 = _mm256_add_epi32(p0, _mm256_madd_epi16(U.sumPairs(base + U.pairsOffset + 32 * j), sums))
            p1 = _mm256_add_epi32(p1, _mm256_madd_epi16(U.sumPairs(base + U.pairsOffset + 16 + 32 * j), sums))
        }
        c = U.finish(c, isum: i0, p: p0, da: da, U.factors(base, 0))
        d = U.finish(d, isum: i1, p: p1, da: da, U.factors(base, 1))
    }

    /// Super-block s of rows 8·half..<8·half+8 of a tile against tokens t0..<t0+nt, added to c.
    @inline(__always)
    static func lowKBlock<U: LowKUnits>(_: U.Type, _ base: UnsafeRawPointer, _ half: Int, _ act: Q8KActivationsView, _ t0: Int,
                                        _ nt: Int, _ s: Int, _ c: inout Sums, _ ahead: UnsafeRawPointer?, _ end: UnsafeRawPointer) {
        let nsb = act.superBlocks, h32 = 32 * half
        let z = _mm256_setzero_si256()
        var i = (z, z, z, z, z, z, z, z)
        // Each call below passes its unit as a literal, so every shift is an immediate (the high
        // bit's shift is g % 8: a loop over quads as Q6_K's kernel has would leave it to run time).
        @inline(__always) func unit(_ g: Int) {
            if let ahead { spread(ahead, end, (U.bytes + 63) / 64, 16 * half + g, 32) }
            @inline(__always) func weights(_ v: Int) -> __m256i { U.weights(base, g, v, h32) }
            // The unit's scale in both int16 halves of each row's lane (Q2_K's are positive int16).
            let scalePairs = U.scalePairs(base + U.pairsOffset + 32 * (g / 2) + 16 * half)  // lane r: s(2p) | s(2p+1) << 16
            let one = g % 2 == 0 ? _mm256_srai_epi32(_mm256_slli_epi32(scalePairs, 16), 16) : _mm256_srai_epi32(scalePairs, 16)
            let sc = _mm256_or_si256(_mm256_and_si256(one, _mm256_set1_epi32(0xFFFF)), _mm256_slli_epi32(one, 16))
            // Two weight vectors per pass over the tokens, as Q6_K's steps (four live spilled the sums).
            // 4 products per int16 lane (8 elements per row): |Σ| ≤ 4 · 7 · 128 fits.
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
        let f = U.factors(base, half)
        // The sums per 16 against the offset's scales or the mins, two units per vpmaddwd.
        @inline(__always) func finish(_ t: Int, _ isum: __m256i, _ c: inout __m256) {
            let bs = UnsafeRawPointer(act.bsums + ((t0 + t) * nsb + s) * 16)
            var p = _mm256_setzero_si256()
            for j in 0..<8 {
                let pairs = U.sumPairs(base + U.pairsOffset + 32 * j + 16 * half)
                p = _mm256_add_epi32(p, _mm256_madd_epi16(pairs, _mm256_set1_epi32(bs.loadUnaligned(fromByteOffset: 4 * j, as: Int32.self))))
            }
            c = U.finish(c, isum: isum, p: p, da: _mm256_set1_ps(act.d[(t0 + t) * nsb + s]), f)
        }
        eachSum(nt, i, &c, finish)
    }
}

/// Q2_K's and Q3_K's steps: one kernel, specialized by the tile type.
extension AVX2KQuantPacked.LowKUnits {
    @inline(__always) static func block(_ base: UnsafeRawPointer, _ half: Int, _ act: Q8KActivationsView, _ t0: Int, _ nt: Int,
                                        _ s: Int, _ c: inout AVX2KQuantPacked.Sums, _ ahead: UnsafeRawPointer?, _ end: UnsafeRawPointer) {
        AVX2KQuantPacked.lowKBlock(Self.self, base, half, act, t0, nt, s, &c, ahead, end)
    }
    @inline(__always) static func vectorBlock(_ base: UnsafeRawPointer, _ act: Q8KActivationsView, _ s: Int, _ c: inout __m256,
                                              _ d: inout __m256, _ ahead: UnsafeRawPointer, _ end: UnsafeRawPointer) {
        AVX2KQuantPacked.lowKVectorBlock(Self.self, base, act, s, &c, &d, ahead, end)
    }
}
#endif
