#if arch(x86_64)
import _Builtin_intrinsics.intel
import CPrefetch
#if canImport(Glibc)
import Glibc
#endif

/// The tiled kernel on AVX2: a tile of consecutive query tokens of one sequence × the
/// query heads of one kv head, the cache walked in 16-slot chunks aligned to absolute
/// positions, each chunk's keys and values converted to floats once for every row of
/// the tile (see KernelsAVX512/AVX512Attention.swift for the AVX-512 twin and why a
/// row's result does not depend on the tile it is computed in).
extension AVX2Attention {
    // A copy of AVX2Attention.swift's: a debug build calls a function of another file (no
    // inlining across files), once per 8 halves here.
    @inline(__always) private static func loadHalfs8(_ p: UnsafeRawPointer, _ i: Int) -> __m256 {
        _mm256_cvtph_ps(_mm_loadu_si128((p + 2 * i).assumingMemoryBound(to: __m128i.self)))
    }

    public static func supportsTile(headSize: Int, blockSize: Int) -> Bool {
        headSize % 8 == 0 && headSize <= 512 && blockSize % 16 == 0
    }

    /// Floats of scratch `attendTile` needs for `rows` = tokens × group.
    public static func tileScratchCount(headSize hs: Int, rows: Int) -> Int { 2 * rows + 16 + 32 * hs + 4 * 16 + 8 }

    /// Same contract as `AVX512Attention.attendTile`.
    public static func attendTile(_ t: AttentionTile, blockTable: UnsafePointer<Int32>, keys: UnsafeRawPointer,
                                  values: UnsafeRawPointer, f16: Bool, blockSize bs: Int, kvDim: Int, scale: Float,
                                  scratch: UnsafeMutablePointer<Float>) {
        let rows = t.rows, hs = t.headSize, kvh = t.kvHead
        let ms = scratch, ls = ms + rows, kf = ls + rows + 16, vf = kf + 16 * hs, pb = vf + 16 * hs
        t.start(max: ms, sum: ls)
        let eb = f16 ? 2 : 4
        let tileFirst = t.first, tileLast = t.last
        var c = tileFirst & ~15
        while c <= tileLast {
            let blk = Int(blockTable[c / bs]), s0 = c % bs
            let lo = max(tileFirst - c, 0), hi = min(16, tileLast - c + 1)
            let kt = keys + ((blk * kvDim + kvh * hs) * bs + s0) * eb
            let vb = values + ((blk * bs + s0) * kvDim + kvh * hs) * eb
            if c + 16 <= tileLast {  // the next chunk is read next
                t.prefetch(slots: c + 16, blockTable: blockTable, keys: keys, values: values, elementBytes: eb, blockSize: bs, kvDim: kvDim)
            }
            if f16 {
                for d in 0..<hs {
                    _mm256_storeu_ps(kf + d * 16, loadHalfs8(kt, d * bs))
                    _mm256_storeu_ps(kf + d * 16 + 8, loadHalfs8(kt, d * bs + 8))
                }
                for i in lo..<hi {
                    var j = 0
                    while j < hs { _mm256_storeu_ps(vf + i * hs + j, loadHalfs8(vb, i * kvDim + j)); j += 8 }
                }
            } else {
                for d in 0..<hs { (kf + d * 16).update(from: (kt + d * bs * 4).assumingMemoryBound(to: Float.self), count: 16) }
                for i in lo..<hi { (vf + i * hs).update(from: (vb + i * kvDim * 4).assumingMemoryBound(to: Float.self), count: hs) }
            }
            var r0 = 0
            while r0 < rows {
                let nr = min(4, rows - r0)
                // Only rows with slots in this chunk (their window's start...their own position) count.
                guard (0..<nr).contains(where: { let (a, b) = t.slots(r0 + $0, chunk: c, length: 16); return b > a }) else {
                    r0 += 4
                    continue
                }
                // Four rows with the same slots (all but the diagonal chunk): their values are
                // read once for the four (`accumulate4`), the same sums in the same order.
                let (a0, b0) = t.slots(r0, chunk: c, length: 16)
                if nr == 4 && hs % 16 == 0 && (1..<4).allSatisfy({ t.slots(r0 + $0, chunk: c, length: 16) == (a0, b0) }) {
                    tileScores(kf, hs, t.query(r0), t.query(r0 + 1), t.query(r0 + 2), t.query(r0 + 3), 4, pb)
                    var corr: (Float, Float, Float, Float) = (1, 1, 1, 1)
                    for k in 0..<4 {
                        let r = r0 + k
                        let (m, l, f) = softmaxStep(pb + 16 * k, a0, b0, scale, ms[r], ls[r])
                        ms[r] = m
                        ls[r] = l
                        switch k { case 0: corr.0 = f; case 1: corr.1 = f; case 2: corr.2 = f; default: corr.3 = f }
                    }
                    accumulate4(t.output(r0), t.output(r0 + 1), t.output(r0 + 2), t.output(r0 + 3), pb, vf, hs, a0, b0, corr)
                    r0 += 4
                    continue
                }
                tileScores(kf, hs, t.query(r0), t.query(r0 + min(1, nr - 1)), t.query(r0 + min(2, nr - 1)), t.query(r0 + min(3, nr - 1)), nr, pb)
                for k in 0..<nr {
                    let r = r0 + k, (a, b) = t.slots(r, chunk: c, length: 16)
                    guard b > a else { continue }
                    let e = pb + 16 * k
                    let (m, l, corr) = softmaxStep(e, a, b, scale, ms[r], ls[r])
                    ms[r] = m
                    ls[r] = l
                    let o = t.output(r)
                    if hs % 64 == 0 {
                        var j = 0
                        while j < hs { accumulate64(o + j, e, vf + j, hs, a, b, corr); j += 64 }
                    } else {
                        let vc = _mm256_set1_ps(corr)
                        var j = 0
                        while j < hs {
                            var acc = _mm256_mul_ps(_mm256_loadu_ps(o + j), vc)
                            for i in a..<b { acc = _mm256_fmadd_ps(_mm256_set1_ps(e[i]), _mm256_loadu_ps(vf + i * hs + j), acc) }
                            _mm256_storeu_ps(o + j, acc)
                            j += 8
                        }
                    }
                }
                r0 += 4
            }
            c += 16
        }
        for r in 0..<rows {
            let o = t.output(r), inv = _mm256_set1_ps(1 / ls[r])
            var j = 0
            while j < hs { _mm256_storeu_ps(o + j, _mm256_mul_ps(_mm256_loadu_ps(o + j), inv)); j += 8 }
        }
    }

