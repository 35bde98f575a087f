#if arch(x86_64)
import _Builtin_intrinsics.intel
import CPrefetch


/// Q8_0 weights against activations rounded to int16 per block of 32 (the logits
/// matmul from the file's layout, the same bits as `VNNIPacked32Logits` on a copy packed
/// at load; `AVX2Q8x16MatMul` is the AVX2 version) on AVX-512 VNNI. As in `VNNIMatMul`,
/// a tile of 16 rows is repacked side by side (lane r = row r): each block becomes
/// 16 vectors of sign-extended int16 pairs, so per token one broadcast dword (two
/// activations) and one `vpdpwssd` advance all 16 rows, with no horizontal sum.
/// The int32 block dots are exact (|Σ| ≤ 32·128·32767 < 2³¹); then one convert and
/// one FMA by weight scale × activation scale per block, blocks in order. Each lane
/// is one (row, token) with the same float operations in the same order whatever the
/// batch or the row's place in the tile: batch-invariant by construction. (A token
/// alone takes `single`, which gets the same exact integer dots another way.)
public enum VNNIQ8x16MatMul {
    public static let tileRows = 16

    /// Bytes of 64-aligned scratch `rows` needs per call for rows of `blocks` 32-blocks.
    public static func scratchBytes(blocks: Int) -> Int { blocks * 1024 + blocks * 64 + 16 * 8 }

    /// a16: [nTokens, nb·32] int16, ad: [nTokens, nb] their scales; w: Q8_0 rows of
    /// `rowBytes` = nb·34 bytes. y[t·ldy + r] = Σ_c w[r, c] · x[t, c] for r in r0..<r1,
    /// in tiles of 16 rows from r0 (callers give each thread whole tiles).
    public static func rows(w: UnsafeRawPointer, rowBytes: Int, r0: Int, r1: Int, a16: UnsafePointer<Int16>,
                            ad: UnsafePointer<Float>, nb: Int, nTokens: Int, y: UnsafeMutablePointer<Float>, ldy: Int,
                            scratch: UnsafeMutableRawPointer) {
        precondition(rowBytes == nb * 34 && r1 > r0)
        let packed = scratch.bindMemory(to: __m512i.self, capacity: nb * 16)           // [nb, 16 pairs] × 16 rows
        let dsc = (scratch + nb * 1024).bindMemory(to: Float.self, capacity: nb * 16)  // [nb, 16 rows] weight scales
        let rows = UnsafeMutableRawPointer(dsc + nb * 16).bindMemory(to: UnsafeRawPointer.self, capacity: 16)
        var r = r0
        while r < r1 {
            let count = min(16, r1 - r)
            // Lanes past the last row repeat it; they are never stored.
            for i in 0..<16 { rows[i] = w + (r + min(i, count - 1)) * rowBytes }
            // The tile after next is prefetched a slice per block, so that the reads from memory
            // (the logits matrix is far larger than the caches) overlap the arithmetic. Without
            // it, 16 strided rows (or a copy of the tile first, as VNNIMatMul does) stalled on
            // memory: one token was 15-30% slower than the row-by-row AVX2 kernel.
            let ahead = r + 2 * tileRows
            let next = Prefetch(start: w + ahead * rowBytes, bytes: max(0, min(tileRows, r1 - ahead)) * rowBytes, nb: nb,
                                stream: nTokens == 1)
            tile(rows, packed, dsc, a16, ad, nb, nTokens, y + r, ldy, __mmask16(truncatingIfNeeded: (1 << count) - 1), next)
            r += count
        }
    }

    /// Cache lines of a tile ahead, a slice for each block of the current one. `prefetcht2`
    /// two tiles ahead measured best for one token (`prefetcht0` one tile ahead was ~20%
    /// slower, presumably held up by the L1's few miss buffers; all lines at once stalls).
    /// `stream`: one token reads the tile once, so the lines go in as a stream (`jeton_prefetch_stream`,
    /// as `VNNIKQuantPacked.Ahead.stream`); more tokens read it again from L2.
    struct Prefetch {
        let start: UnsafeRawPointer, bytes: Int, nb: Int, stream: Bool
        @inline(__always) func slice(_ b: Int) {
            let lo = (b * bytes / nb) & ~63, hi = (b + 1) * bytes / nb
            var off = lo
            while off < hi {
                if stream { jeton_prefetch_stream(start + off, 64) } else { jeton_prefetch_l2(start + off) }
                off += 64
            }
        }
    }

