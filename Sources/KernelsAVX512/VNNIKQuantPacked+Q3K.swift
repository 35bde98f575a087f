#if arch(x86_64)
import _Builtin_intrinsics.intel
import KernelsAVX2

/// Q3_K's tile and kernel: 16 units of 16 elements as Q6_K's (signed 8-bit scales, one f16 d
/// per row), 3-bit weights. Per tile and super-block, 1,824 bytes (1,760 in the file):
///
///     [0, 1024)     16 vectors: lane r, byte k of vector 4·(g / 4) + v, bits 2·(g % 4)..: the two low
///                   bits of element 4v + k of unit g, row r
///     [1024, 1536)  8 vectors: bit g % 8 of vector 4·(g / 8) + v: that element's high bit
///     [1536, 1792)  the scales less 32 (−32...31) as pairs (byte 32j + 2r + h: unit 2j + h, row r)
///     [1792, 1824)  f16 d of row r at 2r
///
/// A weight is low | high << 2 (0...7): the file's value plus 4, taken out through the
/// activations' sums as Q6_K's 32 is. `KQuantPacker.q3k` writes the tiles (for both backends).
/// `VNNIKQuantPacked+Q2K.swift` has Q2_K's tile; the kernel below serves both.
extension VNNIKQuantPacked {
    static var q3kTileBytes: Int { KQuantTile.q3K }

    /// Q2_K's and Q3_K's tiles for `groupLowK`: 16 units of 16 elements, weights from 2-bit fields
    /// (and Q3_K's high bits), each unit's scale byte in pairs, and per-row float factors.
    protocol LowKTile {
        static var bytes: Int { get }
        /// Unit g's four weight vectors (16 rows × 4 elements each) of the super-block at q.
        static func weights(_ q: UnsafePointer<__m512i>, _ g: Int) -> (__m512i, __m512i, __m512i, __m512i)
        /// Lane r of pair j: the bytes of units 2j (low int16) and 2j + 1 (high) of row r, widened.
        static func pairs(_ base: UnsafeRawPointer, _ j: Int) -> __m512i
        /// Unit 2j (`odd` false) or 2j + 1's scale of each row as int32, from its pair.
        static func scale(_ pair: __m512i, odd: Bool) -> __m512i
        /// What meets the activations' sums per 16 as int16 pairs: Q3_K's scales (its offset of 4),
        /// Q2_K's mins.
        static func sumFactors(_ pair: __m512i) -> __m512i
        /// The super-block's per-row float factors (d; Q2_K's dmin too).
        static func factors(_ base: UnsafeRawPointer) -> (__m512, __m512)
        /// c after the super-block's float steps of `KQuantDot`, from the integer sum and the sums' product p.
        static func finish(_ c: __m512, isum: __m512i, p: __m512i, da: __m512, _ f: (__m512, __m512)) -> __m512
    }

    enum Q3KTile: LowKTile {
        static var bytes: Int { q3kTileBytes }
        /// Bits 2·(g % 4) of vectors 4·(g / 4)..., or'd with bit g % 8 of the high-bit vectors moved to
        /// bit 2. Every shift takes a literal once g is one (each unit is straight-line code).
        @inline(__always) static func weights(_ q: UnsafePointer<__m512i>, _ g: Int) -> (__m512i, __m512i, __m512i, __m512i) {
            let two = _mm512_set1_epi8(0x03), bit2 = _mm512_set1_epi8(0x04)
            @inline(__always) func w(_ v: Int) -> __m512i {
                let l = _mm512_loadu_si512(q + 4 * (g / 4) + v), h = _mm512_loadu_si512(q + 16 + 4 * (g / 8) + v)
                let low = g % 4 == 0 ? _mm512_and_si512(l, two) : _mm512_and_si512(_mm512_srli_epi16(l, UInt32(2 * (g % 4))), two)
                let b = g % 8  // 16-bit shifts: the mask drops what crosses bytes
                let high = b < 2 ? _mm512_slli_epi16(h, UInt32(2 - b)) : b == 2 ? h : _mm512_srli_epi16(h, UInt32(b - 2))
                return _mm512_or_si512(low, _mm512_and_si512(high, bit2))
            }
            return (w(0), w(1), w(2), w(3))
        }
        @inline(__always) static func pairs(_ base: UnsafeRawPointer, _ j: Int) -> __m512i {
            _mm512_cvtepi8_epi16(_mm256_loadu_si256((base + 1536 + 32 * j).assumingMemoryBound(to: __m256i.self)))
        }
        @inline(__always) static func scale(_ pair: __m512i, odd: Bool) -> __m512i {
            odd ? _mm512_srai_epi32(pair, 16) : _mm512_srai_epi32(_mm512_slli_epi32(pair, 16), 16)
        }
        @inline(__always) static func sumFactors(_ pair: __m512i) -> __m512i { pair }
        @inline(__always) static func factors(_ base: UnsafeRawPointer) -> (__m512, __m512) {
            let d = _mm512_cvtph_ps(_mm256_loadu_si256((base + 1792).assumingMemoryBound(to: __m256i.self)))
            return (d, d)
        }
        @inline(__always) static func finish(_ c: __m512, isum: __m512i, p: __m512i, da: __m512, _ f: (__m512, __m512)) -> __m512 {
            _mm512_fmadd_ps(_mm512_mul_ps(f.0, da), _mm512_cvtepi32_ps(_mm512_sub_epi32(isum, _mm512_slli_epi32(p, 2))), c)
        }
    }