    /// o_k = corr_k · o_k + Σ_{i in lo..<hi} e[16k + i] · v_i for rows k = 0...3 (v: the chunk's
    /// values [16][hs], hs a multiple of 16), 16 columns at a time: each value vector is loaded
    /// once for the four rows. Row by row (`accumulate64`) a step loaded 8 vectors for 8 FMAs,
    /// and Zen 3 loads 2 a cycle: the FMAs ran at half their rate. Each element gets the same
    /// operations in the same order as row by row.
    @inline(__always)
    static func accumulate4(_ o0: UnsafeMutablePointer<Float>, _ o1: UnsafeMutablePointer<Float>,
                            _ o2: UnsafeMutablePointer<Float>, _ o3: UnsafeMutablePointer<Float>, _ e: UnsafePointer<Float>,
                            _ v: UnsafePointer<Float>, _ hs: Int, _ lo: Int, _ hi: Int, _ corr: (Float, Float, Float, Float)) {
        let c0 = _mm256_set1_ps(corr.0), c1 = _mm256_set1_ps(corr.1), c2 = _mm256_set1_ps(corr.2), c3 = _mm256_set1_ps(corr.3)
        var j = 0
        while j < hs {
            var x0 = _mm256_mul_ps(_mm256_loadu_ps(o0 + j), c0), y0 = _mm256_mul_ps(_mm256_loadu_ps(o0 + j + 8), c0)
            var x1 = _mm256_mul_ps(_mm256_loadu_ps(o1 + j), c1), y1 = _mm256_mul_ps(_mm256_loadu_ps(o1 + j + 8), c1)
            var x2 = _mm256_mul_ps(_mm256_loadu_ps(o2 + j), c2), y2 = _mm256_mul_ps(_mm256_loadu_ps(o2 + j + 8), c2)
            var x3 = _mm256_mul_ps(_mm256_loadu_ps(o3 + j), c3), y3 = _mm256_mul_ps(_mm256_loadu_ps(o3 + j + 8), c3)
            for i in lo..<hi {
                let vi = v + i * hs + j
                let va = _mm256_loadu_ps(vi), vb = _mm256_loadu_ps(vi + 8)
                var w = _mm256_set1_ps(e[i])
                x0 = _mm256_fmadd_ps(w, va, x0); y0 = _mm256_fmadd_ps(w, vb, y0)
                w = _mm256_set1_ps(e[16 + i])
                x1 = _mm256_fmadd_ps(w, va, x1); y1 = _mm256_fmadd_ps(w, vb, y1)
                w = _mm256_set1_ps(e[32 + i])
                x2 = _mm256_fmadd_ps(w, va, x2); y2 = _mm256_fmadd_ps(w, vb, y2)
                w = _mm256_set1_ps(e[48 + i])
                x3 = _mm256_fmadd_ps(w, va, x3); y3 = _mm256_fmadd_ps(w, vb, y3)
            }
            _mm256_storeu_ps(o0 + j, x0); _mm256_storeu_ps(o0 + j + 8, y0)
            _mm256_storeu_ps(o1 + j, x1); _mm256_storeu_ps(o1 + j + 8, y1)
            _mm256_storeu_ps(o2 + j, x2); _mm256_storeu_ps(o2 + j + 8, y2)
            _mm256_storeu_ps(o3 + j, x3); _mm256_storeu_ps(o3 + j + 8, y3)
            j += 16
        }
    }

