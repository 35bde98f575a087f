#if arch(x86_64)
import _Builtin_intrinsics.intel
import CPrefetch
import KernelsAVX2
#if canImport(Glibc)
import Glibc
#endif

/// Attention of a tile of consecutive query tokens of one sequence, for the query heads
/// of one kv head, over the paged KV cache on AVX-512 (flash-attention style).
///
/// The cache is walked in chunks of 32 slots aligned to absolute positions. Each chunk's
/// keys and values are converted once (keys to floats or int16 pairs, values to floats, bf16
/// or int16 pairs: see `Int16Scores`, `F32Values`, `BF16Values`, `Int16Values`) and then serve every row of the tile
/// (tokens × heads of the group), so a long prompt reads its cache once per tile rather than once per token, and no
/// score matrix larger than 6 rows × 32 slots exists: cost and memory per query block stay
/// flat as the prompt grows.
///
/// A row's arithmetic depends only on its own query, position and window (chunks are
/// fixed by absolute position; rows never mix), so a token's output is bit for bit the
/// same whichever tile or batch it is computed in: prefill in one chunk, in many, or
/// token by token all agree.
public enum AVX512Attention {
    public static func supports(headSize: Int, blockSize: Int) -> Bool {
        headSize % 16 == 0 && headSize <= 512 && blockSize % 16 == 0
    }

    /// Slots per chunk: each chunk's scores per row are two vectors, so the softmax's
    /// reductions and exponentials are shared by 32 slots.
    static let chunk = 32

    /// Floats of scratch `attendTile` needs for `rows` = tokens × group (a bf16 or int16 pass's 32
    /// weights, then Int16Scores' words, then Int16Values' 32 slot steps).
    public static func scratchCount(headSize hs: Int, rows: Int) -> Int {
        2 * rows + 16 + 2 * chunk * hs + 8 * chunk + 48 + Int16Scores.scratchWords(headSize: hs, rows: rows) + Int16Values.scratchFloats
    }

    /// The attention of every row of tile `t` (see `AttentionTile`). Keys are
    /// [blocks][kvDim][blockSize], values [blocks][blockSize][kvDim], f16 or f32. With
    /// `int16Scores`, over an f16 cache, the scores as `Int16Scores`, and with `int16Sums` too the
    /// value sums as `Int16Values` (else f32).
    public static func attendTile(_ t: AttentionTile, blockTable: UnsafePointer<Int32>, keys: UnsafeRawPointer,
                                  values: UnsafeRawPointer, f16: Bool, blockSize bs: Int, kvDim: Int, scale: Float,
                                  int16Scores: Bool = false, int16Sums: Bool = false, scratch: UnsafeMutablePointer<Float>) {
        if int16Scores && f16 {  // Int16Scores reads f16 keys
            if int16Sums {
                tile(false, true, true, t, blockTable, keys, values, f16, bs, kvDim, scale, scratch)
            } else {
                tile(false, true, false, t, blockTable, keys, values, f16, bs, kvDim, scale, scratch)
            }
        } else {
            tile(false, false, false, t, blockTable, keys, values, f16, bs, kvDim, scale, scratch)
        }
    }

    /// `attendTile` with the values summed as bf16 pairs (`BF16Values`) and, with `int16Scores`,
    /// the scores as 16-bit integer products (`Int16Scores`, over an f16 cache); only where
    /// `CPUFeatures.hasAVX512BF16`. Scores never take bf16: a bf16 query or key would move a
    /// large logit by tenths, where the weights' and values' rounding averages out in the sum.
    @inline(never)
    public static func attendTileBF16(_ t: AttentionTile, blockTable: UnsafePointer<Int32>, keys: UnsafeRawPointer,
                                      values: UnsafeRawPointer, f16: Bool, blockSize bs: Int, kvDim: Int, scale: Float,
                                      int16Scores: Bool = true, scratch: UnsafeMutablePointer<Float>) {
        if int16Scores && f16 {  // Int16Scores reads f16 keys
            tile(true, true, false, t, blockTable, keys, values, f16, bs, kvDim, scale, scratch)
        } else {
            tile(true, false, false, t, blockTable, keys, values, f16, bs, kvDim, scale, scratch)
        }
    }