    /// A Q2_K or Q3_K tile against tokens t0..<t0+nt (nt ≤ 8), `groupQ6K`'s steps with the tile's
    /// weights (unit by unit rather than by pairs and quads), scales and float steps: y[k·ldy + lane]
    /// for token t0 + k. (Q6_K keeps its own kernel: this form of it measured 3-9% slower at 8-16 tokens.)
    @inline(__always)
    static func groupLowK<L: LowKTile>(_: L.Type, _ tile: UnsafeRawPointer, _ end: UnsafeRawPointer, _ act: Q8KActivationsView,
                                       _ t0: Int, _ nt: Int, _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ mask: __mmask16,
                                       ahead plan: Ahead) {
        let nsb = act.superBlocks, bytes = L.bytes
        let z = _mm512_setzero_si512()
        var c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0
        for s in 0..<nsb {
            let base = tile + s * bytes
            plan.ask(base, s, bytes, end)
            var i0 = z, i1 = z, i2 = z, i3 = z, i4 = z, i5 = z, i6 = z, i7 = z
            let q = base.assumingMemoryBound(to: __m512i.self)
            @inline(__always) func unit(_ g: Int) {
                plan.unit(base, g, 16, bytes, end)
                let (w0, w1, w2, w3) = L.weights(q, g)
                let sc = L.scale(L.pairs(base, g / 2), odd: g % 2 == 1)
                @inline(__always) func token(_ t: Int, _ acc: inout __m512i) {
                    let a = UnsafeRawPointer(act.qs + ((t0 + t) * nsb + s) * 256 + g * 16)
                    @inline(__always) func bc(_ j: Int) -> __m512i { _mm512_set1_epi32(a.loadUnaligned(fromByteOffset: 4 * j, as: Int32.self)) }
                    var i = _mm512_dpbusd_epi32(z, w0, bc(0))
                    i = _mm512_dpbusd_epi32(i, w1, bc(1))
                    i = _mm512_dpbusd_epi32(i, w2, bc(2))
                    i = _mm512_dpbusd_epi32(i, w3, bc(3))
                    acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(i, sc))
                }
                token(0, &i0)
                if nt > 1 { token(1, &i1) }
                if nt > 2 { token(2, &i2) }
                if nt > 3 { token(3, &i3) }
                if nt > 4 { token(4, &i4) }
                if nt > 5 { token(5, &i5) }
                if nt > 6 { token(6, &i6) }
                if nt > 7 { token(7, &i7) }
            }
            unit(0); unit(1); unit(2); unit(3); unit(4); unit(5); unit(6); unit(7)
            unit(8); unit(9); unit(10); unit(11); unit(12); unit(13); unit(14); unit(15)
            let f = L.factors(base)
            @inline(__always) func finish(_ t: Int, _ isum: __m512i, _ c: inout __m512) {
                let bs = UnsafeRawPointer(act.bsums + ((t0 + t) * nsb + s) * 16)
                var p = z
                for j in 0..<8 {  // two units per vpdpwssd
                    let sums = _mm512_set1_epi32(bs.loadUnaligned(fromByteOffset: 4 * j, as: Int32.self))
                    p = _mm512_dpwssd_epi32(p, L.sumFactors(L.pairs(base, j)), sums)
                }
                c = L.finish(c, isum: isum, p: p, da: _mm512_set1_ps(act.d[(t0 + t) * nsb + s]), f)
            }
            finish(0, i0, &c0)
            if nt > 1 { finish(1, i1, &c1) }
            if nt > 2 { finish(2, i2, &c2) }
            if nt > 3 { finish(3, i3, &c3) }
            if nt > 4 { finish(4, i4, &c4) }
            if nt > 5 { finish(5, i5, &c5) }
            if nt > 6 { finish(6, i6, &c6) }
            if nt > 7 { finish(7, i7, &c7) }
        }
        storeTokenRows(y, ldy, mask, nt, (c0, c1, c2, c3, c4, c5, c6, c7))
    }
}
#endif
