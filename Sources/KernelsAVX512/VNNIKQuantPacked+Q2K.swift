#if arch(x86_64)
import _Builtin_intrinsics.intel
import KernelsAVX2

/// Q2_K's tile and kernel: 16 units of 16 elements, each with a 4-bit scale and a 4-bit min,
/// 2-bit weights, f16 d and dmin per row (x = d · scale · q − dmin · min). Per tile and super-block,
/// 1,344 bytes, as in the file:
///
///     [0, 1024)     16 vectors: lane r, byte k of vector 4·(g / 4) + v, bits 2·(g % 4)..: element 4v + k
///                   of unit g, row r (Q3_K's low bits)
///     [1024, 1280)  the file's scale-and-min bytes as pairs (byte 32j + 2r + h: unit 2j + h, row r)
///     [1280, 1344)  dword r = row r's f16 d | f16 dmin << 16, as in the file
///
/// The kernel is Q3_K's with these weights, unsigned scales and no offset; the mins meet the
/// activations' sums per 16 (two units per vpdpwssd), then the two float steps of `KQuantDot`.
/// `KQuantPacker.q2k` writes the tiles (for both backends).
extension VNNIKQuantPacked {
    static let q2kTileBytes = 1344

    /// Unit g's four weight vectors (16 rows × 4 elements each): bits 2·(g % 4) of vectors 4·(g / 4)...
    @inline(__always) static func q2kWeights(_ q: UnsafePointer<__m512i>, _ g: Int) -> (__m512i, __m512i, __m512i, __m512i) {
        let two = _mm512_set1_epi8(0x03)
        @inline(__always) func w(_ v: Int) -> __m512i {
            let l = _mm512_loadu_si512(q + 4 * (g / 4) + v)  // 16-bit shifts: the mask drops what crosses bytes
            return g % 4 == 0 ? _mm512_and_si512(l, two) : _mm512_and_si512(_mm512_srli_epi16(l, UInt32(2 * (g % 4))), two)
        }
        return (w(0), w(1), w(2), w(3))
    }

    /// A Q2_K tile against tokens t0..<t0+nt (nt ≤ 8): y[k·ldy + lane] for token t0 + k.
    @inline(__always)
    static func groupQ2K(_ tile: UnsafeRawPointer, _ end: UnsafeRawPointer, _ act: Q8KActivationsView,
                         _ t0: Int, _ nt: Int, _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ mask: __mmask16,
                         ahead plan: Ahead) {
        let nsb = act.superBlocks, bytes = q2kTileBytes
        let z = _mm512_setzero_si512()
        var c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0
        for s in 0..<nsb {
            let base = tile + s * bytes
            plan.ask(base, s, bytes, end)
            var i0 = z, i1 = z, i2 = z, i3 = z, i4 = z, i5 = z, i6 = z, i7 = z
            let q = base.assumingMemoryBound(to: __m512i.self)
            // Lane r of pair j: the scale-and-min bytes of units 2j (low int16) and 2j + 1 (high).
            @inline(__always) func pairs(_ j: Int) -> __m512i {
                _mm512_cvtepu8_epi16(_mm256_loadu_si256((base + 1024 + 32 * j).assumingMemoryBound(to: __m256i.self)))
            }
            @inline(__always) func unit(_ g: Int) {
                let (w0, w1, w2, w3) = q2kWeights(q, g)
                let pair = pairs(g / 2), low4 = _mm512_set1_epi32(0x0F)
                let sc = g % 2 == 0 ? _mm512_and_si512(pair, low4) : _mm512_and_si512(_mm512_srli_epi32(pair, 16), low4)
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
            let dm = _mm512_loadu_si512((base + 1280).assumingMemoryBound(to: __m512i.self))
            let dw = halfsLow(dm), dmw = halfsHigh(dm)
            @inline(__always) func finish(_ t: Int, _ isum: __m512i, _ c: inout __m512) {
                let bs = UnsafeRawPointer(act.bsums + ((t0 + t) * nsb + s) * 16)
                var p = z
                for j in 0..<8 {  // the mins (high nibbles) against the sums per 16
                    let mins = _mm512_srli_epi16(pairs(j), 4)
                    p = _mm512_dpwssd_epi32(p, mins, _mm512_set1_epi32(bs.loadUnaligned(fromByteOffset: 4 * j, as: Int32.self)))
                }
                let da = _mm512_set1_ps(act.d[(t0 + t) * nsb + s])
                let c1 = _mm512_fmadd_ps(_mm512_mul_ps(dw, da), _mm512_cvtepi32_ps(isum), c)
                c = _mm512_fnmadd_ps(_mm512_mul_ps(dmw, da), _mm512_cvtepi32_ps(p), c1)
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
