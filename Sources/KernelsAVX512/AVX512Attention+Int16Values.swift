#if arch(x86_64)
import _Builtin_intrinsics.intel

/// Values as int16 pairs of slots, each slot scaled by its own step, and a row's weights (times
/// those steps) as int16 too: one `vpdpwssd` adds two slots' products per 16 dimensions, half the
/// f32 FMAs' instructions, at the FMAs' rate where 512-bit integer dot products issue on both of
/// Intel's vector ports (`AVX512Attention.attendTile`'s `int16Sums`).
///
/// A slot's values are scaled so that its largest magnitude is `range` (its step σ = max/range)
/// and rounded: 2⁻¹⁴ of that magnitude at most, finer than the f16 cache holds the largest
/// element; an element k times smaller than its slot's largest keeps ~k·2⁻¹⁴ of its own size (a
/// value dimension 1000 times the others would cost them ~5%, where bf16 sums keep 2⁻⁹: an outlier
/// channel in V, which the models measured do not have). A row's weights w = e·σ are scaled, per chunk, so that its largest is `range`, and
/// rounded likewise: each weight within 2⁻¹⁴ of the chunk's largest, where bf16 weights keep 2⁻⁹ of
/// their own size. With both at most 8191 in magnitude, 32 slots' products sum to under 2³¹: the
/// Int32 sums never wrap. A chunk's sum goes back to floats with the row's step and joins the
/// running output, which, with the rescaling and the denominator, stays f32.
///
/// The layout is `BF16Values`' ([16 pairs][hs] words: low half the even slot). Slots of a pair
/// outside the tile's range hold zero, and a row's weights outside its mask are zero, so a row's
/// sums are those of its own slots whatever rows share the pass: the bits stay the row's own.
/// A non-finite element (the cache's store clamps to ±65504, so only a cache written otherwise) makes
/// every dimension of the rows attending to its slot non-finite, or is read as 0.
enum Int16Values {
    static let range: Float = 8190

    /// Floats of scratch beside the tile's: the chunk's 32 slot steps.
    static let scratchFloats = 32

    /// Slots ilo..<ihi of half h (16 f16 slots from vb at stride kvDim) into int16 pair words in
    /// vf's space and their steps into steps[16h + i]; the pairs' other slots get zero.
    @inline(__always)
    static func convert(_ vb: UnsafeRawPointer, _ kvDim: Int, _ hs: Int, _ h: Int, _ ilo: Int, _ ihi: Int,
                        _ vf: UnsafeMutablePointer<Float>, _ steps: UnsafeMutablePointer<Float>) {
        let out = UnsafeMutableRawPointer(vf)
        @inline(__always) func load(_ i: Int, _ j: Int) -> __m512 {
            _mm512_cvtph_ps(_mm256_loadu_si256((vb + (i * kvDim + j) * 2).assumingMemoryBound(to: __m256i.self)))
        }
        // A slot's largest magnitude (0 outside the range), its step to `steps`, its multiplier.
        @inline(__always) func scale(_ i: Int) -> __m512 {
            guard i >= ilo && i < ihi else { steps[16 * h + i] = 0; return _mm512_setzero_ps() }
            var m = _mm512_setzero_ps()
            var j = 0
            while j < hs { m = _mm512_max_ps(m, _mm512_abs_ps(load(i, j))); j += 16 }
            let top = _mm512_reduce_max_ps(m)
            steps[16 * h + i] = top / range
            return _mm512_set1_ps(top > 0 ? range / top : 0)
        }
        var p = ilo / 2
        while 2 * p < ihi {
            let e = 2 * p, o = e + 1, se = scale(e), so = scale(o)
            let ine = e >= ilo && e < ihi, ino = o >= ilo && o < ihi
            var j = 0
            while j < hs {
                let a = ine ? _mm512_cvtps_epi32(_mm512_mul_ps(load(e, j), se)) : _mm512_setzero_si512()
                let b = ino ? _mm512_cvtps_epi32(_mm512_mul_ps(load(o, j), so)) : _mm512_setzero_si512()
                // Low word the even slot, high word the odd one.
                _mm512_storeu_si512(out + ((8 * h + p) * hs + j) * 4, _mm512_mask_blend_epi16(0xAAAA_AAAA, a, _mm512_slli_epi32(b, 16)))
                j += 16
            }
            p += 1
        }
    }

