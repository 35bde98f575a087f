#if arch(x86_64)
import _Builtin_intrinsics.intel
import KernelsAVX2

/// IQ4_XS's tile and kernel: 8 sub-blocks of 32, each with a 6-bit scale, each element a nibble
/// indexing 16 non-uniform levels (−127...113, ggml's `kvalues_iq4nl`). Per tile and super-block,
/// 2,208 bytes (2,176 in the file):
///
///     [0, 2048)     8 × 4 vectors: lane r, byte k of vector 4j + v = byte 4v + k of sub-block j's
///                   nibbles, row r (the file's bytes: low nibbles its elements 0-15, high ones 16-31)
///     [2048, 2176)  the scales less 32 (−32...31): byte 16j + r, sub-block j, row r
///     [2176, 2208)  f16 d of row r at 2r
///
/// A nibble becomes its level + 128 (1...241, unsigned for `vpdpbusd`) by one byte shuffle; the 128
/// comes out through the activations' sums, as Q6_K's 32 does. `KQuantPacker.iq4xs` writes the tiles
/// (for both backends). The nibble vectors are laid out as Q4_K's, so `groupIQ4XS` takes a
/// sub-block of 32 as Q5_K's kernel takes a unit: one scale multiply per 32 products a row and token
/// (run as Q3_K's 16 units of 16, `groupLowK`, it took two per 32 and a sum product per 16: a
/// 512-token prompt of Qwen2.5-Coder-1.5B IQ4_XS 202-205 against 220-233 t/s).
extension VNNIKQuantPacked {
    enum IQ4XSTile {
        static var bytes: Int { KQuantTile.iq4XS }
        /// The 16 levels + 128 as unsigned bytes, in every 128-bit lane (IQ4_NL's too, `VNNIPacked32`).
        @inline(__always) static var levels: __m512i {
            _mm512_broadcast_i32x4(_mm_setr_epi8(1, 24, 45, 63, 79, 93, 106, 118, -127, -115, -103, -90, -75, -59, -39, -15))
        }
    }

    /// Tokens t0..<t0+nt (nt ≤ 8) against an IQ4_XS tile: y[k·ldy + lane] for token t0 + k. Per
    /// sub-block, its 8 vectors of levels + 128 against the 8 activation dwords in one chain, times
    /// the scale; per super-block, Σ scale · Σa per 32 (the pair sums, two sub-blocks per vpdpwssd)
    /// takes out the 128, then `KQuantDot`'s float step (its bits).
    @inline(__always)
    static func groupIQ4XS(_ tile: UnsafeRawPointer, _ end: UnsafeRawPointer, _ act: Q8KActivationsView, _ t0: Int, _ nt: Int,
                           _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ mask: __mmask16, ahead plan: Ahead) {
        let nsb = act.superBlocks, bytes = IQ4XSTile.bytes
        let nibble = _mm512_set1_epi8(0x0F), table = IQ4XSTile.levels, low16 = _mm512_set1_epi32(0xFFFF)
        let z = _mm512_setzero_si512()
        var c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0
        for s in 0..<nsb {
            let base = tile + s * bytes
            plan.ask(base, s, bytes, end)
            var i0 = z, i1 = z, i2 = z, i3 = z, i4 = z, i5 = z, i6 = z, i7 = z
            let q = base.assumingMemoryBound(to: __m512i.self)
            for u in 0..<8 {
                plan.unit(base, u, 8, bytes, end)
                let x0 = _mm512_loadu_si512(q + 4 * u), x1 = _mm512_loadu_si512(q + 4 * u + 1)
                let x2 = _mm512_loadu_si512(q + 4 * u + 2), x3 = _mm512_loadu_si512(q + 4 * u + 3)
                @inline(__always) func lo(_ x: __m512i) -> __m512i { _mm512_shuffle_epi8(table, _mm512_and_si512(x, nibble)) }
                @inline(__always) func hi(_ x: __m512i) -> __m512i { _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(x, 4), nibble)) }
                let w = (lo(x0), lo(x1), lo(x2), lo(x3), hi(x0), hi(x1), hi(x2), hi(x3))
                let sc = _mm512_cvtepi8_epi32(load128(base + 2048 + 16 * u))
                @inline(__always) func token(_ k: Int, _ acc: inout __m512i) {
                    let a = UnsafeRawPointer(act.qs + ((t0 + k) * nsb + s) * 256 + u * 32)
                    acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(blockDot(z, w, a), sc))  // 32 · 241 · 127 > int16
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
            // Lane r of pair k: the scales of sub-blocks 2k (low int16) and 2k + 1 (high), row r.
            @inline(__always) func pair(_ k: Int) -> __m512i {
                let a = _mm512_cvtepi8_epi32(load128(base + 2048 + 32 * k)), b = _mm512_cvtepi8_epi32(load128(base + 2064 + 32 * k))
                return _mm512_or_si512(_mm512_and_si512(a, low16), _mm512_slli_epi32(b, 16))
            }
            let pairs = (pair(0), pair(1), pair(2), pair(3))
            let d = _mm512_cvtph_ps(_mm256_loadu_si256((base + 2176).assumingMemoryBound(to: __m256i.self)))
            @inline(__always) func finish(_ k: Int, _ isum: __m512i, _ c: inout __m512) {
                let i = (t0 + k) * nsb + s, ps = act.pairSums + i * 4
                var p = _mm512_dpwssd_epi32(z, pairs.0, _mm512_set1_epi32(ps[0]))
                p = _mm512_dpwssd_epi32(p, pairs.1, _mm512_set1_epi32(ps[1]))
                p = _mm512_dpwssd_epi32(p, pairs.2, _mm512_set1_epi32(ps[2]))
                p = _mm512_dpwssd_epi32(p, pairs.3, _mm512_set1_epi32(ps[3]))
                c = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(act.d[i])), _mm512_cvtepi32_ps(_mm512_sub_epi32(isum, _mm512_slli_epi32(p, 7))), c)
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