    @inline(__always)
    static func tile(_ bf16: Bool, _ int16: Bool, _ int16Sums: Bool, _ t: AttentionTile, _ blockTable: UnsafePointer<Int32>, _ keys: UnsafeRawPointer,
                     _ values: UnsafeRawPointer, _ f16: Bool, _ bs: Int, _ kvDim: Int, _ scale: Float,
                     _ scratch: UnsafeMutablePointer<Float>) {
        let rows = t.rows, hs = t.headSize, kvh = t.kvHead, cs = chunk
        let ms = scratch, ls = ms + rows, kf = ls + rows + 16, vf = kf + cs * hs, pb = vf + cs * hs, eh = pb + 8 * cs + 16
        // Int16Scores' words: a chunk's keys (64-byte aligned, read a vector at a time), the rows'
        // queries, the slots' and the rows' scales.
        let base = UnsafeMutableRawPointer(eh + 32), pad = (64 - Int(bitPattern: base) & 63) & 63
        let ki = (base + pad).bindMemory(to: Int32.self, capacity: 16 * hs + rows * hs / 2), qi = ki + 16 * hs
        let ks = UnsafeMutableRawPointer(qi + rows * hs / 2).bindMemory(to: Float.self, capacity: 64 + rows), qs = ks + 32
        let steps = qs + rows  // Int16Values' slot steps
        if int16 { Int16Scores.queries(t, rows, qi, qs) }
        t.start(max: ms, sum: ls)
        let eb = f16 ? 2 : 4
        let tileFirst = t.first, tileLast = t.last
        var c = tileFirst & ~(cs - 1)
        while c <= tileLast {
            let lo = max(tileFirst - c, 0), hi = min(cs, tileLast - c + 1)  // slots holding data of this tile
            if c + cs <= tileLast {  // the next chunk is read next
                for h in 0..<2 where c + cs + 16 * h <= tileLast {
                    t.prefetch(slots: c + cs + 16 * h, blockTable: blockTable, keys: keys, values: values, elementBytes: eb,
                               blockSize: bs, kvDim: kvDim)
                }
            }
            // Keys [hs][32] as floats (or Int16Scores' words), values as F32Values, BF16Values or
            // Int16Values lay them; a half of the chunk past the tile's last slot is never read (its lanes are masked below).
            for h in 0..<2 where 16 * h < hi && 16 * (h + 1) > lo {
                let p = c + 16 * h, blk = Int(blockTable[p / bs]), s0 = p % bs
                let kt = keys + ((blk * kvDim + kvh * hs) * bs + s0) * eb    // [hs] rows of 16 slots, stride bs
                let vb = values + ((blk * bs + s0) * kvDim + kvh * hs) * eb  // [16] rows of hs, stride kvDim
                let ilo = max(lo - 16 * h, 0), ihi = min(hi - 16 * h, 16)
                if int16 {  // (an f16 cache only)
                    Int16Scores.keys(kt, bs * 2, hs, h, scale, ki, ks)
                } else if f16 {
                    for d in 0..<hs {
                        let x = _mm256_loadu_si256((kt + d * bs * 2).assumingMemoryBound(to: __m256i.self))
                        _mm512_storeu_ps(kf + d * cs + 16 * h, _mm512_cvtph_ps(x))
                    }
                } else {
                    for d in 0..<hs { (kf + d * cs + 16 * h).update(from: (kt + d * bs * 4).assumingMemoryBound(to: Float.self), count: 16) }
                }
                if bf16 {
                    BF16Values.convert(vb, f16, kvDim, hs, h, ilo, ihi, vf)
                } else if int16Sums {  // (an f16 cache only)
                    Int16Values.convert(vb, kvDim, hs, h, ilo, ihi, vf, steps)
                } else {
                    F32Values.convert(vb, f16, kvDim, hs, h, ilo, ihi, vf)
                }
            }
            var r0 = 0
            while r0 < rows {
                let nr = min(6, rows - r0)
                // Only rows with slots in this chunk (their window's start...their own position) count.
                if (0..<nr).contains(where: { t.mask(r0 + $0, chunk: c) != 0 }) {
                    if int16 {
                        Int16Scores.scores(ki, ks, qi, qs, hs, r0, nr, pb)
                        update(t, r0, nr, c, 1, ms, ls, pb)
                    } else {
                        scores(kf, t, r0, nr, pb)
                        update(t, r0, nr, c, scale, ms, ls, pb)
                    }
                    var k = 0
                    while k < nr {  // values, two rows at a time sharing each load
                        let ma = t.mask(r0 + k, chunk: c), mb = k + 1 < nr ? t.mask(r0 + k + 1, chunk: c) : 0
                        if ma == 0 && mb == 0 { k += 2; continue }
                        let u = ma | mb
                        let sLo = u.trailingZeroBitCount, sHi = 32 - u.leadingZeroBitCount
                        let oa = t.output(r0 + k), ob = mb != 0 ? t.output(r0 + k + 1) : oa
                        let ea = pb + cs * k, eb = pb + cs * (k + 1), ca = pb + 8 * cs + k, cb = ca + 1
                        if bf16 {
                            BF16Values.accumulate(oa, ob, mb != 0, ma != 0, ea, eb, ca, cb, vf, hs, sLo, sHi, eh)
                        } else if int16Sums {
                            Int16Values.accumulate(oa, ob, ma, mb, ea, eb, ca, cb, vf, hs, sLo, sHi, eh, steps)
                        } else {
                            F32Values.accumulate(oa, ob, mb != 0, ma != 0, ea, eb, ca, cb, vf, hs, sLo, sHi, eh)
                        }
                        k += 2
                    }
                }
                r0 += 6
            }
            c += cs
        }
        for r in 0..<rows {
            let o = t.output(r), inv = _mm512_set1_ps(1 / ls[r])
            var j = 0
            while j < hs { _mm512_storeu_ps(o + j, _mm512_mul_ps(_mm512_loadu_ps(o + j), inv)); j += 16 }
        }
    }

