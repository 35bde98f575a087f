#if arch(x86_64)
import _Builtin_intrinsics.intel
import KernelsAVX2

/// The packed tiles' group kernels (up to 8 tokens against a tile, straight from the packed copy):
/// Q4_K and Q5_K (`group`), Q6_K (`groupQ6K`), and Q5_K prompts decoded once (`decodedQ5K`).
/// Q2_K, Q3_K and IQ4_XS have theirs in their own files; `rows` picks among them.
extension VNNIKQuantPacked {
    /// Unit u's nibble vectors `w` of a Q5_K tile (super-block at `q`) with each element's fifth bit
    /// (bit u of the fifth-bit vectors) moved to bit 4: 16-bit shifts of at most 4, so the mask
    /// keeps each byte's own bit.
    @inline(__always)
    static func withFifthBits(_ w: BlockWeights, _ q: UnsafePointer<__m512i>, _ u: Int) -> BlockWeights {
        let bit4 = _mm512_set1_epi8(0x10)
        @inline(__always) func fifth(_ v: Int) -> __m512i {
            let h = _mm512_loadu_si512(q + q4kTileBytes / 64 + v)
            return _mm512_and_si512(u < 4 ? _mm512_slli_epi16(h, UInt32(4 - u)) : _mm512_srli_epi16(h, UInt32(u - 4)), bit4)
        }
        return (_mm512_or_si512(w.0, fifth(0)), _mm512_or_si512(w.1, fifth(1)), _mm512_or_si512(w.2, fifth(2)),
                _mm512_or_si512(w.3, fifth(3)), _mm512_or_si512(w.4, fifth(4)), _mm512_or_si512(w.5, fifth(5)),
                _mm512_or_si512(w.6, fifth(6)), _mm512_or_si512(w.7, fifth(7)))
    }

