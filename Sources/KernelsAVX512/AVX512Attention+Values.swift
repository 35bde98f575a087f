#if arch(x86_64)
import _Builtin_intrinsics.intel
import CBF16

// How `AVX512Attention.tile` holds a chunk's values and adds them to the rows' outputs: two
// enums with the same two functions, `convert` (the values of slots ilo..<ihi of half h, 16
// slots from vb at stride kvDim, into vf) and `accumulate` (oa = ca·oa + Σ_{i in lo..<hi}
// ea[i]·v_i, and ob likewise when `two`, as `AVX512Attention.accumulate`; eh: 32 floats of
// scratch). Not a protocol: a debug build calls a protocol's requirements through witness
// thunks that leave every intrinsic out of line. `Int16Values` (its own file) has the same two,
// with the slots' steps beside and the rows' masks for the flags.

/// Values as floats [32 slots][hs], one FMA per slot and 16 dimensions.
enum F32Values {
    @inline(__always)
    static func convert(_ vb: UnsafeRawPointer, _ f16: Bool, _ kvDim: Int, _ hs: Int, _ h: Int, _ ilo: Int, _ ihi: Int,
                        _ vf: UnsafeMutablePointer<Float>) {
        for i in ilo..<ihi {
            if f16 {
                var j = 0
                while j < hs {
                    let x = _mm256_loadu_si256((vb + (i * kvDim + j) * 2).assumingMemoryBound(to: __m256i.self))
                    _mm512_storeu_ps(vf + (16 * h + i) * hs + j, _mm512_cvtph_ps(x))
                    j += 16
                }
            } else {
                (vf + (16 * h + i) * hs).update(from: (vb + i * kvDim * 4).assumingMemoryBound(to: Float.self), count: hs)
            }
        }
    }

    @inline(__always)
    static func accumulate(_ oa: UnsafeMutablePointer<Float>, _ ob: UnsafeMutablePointer<Float>, _ two: Bool, _ oneActive: Bool,
                           _ ea: UnsafePointer<Float>, _ eb: UnsafePointer<Float>, _ ca: UnsafePointer<Float>, _ cb: UnsafePointer<Float>,
                           _ vf: UnsafePointer<Float>, _ hs: Int, _ lo: Int, _ hi: Int, _ eh: UnsafeMutablePointer<Float>) {
        AVX512Attention.accumulate(oa, ob, two, oneActive, ea, eb, ca, cb, vf, hs, lo, hi)
    }
}

/// Values as bf16 pairs of slots, [16 pairs][hs][2] in vf's space, and the weights e rounded to
/// bf16 likewise: one vdpbf16ps adds two slots' products per 16 dimensions, half the FMAs'
/// instructions. Both roundings (8 significant bits: 2⁻⁸ at most) are relative errors that
/// average out over a row's sum, as llama.cpp's f16 value sums do; the running output and its
/// rescaling stay f32.
/// A pair's slot outside the tile's range holds zero, and the weight of every slot outside a
/// row's mask is zero (pairs the row shares with its partner row's range, or half outside the
/// tile), so a row's sums are those of its own slots whatever rows share the pass: a zero
/// product leaves a sum's bits alone (but for the sign of an all-zero sum, which flushes to +0).
/// Both functions stay out of line so that BF16 instructions live only in functions named for
/// them, even where a debug build keeps `tile`'s branch.
enum BF16Values {
    @inline(never)
    static func convert(_ vb: UnsafeRawPointer, _ f16: Bool, _ kvDim: Int, _ hs: Int, _ h: Int, _ ilo: Int, _ ihi: Int,
                        _ vf: UnsafeMutablePointer<Float>) {
        let out = UnsafeMutableRawPointer(vf)
        // Word 2k of the result is word k of the packed pair (the even slot), word 2k + 1 word 16 + k.
        let k = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
        let interleave = _mm512_or_si512(k, _mm512_slli_epi32(_mm512_add_epi32(k, _mm512_set1_epi32(16)), 16))
        @inline(__always) func slot(_ i: Int, _ j: Int) -> __m512 {
            guard i >= ilo && i < ihi else { return _mm512_setzero_ps() }
            if f16 { return _mm512_cvtph_ps(_mm256_loadu_si256((vb + (i * kvDim + j) * 2).assumingMemoryBound(to: __m256i.self))) }
            return _mm512_loadu_ps((vb + (i * kvDim + j) * 4).assumingMemoryBound(to: Float.self))
        }
        var p = ilo / 2
        while 2 * p < ihi {
            var j = 0
            while j < hs {
                let x = _mm512_permutexvar_epi16(interleave, jeton_bf16_pack(slot(2 * p + 1, j), slot(2 * p, j)))
                _mm512_storeu_si512(out + ((8 * h + p) * hs + j) * 4, x)
                j += 16
            }
            p += 1
        }
    }