    /// Scores of up to 6 rows against the chunk's keys kf [hs][32] to pb[k·32...].
    @inline(__always)
    static func scores(_ kf: UnsafePointer<Float>, _ t: AttentionTile, _ r0: Int, _ nr: Int, _ pb: UnsafeMutablePointer<Float>) {
        let cs = chunk, hs = t.headSize
        let q0 = t.query(r0), q1 = t.query(r0 + min(1, nr - 1)), q2 = t.query(r0 + min(2, nr - 1))
        let q3 = t.query(r0 + min(3, nr - 1)), q4 = t.query(r0 + min(4, nr - 1)), q5 = t.query(r0 + min(5, nr - 1))
        var a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0
        var b0 = a0, b1 = a0, b2 = a0, b3 = a0, b4 = a0, b5 = a0
        if nr > 3 {
            for d in 0..<hs {
                let k0 = _mm512_loadu_ps(kf + d * cs), k1 = _mm512_loadu_ps(kf + d * cs + 16)
                var x = _mm512_set1_ps(q0[d]); a0 = _mm512_fmadd_ps(x, k0, a0); b0 = _mm512_fmadd_ps(x, k1, b0)
                x = _mm512_set1_ps(q1[d]); a1 = _mm512_fmadd_ps(x, k0, a1); b1 = _mm512_fmadd_ps(x, k1, b1)
                x = _mm512_set1_ps(q2[d]); a2 = _mm512_fmadd_ps(x, k0, a2); b2 = _mm512_fmadd_ps(x, k1, b2)
                x = _mm512_set1_ps(q3[d]); a3 = _mm512_fmadd_ps(x, k0, a3); b3 = _mm512_fmadd_ps(x, k1, b3)
                x = _mm512_set1_ps(q4[d]); a4 = _mm512_fmadd_ps(x, k0, a4); b4 = _mm512_fmadd_ps(x, k1, b4)
                x = _mm512_set1_ps(q5[d]); a5 = _mm512_fmadd_ps(x, k0, a5); b5 = _mm512_fmadd_ps(x, k1, b5)
            }
        } else {
            for d in 0..<hs {
                let k0 = _mm512_loadu_ps(kf + d * cs), k1 = _mm512_loadu_ps(kf + d * cs + 16)
                var x = _mm512_set1_ps(q0[d]); a0 = _mm512_fmadd_ps(x, k0, a0); b0 = _mm512_fmadd_ps(x, k1, b0)
                x = _mm512_set1_ps(q1[d]); a1 = _mm512_fmadd_ps(x, k0, a1); b1 = _mm512_fmadd_ps(x, k1, b1)
                x = _mm512_set1_ps(q2[d]); a2 = _mm512_fmadd_ps(x, k0, a2); b2 = _mm512_fmadd_ps(x, k1, b2)
            }
        }
        _mm512_storeu_ps(pb, a0); _mm512_storeu_ps(pb + 16, b0); _mm512_storeu_ps(pb + 32, a1); _mm512_storeu_ps(pb + 48, b1)
        _mm512_storeu_ps(pb + 64, a2); _mm512_storeu_ps(pb + 80, b2)
        if nr > 3 {
            _mm512_storeu_ps(pb + 96, a3); _mm512_storeu_ps(pb + 112, b3); _mm512_storeu_ps(pb + 128, a4); _mm512_storeu_ps(pb + 144, b4)
            _mm512_storeu_ps(pb + 160, a5); _mm512_storeu_ps(pb + 176, b5)
        }
    }