    /// One tile (`rows`: its 16 row pointers) against all n tokens; y[t·ldy + lane].
    static func tile(_ rows: UnsafePointer<UnsafeRawPointer>, _ packed: UnsafeMutablePointer<__m512i>, _ dsc: UnsafeMutablePointer<Float>,
                     _ a16: UnsafePointer<Int16>, _ ad: UnsafePointer<Float>, _ nb: Int, _ n: Int,
                     _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ mask: __mmask16, _ next: Prefetch) {
        if n == 1 {
            single(rows, a16, ad, nb, y, mask, next)
            return
        }
        if n <= 8 {
            // Small batches: each block is decoded once anyway, so straight into registers.
            group(true, rows, packed, dsc, a16, ad, nb, 0, n, y, ldy, mask, next)
            return
        }
        for b in 0..<nb {
            _mm512_storeu_ps(dsc + 16 * b, scales(rows, b))
            pack(rows, b, packed + 16 * b)
            next.slice(b)
        }
        let none = Prefetch(start: next.start, bytes: 0, nb: nb, stream: false)
        var t = 0
        while t + 8 <= n {
            group(false, rows, packed, dsc, a16, ad, nb, t, 8, y + t * ldy, ldy, mask, none)
            t += 8
        }
        if t < n { group(false, rows, packed, dsc, a16, ad, nb, t, n - t, y + t * ldy, ldy, mask, none) }
    }