    /// A Q5_K tile against a prompt's tokens (more groups than take shares): decoded once into
    /// `scratch` in `VNNIKQuantBatch`'s layout, whose group loop then runs on it (the same steps,
    /// the same bits). Decoding the fifth bits again for every group of 8 made Qwen2.5-Coder-1.5B
    /// Q5_K_M's 512-token prompt 12% slower than the per-call repacking kernel.
    static func decodedQ5K(_ tile: UnsafeRawPointer, _ end: UnsafeRawPointer, _ act: Q8KActivationsView,
                           _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ mask: __mmask16, _ scratch: UnsafeMutableRawPointer) {
        let nsb = act.superBlocks
        let packed = scratch.bindMemory(to: __m512i.self, capacity: nsb * 80)  // [nsb, 8 units, 8 vectors]
        let scales = packed + nsb * 64, pairs = scales + nsb * 8              // [nsb, 8] each
        let dw = UnsafeMutableRawPointer(pairs + nsb * 8).bindMemory(to: __m512.self, capacity: 2 * nsb), dm = dw + nsb
        let nibbles = _mm512_set1_epi8(0x0F)
        for s in 0..<nsb {
            let base = tile + s * q5kTileBytes
            Ahead.distance.ask(base, s, q5kTileBytes, end)
            let q = base.assumingMemoryBound(to: __m512i.self)
            for u in 0..<8 {
                let x0 = _mm512_loadu_si512(q + 4 * u), x1 = _mm512_loadu_si512(q + 4 * u + 1)
                let x2 = _mm512_loadu_si512(q + 4 * u + 2), x3 = _mm512_loadu_si512(q + 4 * u + 3)
                let w = withFifthBits((_mm512_and_si512(x0, nibbles), _mm512_and_si512(x1, nibbles),
                                       _mm512_and_si512(x2, nibbles), _mm512_and_si512(x3, nibbles),
                                       _mm512_and_si512(_mm512_srli_epi16(x0, 4), nibbles), _mm512_and_si512(_mm512_srli_epi16(x1, 4), nibbles),
                                       _mm512_and_si512(_mm512_srli_epi16(x2, 4), nibbles), _mm512_and_si512(_mm512_srli_epi16(x3, 4), nibbles)),
                                      q, u)
                let o = packed + (8 * s + u) * 8
                (o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]) = w
                scales[8 * s + u] = _mm512_cvtepu8_epi32(load128(base + 2048 + 16 * u))
            }
            for k in 0..<4 {
                pairs[8 * s + k] = _mm512_cvtepu8_epi16(_mm256_loadu_si256((base + 2176 + 32 * k).assumingMemoryBound(to: __m256i.self)))
            }
            let dmv = _mm512_loadu_si512((base + 2304).assumingMemoryBound(to: __m512i.self))
            dw[s] = halfsLow(dmv)
            dm[s] = halfsHigh(dmv)
        }
        var t = 0
        while t < act.nTokens {
            let nt = min(8, act.nTokens - t)
            VNNIKQuantBatch.group(VNNIKQuantBatch.Q5K.self, packed, scales, pairs, dw, dm, act, t, nt, y + t * ldy, ldy, mask)
            t += nt
        }
    }

    /// Lane r: byte r of a unit's 16 scale bytes in the low int16 half, 0 in the high one.
    @inline(__always) static var scaleIndexLow: __m512i {
        _mm512_set_epi8(-128, -128, -128, 15, -128, -128, -128, 14, -128, -128, -128, 13, -128, -128, -128, 12,
                        -128, -128, -128, 11, -128, -128, -128, 10, -128, -128, -128, 9, -128, -128, -128, 8,
                        -128, -128, -128, 7, -128, -128, -128, 6, -128, -128, -128, 5, -128, -128, -128, 4,
                        -128, -128, -128, 3, -128, -128, -128, 2, -128, -128, -128, 1, -128, -128, -128, 0)
    }
    /// Lane r (row 4l + m of 128-bit lane l): byte r of a unit's 16 scale bytes, in both int16 halves.
    @inline(__always) static var scaleIndex: __m512i {
        _mm512_set_epi8(-128, 15, -128, 15, -128, 14, -128, 14, -128, 13, -128, 13, -128, 12, -128, 12,
                        -128, 11, -128, 11, -128, 10, -128, 10, -128, 9, -128, 9, -128, 8, -128, 8,
                        -128, 7, -128, 7, -128, 6, -128, 6, -128, 5, -128, 5, -128, 4, -128, 4,
                        -128, 3, -128, 3, -128, 2, -128, 2, -128, 1, -128, 1, -128, 0, -128, 0)
    }

    /// A Q6_K tile against tokens t0..<t0+nt (nt ≤ 8), unpacked in registers unit by unit (as
    /// `VNNIKQuantBatch.group` does from its scratch): y[k·ldy + lane] for token t0 + k.
    @inline(__always)
    static func groupQ6K(_ tile: UnsafeRawPointer, _ end: UnsafeRawPointer, _ act: Q8KActivationsView,
                         _ t0: Int, _ nt: Int, _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ mask: __mmask16,
                         ahead plan: Ahead) {
        let nsb = act.superBlocks
        let nibbles = _mm512_set1_epi8(0x0F), topBits = _mm512_set1_epi8(0x30)
        let z = _mm512_setzero_si512()
        var c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0
        for s in 0..<nsb {
            let base = tile + s * q6kTileBytes
            plan.ask(base, s, q6kTileBytes, end)
            var i0 = z, i1 = z, i2 = z, i3 = z, i4 = z, i5 = z, i6 = z, i7 = z
            // Unit g = 2p + half, with p = 2·quad + pair: its low four bits are nibble `half` of the
            // pair's nibble vectors (`KQuantTile.q6KLow`), its top two bits are bits 2k, 2k+1
            // (k = 2·pair + half) of the quad's top-bits vectors (`q6KTop`). Every shift below takes
            // a literal, so each unit is straight-line code (loops over half and pair left the
            // shifts to run time); only the token count is tested at run time.
            @inline(__always) func top(_ h: __m512i, _ k: Int) -> __m512i {
                switch k {
                case 0: return _mm512_and_si512(_mm512_slli_epi16(h, 4), topBits)  // 16-bit shifts: the mask drops what crosses bytes
                case 1: return _mm512_and_si512(_mm512_slli_epi16(h, 2), topBits)
                case 2: return _mm512_and_si512(h, topBits)
                default: return _mm512_and_si512(_mm512_srli_epi16(h, 2), topBits)
                }
            }
            @inline(__always) func low(_ l: __m512i, _ half: Int) -> __m512i {
                half == 0 ? _mm512_and_si512(l, nibbles) : _mm512_and_si512(_mm512_srli_epi16(l, 4), nibbles)
            }
            @inline(__always) func unit(_ p: Int, _ half: Int, _ k: Int, _ l: (__m512i, __m512i, __m512i, __m512i),
                                        _ h: (__m512i, __m512i, __m512i, __m512i), _ scalePair: __m512i) {
                let g = 2 * p + half
                plan.unit(base, g, 16, q6kTileBytes, end)
                let w0 = _mm512_or_si512(low(l.0, half), top(h.0, k)), w1 = _mm512_or_si512(low(l.1, half), top(h.1, k))
                let w2 = _mm512_or_si512(low(l.2, half), top(h.2, k)), w3 = _mm512_or_si512(low(l.3, half), top(h.3, k))
                let sc = half == 0 ? _mm512_srai_epi32(_mm512_slli_epi32(scalePair, 16), 16) : _mm512_srai_epi32(scalePair, 16)
                @inline(__always) func token(_ t: Int, _ acc: inout __m512i) {
                    let a = UnsafeRawPointer(act.qs + ((t0 + t) * nsb + s) * 256 + g * 16)
                    @inline(__always) func bc(_ j: Int) -> __m512i { _mm512_set1_epi32(a.loadUnaligned(fromByteOffset: 4 * j, as: Int32.self)) }
                    var i = _mm512_dpbusd_epi32(z, w0, bc(0))
                    i = _mm512_dpbusd_epi32(i, w1, bc(1))
                    i = _mm512_dpbusd_epi32(i, w2, bc(2))
                    i = _mm512_dpbusd_epi32(i, w3, bc(3))
                    acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(i, sc))
                }
                if nt == 8 {
                    // A full group: the tokens' chains side by side (`eightTokenSums`).
                    var acc = (i0, i1, i2, i3, i4, i5, i6, i7)
                    addProducts(&acc, eightTokenSums((w0, w1, w2, w3), UnsafeRawPointer(act.qs + (t0 * nsb + s) * 256 + g * 16),
                                                     stride: nsb * 256, from: 0), sc)
                    (i0, i1, i2, i3, i4, i5, i6, i7) = acc
                    return
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
            @inline(__always) func pair(_ p: Int, _ k0: Int, _ h: (__m512i, __m512i, __m512i, __m512i)) {
                @inline(__always) func nibbleVector(_ v: Int) -> __m512i { load512(base + KQuantTile.q6KLow(p, v)) }
                let l = (nibbleVector(0), nibbleVector(1), nibbleVector(2), nibbleVector(3))
                let scalePair = _mm512_cvtepi8_epi16(_mm256_loadu_si256((base + 3072 + 32 * p).assumingMemoryBound(to: __m256i.self)))
                unit(p, 0, k0, l, h, scalePair)
                unit(p, 1, k0 + 1, l, h, scalePair)
            }
            for quad in 0..<4 {
                @inline(__always) func topVector(_ v: Int) -> __m512i { load512(base + KQuantTile.q6KTop(quad, v)) }
                let h = (topVector(0), topVector(1), topVector(2), topVector(3))
                pair(2 * quad, 0, h)
                pair(2 * quad + 1, 2, h)
            }
            let dw = _mm512_cvtph_ps(_mm256_loadu_si256((base + 3328).assumingMemoryBound(to: __m256i.self)))
            // The +32 offset: Σ scale · Σq per 16, two units per vpdpwssd, then the float step of KQuantDot.
            @inline(__always) func finish(_ t: Int, _ isum: __m512i, _ c: inout __m512) {
                let bs = UnsafeRawPointer(act.bsums + ((t0 + t) * nsb + s) * 16)
                var p = z
                for j in 0..<8 {
                    let pairs = _mm512_cvtepi8_epi16(_mm256_loadu_si256((base + 3072 + 32 * j).assumingMemoryBound(to: __m256i.self)))
                    p = _mm512_dpwssd_epi32(p, pairs, _mm512_set1_epi32(bs.loadUnaligned(fromByteOffset: 4 * j, as: Int32.self)))
                }
                let da = _mm512_set1_ps(act.d[(t0 + t) * nsb + s])
                c = _mm512_fmadd_ps(_mm512_mul_ps(dw, da), _mm512_cvtepi32_ps(_mm512_sub_epi32(isum, _mm512_slli_epi32(p, 5))), c)
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

    /// Q4_K's tile, or Q5_K's (its fifth bits after it): a type, so each kernel is its own
    /// specialization (a Bool argument left a test per unit in the Q4_K kernel, whose prompts
    /// measured 4-14% slower).
    protocol Tile4 {
        static var fifthBits: Bool { get }
        static var twoScaleProducts: Bool { get }
    }
    enum Q4KTile: Tile4 { static var fifthBits: Bool { false }; static var twoScaleProducts: Bool { false } }
    /// Q4_K with each half's sum against the scale in a product of its own (`rows`' `twoScaleProducts`).
    enum Q4KTileTwoProducts: Tile4 { static var fifthBits: Bool { false }; static var twoScaleProducts: Bool { true } }
    enum Q5KTile: Tile4 { static var fifthBits: Bool { true }; static var twoScaleProducts: Bool { false } }

    /// The tile against tokens t0..<t0+nt (nt ≤ 8); y[k·ldy + lane] for token t0+k. Q5_K: each
    /// element's fifth bit joins its nibble, and a unit's sums no longer fit int16, so the scale
    /// multiplies them as int32.
    @inline(__always)
    static func group<L: Tile4>(_: L.Type, _ tile: UnsafeRawPointer, _ end: UnsafeRawPointer, _ act: Q8KActivationsView,
                                _ t0: Int, _ nt: Int, _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ mask: __mmask16,
                                ahead plan: Ahead) {
        let fifthBits = L.fifthBits
        let nsb = act.superBlocks, bytes = fifthBits ? q5kTileBytes : q4kTileBytes
        let scaleIndex = L.twoScaleProducts ? Self.scaleIndexLow : Self.scaleIndex  // the low int16 half alone, or both
        let nibbles = _mm512_set1_epi8(0x0F)
        var c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0
        for s in 0..<nsb {
            let base = tile + s * bytes
            plan.ask(base, s, bytes, end)
            let z = _mm512_setzero_si512()
            var i0 = z, i1 = z, i2 = z, i3 = z, i4 = z, i5 = z, i6 = z, i7 = z
            let q = base.assumingMemoryBound(to: __m512i.self)
            for u in 0..<8 {
                plan.unit(base, u, 8, bytes, end)
                let x0 = _mm512_loadu_si512(q + 4 * u), x1 = _mm512_loadu_si512(q + 4 * u + 1)
                let x2 = _mm512_loadu_si512(q + 4 * u + 2), x3 = _mm512_loadu_si512(q + 4 * u + 3)
                var w0 = _mm512_and_si512(x0, nibbles), w1 = _mm512_and_si512(x1, nibbles)
                var w2 = _mm512_and_si512(x2, nibbles), w3 = _mm512_and_si512(x3, nibbles)
                var w4 = _mm512_and_si512(_mm512_srli_epi16(x0, 4), nibbles), w5 = _mm512_and_si512(_mm512_srli_epi16(x1, 4), nibbles)
                var w6 = _mm512_and_si512(_mm512_srli_epi16(x2, 4), nibbles), w7 = _mm512_and_si512(_mm512_srli_epi16(x3, 4), nibbles)
                if fifthBits { (w0, w1, w2, w3, w4, w5, w6, w7) = withFifthBits((w0, w1, w2, w3, w4, w5, w6, w7), q, u) }
                let sc = _mm512_shuffle_epi8(_mm512_broadcast_i32x4(load128(base + 2048 + 16 * u)), scaleIndex)
                let sc32 = fifthBits ? _mm512_cvtepu8_epi32(load128(base + 2048 + 16 * u)) : sc
                @inline(__always) func token(_ k: Int, _ acc: inout __m512i) {
                    let a = UnsafeRawPointer(act.qs + ((t0 + k) * nsb + s) * 256 + u * 32)
                    @inline(__always) func bc(_ j: Int) -> __m512i { _mm512_set1_epi32(a.loadUnaligned(fromByteOffset: 4 * j, as: Int32.self)) }
                    var i = _mm512_dpbusd_epi32(z, w0, bc(0))
                    i = _mm512_dpbusd_epi32(i, w1, bc(1))
                    i = _mm512_dpbusd_epi32(i, w2, bc(2))
                    i = _mm512_dpbusd_epi32(i, w3, bc(3))
                    var j = _mm512_dpbusd_epi32(z, w4, bc(4))
                    j = _mm512_dpbusd_epi32(j, w5, bc(5))
                    j = _mm512_dpbusd_epi32(j, w6, bc(6))
                    j = _mm512_dpbusd_epi32(j, w7, bc(7))
                    if fifthBits {
                        acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(_mm512_add_epi32(i, j), sc32))  // 16 · 31 · 128 > int16
                        return
                    }
                    // Each 16-element half fits int16 (16 · 15 · 128), so its low half is its value:
                    // i's low half beside j's (a shift and a blend, off the multiply ports on AMD) and
                    // one vpdpwssd against the scale in both halves adds sc·i + sc·j. Where every
                    // 512-bit operation shares the two multiply ports (Intel), one vpdpwssd each
                    // against the scale in the low half alone (the high half's sign bits meet 0) is
                    // one operation fewer.
                    if L.twoScaleProducts {
                        acc = _mm512_dpwssd_epi32(_mm512_dpwssd_epi32(acc, i, sc), j, sc)
                        return
                    }
                    acc = _mm512_dpwssd_epi32(acc, _mm512_mask_blend_epi16(0xAAAA_AAAA, i, _mm512_slli_epi32(j, 16)), sc)
                }
                if L.twoScaleProducts && !fifthBits && nt == 8 {
                    // A full group: the tokens' chains side by side (`eightTokenSums`), each half
                    // against the scale as `token` does. Only with two products: the blend would
                    // need both halves of all eight tokens live at once (not tried).
                    let a0 = UnsafeRawPointer(act.qs + (t0 * nsb + s) * 256 + u * 32), stride = nsb * 256
                    var acc = (i0, i1, i2, i3, i4, i5, i6, i7)
                    addLowWordProducts(&acc, eightTokenSums((w0, w1, w2, w3), a0, stride: stride, from: 0), sc)
                    addLowWordProducts(&acc, eightTokenSums((w4, w5, w6, w7), a0, stride: stride, from: 4), sc)
                    (i0, i1, i2, i3, i4, i5, i6, i7) = acc
                    continue
                }
                if fifthBits && nt == 8 {
                    // Q5_K's full group likewise, the unit's two halves in one chain each (their total is scaled).
                    let a0 = UnsafeRawPointer(act.qs + (t0 * nsb + s) * 256 + u * 32), stride = nsb * 256
                    let l = eightTokenSums((w0, w1, w2, w3), a0, stride: stride, from: 0)
                    var acc = (i0, i1, i2, i3, i4, i5, i6, i7)
                    addProducts(&acc, eightTokenSums((w4, w5, w6, w7), a0, stride: stride, from: 4, onto: l), sc32)
                    (i0, i1, i2, i3, i4, i5, i6, i7) = acc
                    continue
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
            let dm = _mm512_loadu_si512((base + 2304).assumingMemoryBound(to: __m512i.self))
            let dw = halfsLow(dm), dmw = halfsHigh(dm)
            let pairs = (_mm512_cvtepu8_epi16(_mm256_loadu_si256((base + 2176).assumingMemoryBound(to: __m256i.self))),
                         _mm512_cvtepu8_epi16(_mm256_loadu_si256((base + 2208).assumingMemoryBound(to: __m256i.self))),
                         _mm512_cvtepu8_epi16(_mm256_loadu_si256((base + 2240).assumingMemoryBound(to: __m256i.self))),
                         _mm512_cvtepu8_epi16(_mm256_loadu_si256((base + 2272).assumingMemoryBound(to: __m256i.self))))
            @inline(__always) func finish(_ k: Int, _ isum: __m512i, _ c: inout __m512) {
                let i = (t0 + k) * nsb + s
                c = Q4KFinish.step(c, isum: isum, pairs: pairs, pairSums: act.pairSums + i * 4, d: dw, dmin: dmw, da: act.d[i])
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