    /// Each active row's online-softmax step over its scores in pb[k·32...] (times `scale`): e
    /// (zero outside the row's mask) to pb[k·32...], the correction of its running output to
    /// pb[256 + k]; running max and denominator updated.
    @inline(__always)
    static func update(_ t: AttentionTile, _ r0: Int, _ nr: Int, _ c: Int, _ scale: Float,
                       _ ms: UnsafeMutablePointer<Float>, _ ls: UnsafeMutablePointer<Float>, _ pb: UnsafeMutablePointer<Float>) {
        let cs = chunk
        // One copy of the softmax step for all rows (inlined copies per row overflowed the µop cache).
        let vs = _mm512_set1_ps(scale), ninf = _mm512_set1_ps(-.infinity)
        for k in 0..<nr {
            let mask = t.mask(r0 + k, chunk: c)
            guard mask != 0 else { continue }
            let r = r0 + k, lowMask = __mmask16(truncatingIfNeeded: mask), highMask = __mmask16(truncatingIfNeeded: mask >> 16)
            let s0 = _mm512_mask_blend_ps(lowMask, ninf, _mm512_mul_ps(_mm512_loadu_ps(pb + cs * k), vs))
            let s1 = _mm512_mask_blend_ps(highMask, ninf, _mm512_mul_ps(_mm512_loadu_ps(pb + cs * k + 16), vs))
            let m = ms[r], mNew = max(m, _mm512_reduce_max_ps(_mm512_max_ps(s0, s1)))
            let vm = _mm512_set1_ps(mNew)
            let e0 = _mm512_maskz_mov_ps(lowMask, exp16(_mm512_sub_ps(s0, vm)))
            let e1 = _mm512_maskz_mov_ps(highMask, exp16(_mm512_sub_ps(s1, vm)))
            // The running max rarely grows once a few chunks are in: then nothing is rescaled.
            let corr: Float = m == mNew ? 1 : m == -.infinity ? 0 : expf(m - mNew)
            ms[r] = mNew
            ls[r] = ls[r] * corr + _mm512_reduce_add_ps(_mm512_add_ps(e0, e1))
            _mm512_storeu_ps(pb + cs * k, e0)
            _mm512_storeu_ps(pb + cs * k + 16, e1)
            pb[8 * cs + k] = corr
        }
    }