    /// One token (single-sequence generation), where repacking a block for one use costs
    /// more than it saves: per row `vpmovsxbw` + `vpmaddwd` give 16 partial sums, and a
    /// transposing reduction turns the 16 rows' partials into one vector of exact block
    /// dots, lane r = row r. From there the same float operations as `group`, so the
    /// result is bitwise the one the token gets in any batch.
    static func single(_ rows: UnsafePointer<UnsafeRawPointer>, _ a16: UnsafePointer<Int16>, _ ad: UnsafePointer<Float>,
                       _ nb: Int, _ y: UnsafeMutablePointer<Float>, _ mask: __mmask16, _ next: Prefetch) {
        var c = _mm512_setzero_ps()
        for b in 0..<nb {
            let dw = scales(rows, b)
            next.slice(b)
            let a = _mm512_loadu_si512(UnsafeRawPointer(a16 + b * 32))
            @inline(__always) func partial(_ r: Int) -> __m512i {
                _mm512_madd_epi16(_mm512_cvtepi8_epi16(_mm256_loadu_si256((rows[r] + b * 34 + 2).assumingMemoryBound(to: __m256i.self))), a)
            }
            let dot = reduce16(partial(0), partial(1), partial(2), partial(3), partial(4), partial(5), partial(6), partial(7),
                               partial(8), partial(9), partial(10), partial(11), partial(12), partial(13), partial(14), partial(15))
            c = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dw, _mm512_set1_ps(ad[b])), c)
        }
        _mm512_mask_storeu_ps(y, mask, c)
    }

    /// Lane r = the sum of the 16 lanes of p_r (exact int32), in 45 operations: pairs of
    /// vectors are interleaved and added, halving the lanes per row at each step.
    @inline(__always)
    static func reduce16(_ p0: __m512i, _ p1: __m512i, _ p2: __m512i, _ p3: __m512i, _ p4: __m512i, _ p5: __m512i,
                         _ p6: __m512i, _ p7: __m512i, _ p8: __m512i, _ p9: __m512i, _ p10: __m512i, _ p11: __m512i,
                         _ p12: __m512i, _ p13: __m512i, _ p14: __m512i, _ p15: __m512i) -> __m512i {
        // Per 128-bit lane: rows (r, r+1, r, r+1).
        @inline(__always) func two(_ a: __m512i, _ b: __m512i) -> __m512i {
            _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b))
        }
        // Per 128-bit lane: rows (r, r+1, r+2, r+3).
        @inline(__always) func four(_ a: __m512i, _ b: __m512i) -> __m512i {
            _mm512_add_epi32(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b))
        }
        // 128-bit lanes (a0+a1, a2+a3, b0+b1, b2+b3).
        let even: __m512i = SIMD8(0, 1, 4, 5, 8, 9, 12, 13)
        let odd: __m512i = SIMD8(2, 3, 6, 7, 10, 11, 14, 15)
        @inline(__always) func lanes(_ a: __m512i, _ b: __m512i) -> __m512i {
            _mm512_add_epi32(_mm512_permutex2var_epi64(a, even, b), _mm512_permutex2var_epi64(a, odd, b))
        }
        let q0 = four(two(p0, p1), two(p2, p3)), q1 = four(two(p4, p5), two(p6, p7))
        let q2 = four(two(p8, p9), two(p10, p11)), q3 = four(two(p12, p13), two(p14, p15))
        return lanes(lanes(q0, q1), lanes(q2, q3))
    }

    /// The f16 scales of block b of the 16 rows (lane r = row r).
    @inline(__always) static func scales(_ rows: UnsafePointer<UnsafeRawPointer>, _ b: Int) -> __m512 {
        halfsLow(column0(rows, b * 34))
    }

    /// Block b of the 16 rows → out[0..<16]: out[k] lane r = elements 2k, 2k+1 of row r as int16.
    /// `transpose16x4` gives 4 bytes (elements 4j..<4j+4) per lane; `vpshufb` moves two of
    /// them to the high byte of each word and an arithmetic shift sign-extends them.
    @inline(__always) static func pack(_ rows: UnsafePointer<UnsafeRawPointer>, _ b: Int, _ out: UnsafeMutablePointer<__m512i>) {
        // Per dword d of a 128-bit lane: bytes [-, 4d, -, 4d+1] (low pair) or [-, 4d+2, -, 4d+3].
        let lo = unsafeBitCast(SIMD16<Int32>(0x0180_0080, 0x0580_0480, 0x0980_0880, 0x0D80_0C80,
                                             0x0180_0080, 0x0580_0480, 0x0980_0880, 0x0D80_0C80,
                                             0x0180_0080, 0x0580_0480, 0x0980_0880, 0x0D80_0C80,
                                             0x0180_0080, 0x0580_0480, 0x0980_0880, 0x0D80_0C80), to: __m512i.self)
        let hi = _mm512_add_epi8(lo, _mm512_set1_epi32(0x0200_0200))  // the 0x80s stay negative: still zeroing
        @inline(__always) func pairs(_ v: __m512i, _ k: Int) {
            out[k] = _mm512_srai_epi16(_mm512_shuffle_epi8(v, lo), 8)
            out[k + 1] = _mm512_srai_epi16(_mm512_shuffle_epi8(v, hi), 8)
        }
        let (v0, v1, v2, v3) = transpose16x4(rows, b * 34 + 2)
        pairs(v0, 0); pairs(v1, 2); pairs(v2, 4); pairs(v3, 6)
        let (v4, v5, v6, v7) = transpose16x4(rows, b * 34 + 18)
        pairs(v4, 8); pairs(v5, 10); pairs(v6, 12); pairs(v7, 14)
    }

    /// The 16 rows against tokens t0..<t0+nt (nt ≤ 8); y[k·ldy + lane] for token t0+k.
    /// `fused`: decode each block here (into `packed[0..<16]`) instead of reading the
    /// repacked tile; the same values meet the same operations.
    @inline(__always)
    static func group(_ fused: Bool, _ rows: UnsafePointer<UnsafeRawPointer>, _ packed: UnsafeMutablePointer<__m512i>,
                      _ dsc: UnsafePointer<Float>, _ a16: UnsafePointer<Int16>, _ ad: UnsafePointer<Float>, _ nb: Int,
                      _ t0: Int, _ nt: Int, _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ mask: __mmask16, _ next: Prefetch) {
        var c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0
        for b in 0..<nb {
            let wp = fused ? packed : packed + 16 * b
            let dw: __m512
            if fused {
                dw = scales(rows, b)
                pack(rows, b, packed)
                next.slice(b)
            } else {
                dw = _mm512_loadu_ps(dsc + 16 * b)
            }
            let w0 = wp[0], w1 = wp[1], w2 = wp[2], w3 = wp[3], w4 = wp[4], w5 = wp[5], w6 = wp[6], w7 = wp[7]
            let w8 = wp[8], w9 = wp[9], w10 = wp[10], w11 = wp[11], w12 = wp[12], w13 = wp[13], w14 = wp[14], w15 = wp[15]
            @inline(__always) func token(_ k: Int, _ c: inout __m512) {
                let ab = (t0 + k) * nb + b
                let a = UnsafeRawPointer(a16 + ab * 32)
                @inline(__always) func bc(_ j: Int) -> __m512i { _mm512_set1_epi32(a.loadUnaligned(fromByteOffset: 4 * j, as: Int32.self)) }
                // The exact int32 dot of the block, as two dependency chains (its halves) for
                // latency when few tokens interleave. Integer sums are exact: the split cannot
                // change the result.
                var i = _mm512_dpwssd_epi32(_mm512_setzero_si512(), w0, bc(0))
                var e = _mm512_dpwssd_epi32(_mm512_setzero_si512(), w8, bc(8))
                i = _mm512_dpwssd_epi32(i, w1, bc(1))
                e = _mm512_dpwssd_epi32(e, w9, bc(9))
                i = _mm512_dpwssd_epi32(i, w2, bc(2))
                e = _mm512_dpwssd_epi32(e, w10, bc(10))
                i = _mm512_dpwssd_epi32(i, w3, bc(3))
                e = _mm512_dpwssd_epi32(e, w11, bc(11))
                i = _mm512_dpwssd_epi32(i, w4, bc(4))
                e = _mm512_dpwssd_epi32(e, w12, bc(12))
                i = _mm512_dpwssd_epi32(i, w5, bc(5))
                e = _mm512_dpwssd_epi32(e, w13, bc(13))
                i = _mm512_dpwssd_epi32(i, w6, bc(6))
                e = _mm512_dpwssd_epi32(e, w14, bc(14))
                i = _mm512_dpwssd_epi32(i, w7, bc(7))
                e = _mm512_dpwssd_epi32(e, w15, bc(15))
                c = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(i, e)), _mm512_mul_ps(dw, _mm512_set1_ps(ad[ab])), c)
            }
            token(0, &c0)
            if nt > 1 { token(1, &c1) }
            if nt > 2 { token(2, &c2) }
            if nt > 3 { token(3, &c3) }
            if nt > 4 { token(4, &c4) }
            if nt > 5 { token(5, &c5) }
            if nt > 6 { token(6, &c6) }
            if nt > 7 { token(7, &c7) }
        }
        storeTokenRows(y, ldy, mask, nt, (c0, c1, c2, c3, c4, c5, c6, c7))
    }
}
#endif