    /// oa = ca·oa + Σ_{i in lo..<hi} ea[i]·v_i over the row's mask ma (and ob likewise over mb);
    /// a row with an empty mask is left alone. eh: 32 floats of scratch (the two rows' weights).
    @inline(__always)
    static func accumulate(_ oa: UnsafeMutablePointer<Float>, _ ob: UnsafeMutablePointer<Float>, _ ma: UInt32, _ mb: UInt32,
                           _ ea: UnsafePointer<Float>, _ eb: UnsafePointer<Float>, _ ca: UnsafePointer<Float>, _ cb: UnsafePointer<Float>,
                           _ vf: UnsafePointer<Float>, _ hs: Int, _ lo: Int, _ hi: Int, _ eh: UnsafeMutablePointer<Float>,
                           _ steps: UnsafePointer<Float>) {
        let v = UnsafeRawPointer(vf), pLo = lo / 2, pHi = (hi + 1) / 2
        let s0 = _mm512_loadu_ps(steps), s1 = _mm512_loadu_ps(steps + 16)
        // The row's weights times the slots' steps, as int16 scaled to `range` at `to` (word k slot
        // k, so dword p the pair p); returns the float a unit of them stands for.
        @inline(__always) func weights(_ e: UnsafePointer<Float>, _ m: UInt32, _ to: UnsafeMutablePointer<Float>) -> Float {
            let w0 = _mm512_maskz_mul_ps(__mmask16(truncatingIfNeeded: m), _mm512_loadu_ps(e), s0)
            let w1 = _mm512_maskz_mul_ps(__mmask16(truncatingIfNeeded: m >> 16), _mm512_loadu_ps(e + 16), s1)
            let top = _mm512_reduce_max_ps(_mm512_max_ps(w0, w1))
            let q = _mm512_set1_ps(top > 0 ? range / top : 0)
            let r = UnsafeMutableRawPointer(to)
            _mm256_storeu_si256(r.assumingMemoryBound(to: __m256i.self), _mm512_cvtepi32_epi16(_mm512_cvtps_epi32(_mm512_mul_ps(w0, q))))
            _mm256_storeu_si256((r + 32).assumingMemoryBound(to: __m256i.self), _mm512_cvtepi32_epi16(_mm512_cvtps_epi32(_mm512_mul_ps(w1, q))))
            return top / range
        }
        if ma != 0 && mb != 0 {
            let ua = weights(ea, ma, eh), ub = weights(eb, mb, eh + 16)
            var j = 0
            while j + 128 <= hs { pair(W8.self, oa + j, ob + j, eh, ca[0], cb[0], ua, ub, v + 4 * j, hs, pLo, pHi); j += 128 }
            while j < hs { pair(W1.self, oa + j, ob + j, eh, ca[0], cb[0], ua, ub, v + 4 * j, hs, pLo, pHi); j += 16 }
        } else {
            let (o, e, m, cr) = ma != 0 ? (oa, ea, ma, ca[0]) : (ob, eb, mb, cb[0])
            let u = weights(e, m, eh)
            var j = 0
            while j + 128 <= hs { single(W8.self, o + j, eh, cr, u, v + 4 * j, hs, pLo, pHi); j += 128 }
            while j < hs { single(W1.self, o + j, eh, cr, u, v + 4 * j, hs, pLo, pHi); j += 16 }
        }
    }

    typealias Sums = (__m512i, __m512i, __m512i, __m512i, __m512i, __m512i, __m512i, __m512i)

    /// o = c·o + u·sums, a pass's W.vectors vectors.
    @inline(__always)
    static func finish<W: Width>(_: W.Type, _ o: UnsafeMutablePointer<Float>, _ c: Float, _ u: Float, _ s: Sums) {
        let vc = _mm512_set1_ps(c), vu = _mm512_set1_ps(u)
        @inline(__always) func put(_ k: Int, _ x: __m512i) {
            _mm512_storeu_ps(o + 16 * k, _mm512_fmadd_ps(_mm512_cvtepi32_ps(x), vu, _mm512_mul_ps(_mm512_loadu_ps(o + 16 * k), vc)))
        }
        put(0, s.0)
        if W.vectors > 1 { put(1, s.1); put(2, s.2); put(3, s.3); put(4, s.4); put(5, s.5); put(6, s.6); put(7, s.7) }
    }