    /// oa = ca·oa + Σ_{i in lo..<hi} ea[i]·v_i (and ob likewise when `two`), v_i = vf + i·hs; a row
    /// with `oneActive` false (its mask empty) is left alone. 128 floats of a row per pass.
    @inline(__always)
    static func accumulate(_ oa: UnsafeMutablePointer<Float>, _ ob: UnsafeMutablePointer<Float>, _ two: Bool, _ oneActive: Bool,
                           _ ea: UnsafePointer<Float>, _ eb: UnsafePointer<Float>, _ ca: UnsafePointer<Float>, _ cb: UnsafePointer<Float>,
                           _ vf: UnsafePointer<Float>, _ hs: Int, _ lo: Int, _ hi: Int) {
        if two && oneActive {
            var j = 0
            while j + 128 <= hs { pair(W8.self, oa + j, ob + j, ea, eb, ca[0], cb[0], vf + j, hs, lo, hi); j += 128 }
            while j < hs { pair(W1.self, oa + j, ob + j, ea, eb, ca[0], cb[0], vf + j, hs, lo, hi); j += 16 }
        } else {
            let (o, e, cr) = oneActive ? (oa, ea, ca[0]) : (ob, eb, cb[0])
            var j = 0
            while j + 128 <= hs { single(W8.self, o + j, e, cr, vf + j, hs, lo, hi); j += 128 }
            while j < hs { single(W1.self, o + j, e, cr, vf + j, hs, lo, hi); j += 16 }
        }
    }

    @inline(__always)
    static func pair<W: Width>(_: W.Type, _ oa: UnsafeMutablePointer<Float>, _ ob: UnsafeMutablePointer<Float>,
                               _ ea: UnsafePointer<Float>, _ eb: UnsafePointer<Float>, _ ca: Float, _ cb: Float,
                               _ v: UnsafePointer<Float>, _ hs: Int, _ lo: Int, _ hi: Int) {
        let n = W.vectors
        var (a0, a1, a2, a3, a4, a5, a6, a7) = scaled(W.self, oa, ca), (b0, b1, b2, b3, b4, b5, b6, b7) = scaled(W.self, ob, cb)
        for i in lo..<hi {
            let wa = _mm512_set1_ps(ea[i]), wb = _mm512_set1_ps(eb[i]), vi = v + i * hs
            var x = _mm512_loadu_ps(vi)
            a0 = _mm512_fmadd_ps(wa, x, a0); b0 = _mm512_fmadd_ps(wb, x, b0)
            if n > 1 {
                x = _mm512_loadu_ps(vi + 16); a1 = _mm512_fmadd_ps(wa, x, a1); b1 = _mm512_fmadd_ps(wb, x, b1)
                x = _mm512_loadu_ps(vi + 32); a2 = _mm512_fmadd_ps(wa, x, a2); b2 = _mm512_fmadd_ps(wb, x, b2)
                x = _mm512_loadu_ps(vi + 48); a3 = _mm512_fmadd_ps(wa, x, a3); b3 = _mm512_fmadd_ps(wb, x, b3)
                x = _mm512_loadu_ps(vi + 64); a4 = _mm512_fmadd_ps(wa, x, a4); b4 = _mm512_fmadd_ps(wb, x, b4)
                x = _mm512_loadu_ps(vi + 80); a5 = _mm512_fmadd_ps(wa, x, a5); b5 = _mm512_fmadd_ps(wb, x, b5)
                x = _mm512_loadu_ps(vi + 96); a6 = _mm512_fmadd_ps(wa, x, a6); b6 = _mm512_fmadd_ps(wb, x, b6)
                x = _mm512_loadu_ps(vi + 112); a7 = _mm512_fmadd_ps(wa, x, a7); b7 = _mm512_fmadd_ps(wb, x, b7)
            }
        }
        store(W.self, oa, (a0, a1, a2, a3, a4, a5, a6, a7))
        store(W.self, ob, (b0, b1, b2, b3, b4, b5, b6, b7))
    }