    @inline(never)
    static func accumulate(_ oa: UnsafeMutablePointer<Float>, _ ob: UnsafeMutablePointer<Float>, _ two: Bool, _ oneActive: Bool,
                           _ ea: UnsafePointer<Float>, _ eb: UnsafePointer<Float>, _ ca: UnsafePointer<Float>, _ cb: UnsafePointer<Float>,
                           _ vf: UnsafePointer<Float>, _ hs: Int, _ lo: Int, _ hi: Int, _ eh: UnsafeMutablePointer<Float>) {
        let v = UnsafeRawPointer(vf), pLo = lo / 2, pHi = (hi + 1) / 2
        @inline(__always) func pack(_ e: UnsafePointer<Float>, _ to: UnsafeMutablePointer<Float>) {
            _mm512_storeu_si512(to, jeton_bf16_pack(_mm512_loadu_ps(e + 16), _mm512_loadu_ps(e)))
        }
        if two && oneActive {
            pack(ea, eh)
            pack(eb, eh + 16)
            var j = 0
            while j + 128 <= hs { pair(W8.self, oa + j, ob + j, eh, ca[0], cb[0], v + 4 * j, hs, pLo, pHi); j += 128 }
            while j < hs { pair(W1.self, oa + j, ob + j, eh, ca[0], cb[0], v + 4 * j, hs, pLo, pHi); j += 16 }
        } else {
            let (o, e, cr) = oneActive ? (oa, ea, ca[0]) : (ob, eb, cb[0])
            pack(e, eh)
            var j = 0
            while j + 128 <= hs { single(W8.self, o + j, eh, cr, v + 4 * j, hs, pLo, pHi); j += 128 }
            while j < hs { single(W1.self, o + j, eh, cr, v + 4 * j, hs, pLo, pHi); j += 16 }
        }
    }

    /// Rows a and b (weights' pairs at eh and eh + 16) over pairs pLo..<pHi; v: pair 0's dimension 0 of this pass.
    @inline(__always)
    static func pair<W: Width>(_: W.Type, _ oa: UnsafeMutablePointer<Float>, _ ob: UnsafeMutablePointer<Float>, _ eh: UnsafePointer<Float>,
                               _ ca: Float, _ cb: Float, _ v: UnsafeRawPointer, _ hs: Int, _ pLo: Int, _ pHi: Int) {
        let n = W.vectors
        var (a0, a1, a2, a3, a4, a5, a6, a7) = AVX512Attention.scaled(W.self, oa, ca)
        var (b0, b1, b2, b3, b4, b5, b6, b7) = AVX512Attention.scaled(W.self, ob, cb)
        let w = UnsafeRawPointer(eh)
        for p in pLo..<pHi {
            let wa = _mm512_set1_epi32(w.load(fromByteOffset: 4 * p, as: Int32.self))
            let wb = _mm512_set1_epi32(w.load(fromByteOffset: 64 + 4 * p, as: Int32.self))
            let vp = v + 4 * p * hs
            @inline(__always) func x(_ k: Int) -> __m512i { _mm512_loadu_si512(vp + 64 * k) }
            var t = x(0)
            a0 = jeton_bf16_dot2(a0, t, wa); b0 = jeton_bf16_dot2(b0, t, wb)
            if n > 1 {
                t = x(1); a1 = jeton_bf16_dot2(a1, t, wa); b1 = jeton_bf16_dot2(b1, t, wb)
                t = x(2); a2 = jeton_bf16_dot2(a2, t, wa); b2 = jeton_bf16_dot2(b2, t, wb)
                t = x(3); a3 = jeton_bf16_dot2(a3, t, wa); b3 = jeton_bf16_dot2(b3, t, wb)
                t = x(4); a4 = jeton_bf16_dot2(a4, t, wa); b4 = jeton_bf16_dot2(b4, t, wb)
                t = x(5); a5 = jeton_bf16_dot2(a5, t, wa); b5 = jeton_bf16_dot2(b5, t, wb)
                t = x(6); a6 = jeton_bf16_dot2(a6, t, wa); b6 = jeton_bf16_dot2(b6, t, wb)
                t = x(7); a7 = jeton_bf16_dot2(a7, t, wa); b7 = jeton_bf16_dot2(b7, t, wb)
            }
        }
        AVX512Attention.store(W.self, oa, (a0, a1, a2, a3, a4, a5, a6, a7))
        AVX512Attention.store(W.self, ob, (b0, b1, b2, b3, b4, b5, b6, b7))
    }

    @inline(__always)
    static func single<W: Width>(_: W.Type, _ o: UnsafeMutablePointer<Float>, _ eh: UnsafePointer<Float>, _ cr: Float,
                                 _ v: UnsafeRawPointer, _ hs: Int, _ pLo: Int, _ pHi: Int) {
        let n = W.vectors
        var (a0, a1, a2, a3, a4, a5, a6, a7) = AVX512Attention.scaled(W.self, o, cr)
        let w = UnsafeRawPointer(eh)
        for p in pLo..<pHi {
            let wp = _mm512_set1_epi32(w.load(fromByteOffset: 4 * p, as: Int32.self)), vp = v + 4 * p * hs
            a0 = jeton_bf16_dot2(a0, _mm512_loadu_si512(vp), wp)
            if n > 1 {
                a1 = jeton_bf16_dot2(a1, _mm512_loadu_si512(vp + 64), wp); a2 = jeton_bf16_dot2(a2, _mm512_loadu_si512(vp + 128), wp)
                a3 = jeton_bf16_dot2(a3, _mm512_loadu_si512(vp + 192), wp); a4 = jeton_bf16_dot2(a4, _mm512_loadu_si512(vp + 256), wp)
                a5 = jeton_bf16_dot2(a5, _mm512_loadu_si512(vp + 320), wp); a6 = jeton_bf16_dot2(a6, _mm512_loadu_si512(vp + 384), wp)
                a7 = jeton_bf16_dot2(a7, _mm512_loadu_si512(vp + 448), wp)
            }
        }
        AVX512Attention.store(W.self, o, (a0, a1, a2, a3, a4, a5, a6, a7))
    }
}
#endif