    /// Raw scores of up to 4 rows against the chunk's keys kf [hs][16]: sc[k·16 + i].
    @inline(__always)
    static func tileScores(_ kf: UnsafePointer<Float>, _ hs: Int, _ q0: UnsafePointer<Float>, _ q1: UnsafePointer<Float>,
                           _ q2: UnsafePointer<Float>, _ q3: UnsafePointer<Float>, _ nh: Int, _ sc: UnsafeMutablePointer<Float>) {
        var a0 = _mm256_setzero_ps(), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0
        for d in 0..<hs {
            let k0 = _mm256_loadu_ps(kf + d * 16), k1 = _mm256_loadu_ps(kf + d * 16 + 8)
            let x0 = _mm256_set1_ps(q0[d])
            a0 = _mm256_fmadd_ps(x0, k0, a0); b0 = _mm256_fmadd_ps(x0, k1, b0)
            if nh > 1 { let x = _mm256_set1_ps(q1[d]); a1 = _mm256_fmadd_ps(x, k0, a1); b1 = _mm256_fmadd_ps(x, k1, b1) }
            if nh > 2 { let x = _mm256_set1_ps(q2[d]); a2 = _mm256_fmadd_ps(x, k0, a2); b2 = _mm256_fmadd_ps(x, k1, b2) }
            if nh > 3 { let x = _mm256_set1_ps(q3[d]); a3 = _mm256_fmadd_ps(x, k0, a3); b3 = _mm256_fmadd_ps(x, k1, b3) }
        }
        _mm256_storeu_ps(sc, a0); _mm256_storeu_ps(sc + 8, b0)
        if nh > 1 { _mm256_storeu_ps(sc + 16, a1); _mm256_storeu_ps(sc + 24, b1) }
        if nh > 2 { _mm256_storeu_ps(sc + 32, a2); _mm256_storeu_ps(sc + 40, b2) }
        if nh > 3 { _mm256_storeu_ps(sc + 48, a3); _mm256_storeu_ps(sc + 56, b3) }
    }

    /// One row's online-softmax step over its slots a..<b of a chunk: raw scores s [16] become
    /// weights e^(s·scale - m') (0 outside a..<b); returns the new max, denominator and the
    /// factor the running output is rescaled by.
    @inline(__always)
    static func softmaxStep(_ s: UnsafeMutablePointer<Float>, _ a: Int, _ b: Int, _ scale: Float, _ m: Float, _ l: Float)
        -> (Float, Float, Float) {
        let iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), vs = _mm256_set1_ps(scale), ninf = _mm256_set1_ps(-.infinity)
        let lo = _mm256_set1_epi32(Int32(a - 1)), hi = _mm256_set1_epi32(Int32(b))
        func masked(_ c: Int32) -> __m256 {
            let idx = _mm256_add_epi32(iota, _mm256_set1_epi32(c))
            let inside = _mm256_and_si256(_mm256_cmpgt_epi32(idx, lo), _mm256_cmpgt_epi32(hi, idx))
            return _mm256_castsi256_ps(inside)
        }
        let in0 = masked(0), in1 = masked(8)
        let v0 = _mm256_blendv_ps(ninf, _mm256_mul_ps(_mm256_loadu_ps(s), vs), in0)
        let v1 = _mm256_blendv_ps(ninf, _mm256_mul_ps(_mm256_loadu_ps(s + 8), vs), in1)
        let mNew = max(m, hmax(_mm256_max_ps(v0, v1)))
        let vm = _mm256_set1_ps(mNew)
        let e0 = _mm256_and_ps(exp8(_mm256_sub_ps(v0, vm)), in0), e1 = _mm256_and_ps(exp8(_mm256_sub_ps(v1, vm)), in1)
        _mm256_storeu_ps(s, e0)
        _mm256_storeu_ps(s + 8, e1)
        // The running max rarely grows once a few chunks are in: then nothing is rescaled.
        let corr: Float = m == mNew ? 1 : m == -.infinity ? 0 : expf(m - mNew)
        return (mNew, l * corr + hsum(_mm256_add_ps(e0, e1)), corr)
    }

    /// Horizontal max and sum in a few shuffles (the generic SIMD reductions go lane by lane).
    @inline(__always)
    static func hmax(_ v: __m256) -> Float {
        let t = _mm256_max_ps(v, _mm256_permutevar8x32_ps(v, _mm256_setr_epi32(4, 5, 6, 7, 0, 1, 2, 3)))
        var x = _mm256_castps256_ps128(t)
        x = _mm_max_ps(x, _mm_movehl_ps(x, x))
        x = _mm_max_ps(x, _mm_movehdup_ps(x))
        return _mm_cvtss_f32(x)
    }

    @inline(__always)
    static func hsum(_ v: __m256) -> Float {
        let t = _mm256_add_ps(v, _mm256_permutevar8x32_ps(v, _mm256_setr_epi32(4, 5, 6, 7, 0, 1, 2, 3)))
        var x = _mm256_castps256_ps128(t)
        x = _mm_add_ps(x, _mm_movehl_ps(x, x))
        x = _mm_add_ps(x, _mm_movehdup_ps(x))
        return _mm_cvtss_f32(x)
    }
}
#endif