    @inline(__always)
    static func single<W: Width>(_: W.Type, _ o: UnsafeMutablePointer<Float>, _ e: UnsafePointer<Float>, _ cr: Float,
                                 _ v: UnsafePointer<Float>, _ hs: Int, _ lo: Int, _ hi: Int) {
        let n = W.vectors
        var (a0, a1, a2, a3, a4, a5, a6, a7) = scaled(W.self, o, cr)
        for i in lo..<hi {
            let w = _mm512_set1_ps(e[i]), vi = v + i * hs
            a0 = _mm512_fmadd_ps(w, _mm512_loadu_ps(vi), a0)
            if n > 1 {
                a1 = _mm512_fmadd_ps(w, _mm512_loadu_ps(vi + 16), a1); a2 = _mm512_fmadd_ps(w, _mm512_loadu_ps(vi + 32), a2)
                a3 = _mm512_fmadd_ps(w, _mm512_loadu_ps(vi + 48), a3); a4 = _mm512_fmadd_ps(w, _mm512_loadu_ps(vi + 64), a4)
                a5 = _mm512_fmadd_ps(w, _mm512_loadu_ps(vi + 80), a5); a6 = _mm512_fmadd_ps(w, _mm512_loadu_ps(vi + 96), a6)
                a7 = _mm512_fmadd_ps(w, _mm512_loadu_ps(vi + 112), a7)
            }
        }
        store(W.self, o, (a0, a1, a2, a3, a4, a5, a6, a7))
    }

    /// A pass's W.vectors sums of one row, started as its running output o rescaled by c.
    @inline(__always)
    static func scaled<W: Width>(_: W.Type, _ o: UnsafePointer<Float>, _ c: Float)
        -> (__m512, __m512, __m512, __m512, __m512, __m512, __m512, __m512) {
        let v = _mm512_set1_ps(c), z = _mm512_setzero_ps()
        @inline(__always) func x(_ k: Int) -> __m512 { _mm512_mul_ps(_mm512_loadu_ps(o + 16 * k), v) }
        if W.vectors == 1 { return (x(0), z, z, z, z, z, z, z) }
        return (x(0), x(1), x(2), x(3), x(4), x(5), x(6), x(7))
    }

    /// A pass's W.vectors sums of one row to o.
    @inline(__always)
    static func store<W: Width>(_: W.Type, _ o: UnsafeMutablePointer<Float>,
                                _ a: (__m512, __m512, __m512, __m512, __m512, __m512, __m512, __m512)) {
        _mm512_storeu_ps(o, a.0)
        if W.vectors > 1 {
            _mm512_storeu_ps(o + 16, a.1); _mm512_storeu_ps(o + 32, a.2); _mm512_storeu_ps(o + 48, a.3); _mm512_storeu_ps(o + 64, a.4)
            _mm512_storeu_ps(o + 80, a.5); _mm512_storeu_ps(o + 96, a.6); _mm512_storeu_ps(o + 112, a.7)
        }
    }

    /// e^x per lane, the same polynomial as the AVX2 and portable kernels' exp8.
    @inline(__always)
    static func exp16(_ v: __m512) -> __m512 {
        let x = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(-87.3)), _mm512_set1_ps(88.3))
        let magic = _mm512_set1_ps(12_582_912)
        let t = _mm512_fmadd_ps(x, _mm512_set1_ps(1.442_695_04), magic)
        let n = _mm512_sub_ps(t, magic)
        var r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693_359_375), x)
        r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.121_944_4e-4), r)
        var p = _mm512_set1_ps(1.987_569_1e-4)
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.398_199_9e-3))
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.333_451_9e-3))
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.166_579_6e-2))
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.666_666_5e-1))
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.000_000_1e-1))
        let er = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1))
        let ni = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(0x4B40_0000))
        let pow2 = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(ni, _mm512_set1_epi32(127)), 23))
        return _mm512_mul_ps(er, pow2)
    }
}

/// How many 16-float vectors of a row one pass of the value accumulation holds in registers.
protocol Width { static var vectors: Int { get } }
enum W8: Width { @inline(__always) static var vectors: Int { 8 } }
enum W1: Width { @inline(__always) static var vectors: Int { 1 } }
#endif