    /// Rows a and b (weights' pairs at eh and eh + 16) over pairs pLo..<pHi; v: pair 0's dimension 0 of this pass.
    @inline(__always)
    static func pair<W: Width>(_: W.Type, _ oa: UnsafeMutablePointer<Float>, _ ob: UnsafeMutablePointer<Float>, _ eh: UnsafePointer<Float>,
                               _ ca: Float, _ cb: Float, _ ua: Float, _ ub: Float, _ v: UnsafeRawPointer, _ hs: Int, _ pLo: Int, _ pHi: Int) {
        let n = W.vectors, z = _mm512_setzero_si512()
        var (a0, a1, a2, a3, a4, a5, a6, a7) = (z, z, z, z, z, z, z, z), (b0, b1, b2, b3, b4, b5, b6, b7) = (z, z, z, z, z, z, z, z)
        let w = UnsafeRawPointer(eh)
        for p in pLo..<pHi {
            let wa = _mm512_set1_epi32(w.load(fromByteOffset: 4 * p, as: Int32.self))
            let wb = _mm512_set1_epi32(w.load(fromByteOffset: 64 + 4 * p, as: Int32.self))
            let vp = v + 4 * p * hs
            @inline(__always) func x(_ k: Int) -> __m512i { _mm512_loadu_si512(vp + 64 * k) }
            var t = x(0)
            a0 = _mm512_dpwssd_epi32(a0, t, wa); b0 = _mm512_dpwssd_epi32(b0, t, wb)
            if n > 1 {
                t = x(1); a1 = _mm512_dpwssd_epi32(a1, t, wa); b1 = _mm512_dpwssd_epi32(b1, t, wb)
                t = x(2); a2 = _mm512_dpwssd_epi32(a2, t, wa); b2 = _mm512_dpwssd_epi32(b2, t, wb)
                t = x(3); a3 = _mm512_dpwssd_epi32(a3, t, wa); b3 = _mm512_dpwssd_epi32(b3, t, wb)
                t = x(4); a4 = _mm512_dpwssd_epi32(a4, t, wa); b4 = _mm512_dpwssd_epi32(b4, t, wb)
                t = x(5); a5 = _mm512_dpwssd_epi32(a5, t, wa); b5 = _mm512_dpwssd_epi32(b5, t, wb)
                t = x(6); a6 = _mm512_dpwssd_epi32(a6, t, wa); b6 = _mm512_dpwssd_epi32(b6, t, wb)
                t = x(7); a7 = _mm512_dpwssd_epi32(a7, t, wa); b7 = _mm512_dpwssd_epi32(b7, t, wb)
            }
        }
        finish(W.self, oa, ca, ua, (a0, a1, a2, a3, a4, a5, a6, a7))
        finish(W.self, ob, cb, ub, (b0, b1, b2, b3, b4, b5, b6, b7))
    }

    @inline(__always)
    static func single<W: Width>(_: W.Type, _ o: UnsafeMutablePointer<Float>, _ eh: UnsafePointer<Float>, _ cr: Float, _ u: Float,
                                 _ v: UnsafeRawPointer, _ hs: Int, _ pLo: Int, _ pHi: Int) {
        let n = W.vectors, z = _mm512_setzero_si512()
        var (a0, a1, a2, a3, a4, a5, a6, a7) = (z, z, z, z, z, z, z, z)
        let w = UnsafeRawPointer(eh)
        for p in pLo..<pHi {
            let wp = _mm512_set1_epi32(w.load(fromByteOffset: 4 * p, as: Int32.self)), vp = v + 4 * p * hs
            a0 = _mm512_dpwssd_epi32(a0, _mm512_loadu_si512(vp), wp)
            if n > 1 {
                a1 = _mm512_dpwssd_epi32(a1, _mm512_loadu_si512(vp + 64), wp); a2 = _mm512_dpwssd_epi32(a2, _mm512_loadu_si512(vp + 128), wp)
                a3 = _mm512_dpwssd_epi32(a3, _mm512_loadu_si512(vp + 192), wp); a4 = _mm512_dpwssd_epi32(a4, _mm512_loadu_si512(vp + 256), wp)
                a5 = _mm512_dpwssd_epi32(a5, _mm512_loadu_si512(vp + 320), wp); a6 = _mm512_dpwssd_epi32(a6, _mm512_loadu_si512(vp + 384), wp)
                a7 = _mm512_dpwssd_epi32(a7, _mm512_loadu_si512(vp + 448), wp)
            }
        }
        finish(W.self, o, cr, u, (a0, a1, a2, a3, a4, a5, a6, a7))
    }
}
#endif
