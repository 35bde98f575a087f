#if arch(x86_64)
import _Builtin_intrinsics.intel
import CPrefetch

/// How the cache stores an element: 8 of them load as 8 floats.
protocol KVElement {
    static var bytes: Int { get }
    static func load8(_ p: UnsafeRawPointer, _ i: Int) -> __m256
}

enum KVF32: KVElement {
    @inline(__always) static var bytes: Int { 4 }
    @inline(__always) static func load8(_ p: UnsafeRawPointer, _ i: Int) -> __m256 {
        _mm256_loadu_ps((p + 4 * i).assumingMemoryBound(to: Float.self))
    }
}

enum KVF16: KVElement {
    @inline(__always) static var bytes: Int { 2 }
    @inline(__always) static func load8(_ p: UnsafeRawPointer, _ i: Int) -> __m256 {
        _mm256_cvtph_ps(_mm_loadu_si128((p + 2 * i).assumingMemoryBound(to: __m128i.self)))
    }
}

/// Attention of one token over a paged KV cache on AVX2, online softmax one cache
/// block at a time (see Kernels/Attention.swift for the portable twin).
///
/// Keys are stored transposed within a block ([kvDim][blockSize], see KVCacheStorage),
/// so the scores of 8 slots are one vector: Σ_d q[d] · Kᵀ[d][slots] is a chain of FMAs
/// with a broadcast query element, with no horizontal sum per key, and each loaded row
/// of keys serves every query head of the kv head's group (GQA). Values keep their
/// natural [blockSize][kvDim] layout and are converted to floats once per block and kv
/// head, then read by each head of the group.
public enum AVX2Attention {
    public static let maxHeadSize = 256

    /// Whether `attend` handles this shape; the caller falls back to the portable kernel otherwise.
    public static func supports(headSize: Int, blockSize: Int) -> Bool {
        headSize % 8 == 0 && headSize <= maxHeadSize && blockSize % 16 == 0 && blockSize <= 256
    }

    /// q, out: [nHead, headSize]; keys/values: one layer's blocks (keys [blocks][kvDim][blockSize],
    /// values [blocks][blockSize][kvDim]), f16 or f32; positions first...last through blockTable.
    public static func attend(q: UnsafePointer<Float>, first: Int, last: Int, blockTable: UnsafePointer<Int32>,
                              keys: UnsafeRawPointer, values: UnsafeRawPointer, f16: Bool, blockSize bs: Int, kvDim: Int,
                              nHead: Int, nKVHead: Int, headSize hs: Int, scale: Float, out: UnsafeMutablePointer<Float>) {
        if f16 {
            attend(KVF16.self, q, first, last, blockTable, keys, values, bs, kvDim, nHead, nKVHead, hs, scale, out)
        } else {
            attend(KVF32.self, q, first, last, blockTable, keys, values, bs, kvDim, nHead, nKVHead, hs, scale, out)
        }
    }

    /// Floats to halves (round to nearest even), as the cache stores f16 keys and values;
    /// magnitudes beyond f16's range saturate to ±65504 rather than becoming infinities
    /// that would turn scores into NaN.
    /// (`_mm256_cvtps_ph` is a macro Swift cannot import; with F16C enabled this
    /// conversion compiles to vcvtps2ph.)
    public static func floatsToHalfs(_ x: UnsafePointer<Float>, _ h: UnsafeMutablePointer<UInt16>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            let v = _mm256_min_ps(_mm256_max_ps(_mm256_loadu_ps(x + i), _mm256_set1_ps(-65504)), _mm256_set1_ps(65504))
            UnsafeMutableRawPointer(h + i).storeBytes(of: SIMD8<Float16>(v), as: SIMD8<Float16>.self)
            i += 8
        }
        while i < n {
            h[i] = Float16(min(max(x[i], -65504), 65504)).bitPattern
            i += 1
        }
    }

    @inline(__always)
    static func attend<E: KVElement>(_: E.Type, _ q: UnsafePointer<Float>, _ first: Int, _ last: Int, _ blockTable: UnsafePointer<Int32>,
                                     _ keys: UnsafeRawPointer, _ values: UnsafeRawPointer, _ bs: Int, _ kvDim: Int,
                                     _ nHead: Int, _ nKVHead: Int, _ hs: Int, _ scale: Float, _ out: UnsafeMutablePointer<Float>) {
        let group = nHead / nKVHead
        // Scratch: scores of one block for up to 4 heads, one block of one kv head's values
        // as floats, and the running max and denominator of every head.
        let scCount = 4 * bs, vfCount = bs * hs
        // (A heap buffer rather than withUnsafeTemporaryAllocation: inside that closure
        // the specialized code stopped inlining the intrinsics, 4× slower.)
        let base = UnsafeMutablePointer<Float>.allocate(capacity: scCount + vfCount + 2 * nHead)
        defer { base.deallocate() }
        let sc = base, vf = sc + scCount, ms = vf + vfCount, ls = ms + nHead
        for h in 0..<nHead {
            (out + h * hs).update(repeating: 0, count: hs)
            ms[h] = -Float.infinity
            ls[h] = 0
        }
        let blockElems = bs * kvDim
        var p = first
        while p <= last {
            let lo = p % bs, hi = min(bs, lo + last - p + 1)  // valid slots lo..<hi of this block
            let blk = Int(blockTable[p / bs])
            if p / bs < last / bs {  // the next block's keys and values (all kv heads) are read next
                let next = Int(blockTable[p / bs + 1]) * blockElems * E.bytes
                jeton_prefetch_range(keys + next, blockElems * E.bytes)
                jeton_prefetch_range(values + next, blockElems * E.bytes)
            }
            for kvh in 0..<nKVHead {
                let kt = keys + (blk * blockElems + kvh * hs * bs) * E.bytes  // [hs][bs]
                let vb = values + (blk * blockElems + kvh * hs) * E.bytes     // [bs] rows, stride kvDim
                for i in lo..<hi {
                    var j = 0
                    while j < hs { _mm256_storeu_ps(vf + i * hs + j, E.load8(vb, i * kvDim + j)); j += 8 }
                }
                var h0 = kvh * group
                while h0 < (kvh + 1) * group {
                    let nh = min(4, (kvh + 1) * group - h0)
                    var c = 0
                    while c < bs {
                        scores16(E.self, kt, bs, c, q + h0 * hs, hs, nh, sc + c)
                        c += 16
                    }
                    for k in 0..<nh {
                        let h = h0 + k
                        let (m, l) = update(sc + k * bs, bs, lo, hi, scale, ms[h], ls[h], vf, out + h * hs, hs)
                        ms[h] = m
                        ls[h] = l
                    }
                    h0 += nh
                }
            }
            p += hi - lo
        }
        for h in 0..<nHead {
            let oh = out + h * hs, inv = _mm256_set1_ps(1 / ls[h])
            var j = 0
            while j < hs { _mm256_storeu_ps(oh + j, _mm256_mul_ps(_mm256_loadu_ps(oh + j), inv)); j += 8 }
        }
    }

    /// Raw scores of up to 4 query heads (q + k·hs) against slots c..<c+16 of one kv head's
    /// transposed keys kt [hs][bs]: sc[k·bs + i] for slot c + i. 8 independent FMA chains.
    @inline(__always)
    static func scores16<E: KVElement>(_: E.Type, _ kt: UnsafeRawPointer, _ bs: Int, _ c: Int, _ q: UnsafePointer<Float>,
                                       _ hs: Int, _ nh: Int, _ sc: UnsafeMutablePointer<Float>) {
        var a0 = _mm256_setzero_ps(), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0
        let q1 = q + min(1, nh - 1) * hs, q2 = q + min(2, nh - 1) * hs, q3 = q + min(3, nh - 1) * hs
        for d in 0..<hs {
            let r = d * bs + c
            let k0 = E.load8(kt, r), k1 = E.load8(kt, r + 8)
            let x0 = _mm256_set1_ps(q[d])
            a0 = _mm256_fmadd_ps(x0, k0, a0); b0 = _mm256_fmadd_ps(x0, k1, b0)
            if nh > 1 { let x = _mm256_set1_ps(q1[d]); a1 = _mm256_fmadd_ps(x, k0, a1); b1 = _mm256_fmadd_ps(x, k1, b1) }
            if nh > 2 { let x = _mm256_set1_ps(q2[d]); a2 = _mm256_fmadd_ps(x, k0, a2); b2 = _mm256_fmadd_ps(x, k1, b2) }
            if nh > 3 { let x = _mm256_set1_ps(q3[d]); a3 = _mm256_fmadd_ps(x, k0, a3); b3 = _mm256_fmadd_ps(x, k1, b3) }
        }
        _mm256_storeu_ps(sc, a0); _mm256_storeu_ps(sc + 8, b0)
        if nh > 1 { _mm256_storeu_ps(sc + bs, a1); _mm256_storeu_ps(sc + bs + 8, b1) }
        if nh > 2 { _mm256_storeu_ps(sc + 2 * bs, a2); _mm256_storeu_ps(sc + 2 * bs + 8, b2) }
        if nh > 3 { _mm256_storeu_ps(sc + 3 * bs, a3); _mm256_storeu_ps(sc + 3 * bs + 8, b3) }
    }

    /// One head's online-softmax step over slots lo..<hi of a block: raw scores s [bs],
    /// values vf [bs][hs] as floats; rescales the running output o and returns the new
    /// running max and denominator.
    @inline(__always)
    static func update(_ s: UnsafeMutablePointer<Float>, _ bs: Int, _ lo: Int, _ hi: Int, _ scale: Float, _ m: Float, _ l: Float,
                       _ vf: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, _ hs: Int) -> (Float, Float) {
        let iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)
        let vs = _mm256_set1_ps(scale), ninf = _mm256_set1_ps(-.infinity)
        var vmax = ninf
        var c = 0
        while c < bs {  // scale, and -inf outside lo..<hi
            let idx = _mm256_add_epi32(iota, _mm256_set1_epi32(Int32(c)))
            let inside = _mm256_and_si256(_mm256_cmpgt_epi32(idx, _mm256_set1_epi32(Int32(lo - 1))),
                                          _mm256_cmpgt_epi32(_mm256_set1_epi32(Int32(hi)), idx))
            let v = _mm256_blendv_ps(ninf, _mm256_mul_ps(_mm256_loadu_ps(s + c), vs), _mm256_castsi256_ps(inside))
            _mm256_storeu_ps(s + c, v)
            vmax = _mm256_max_ps(vmax, v)
            c += 8
        }
        let mNew = max(m, vmax.max())
        let vm = _mm256_set1_ps(mNew)
        var lsum = _mm256_setzero_ps()
        c = 0
        while c < bs {  // exp; lanes at -inf give exactly 0 (exp8 alone would give ~1e-38)
            let v = _mm256_loadu_ps(s + c)
            let e = _mm256_and_ps(exp8(_mm256_sub_ps(v, vm)), notMinusInfinity(v))
            _mm256_storeu_ps(s + c, e)
            lsum = _mm256_add_ps(lsum, e)
            c += 8
        }
        let corr = m == -.infinity ? 0 : exp8(_mm256_set1_ps(m - mNew))[0]
        if hs % 64 == 0 {
            var j = 0
            while j < hs { accumulate64(o + j, s, vf + j, hs, lo, hi, corr); j += 64 }
        } else {
            let vc = _mm256_set1_ps(corr)
            var j = 0
            while j < hs {
                var acc = _mm256_mul_ps(_mm256_loadu_ps(o + j), vc)
                for i in lo..<hi { acc = _mm256_fmadd_ps(_mm256_set1_ps(s[i]), _mm256_loadu_ps(vf + i * hs + j), acc) }
                _mm256_storeu_ps(o + j, acc)
                j += 8
            }
        }
        return (mNew, l * corr + lsum.sum())
    }

    /// Lanes where v is not -inf, as an all-ones mask.
    @inline(__always)
    static func notMinusInfinity(_ v: __m256) -> __m256 {
        _mm256_castsi256_ps(_mm256_xor_si256(_mm256_cmpeq_epi32(_mm256_castps_si256(v), _mm256_castps_si256(_mm256_set1_ps(-.infinity))),
                                             _mm256_set1_epi32(-1)))
    }

    /// o[0..<64] = corr · o + Σ_{i in lo..<hi} e[i] · v_i[0..<64] for rows v + i·stride, in registers.
    @inline(__always)
    static func accumulate64(_ o: UnsafeMutablePointer<Float>, _ e: UnsafePointer<Float>, _ v: UnsafePointer<Float>,
                             _ stride: Int, _ lo: Int, _ hi: Int, _ corr: Float) {
        let c = _mm256_set1_ps(corr)
        var o0 = _mm256_mul_ps(_mm256_loadu_ps(o), c), o1 = _mm256_mul_ps(_mm256_loadu_ps(o + 8), c)
        var o2 = _mm256_mul_ps(_mm256_loadu_ps(o + 16), c), o3 = _mm256_mul_ps(_mm256_loadu_ps(o + 24), c)
        var o4 = _mm256_mul_ps(_mm256_loadu_ps(o + 32), c), o5 = _mm256_mul_ps(_mm256_loadu_ps(o + 40), c)
        var o6 = _mm256_mul_ps(_mm256_loadu_ps(o + 48), c), o7 = _mm256_mul_ps(_mm256_loadu_ps(o + 56), c)
        for i in lo..<hi {
            let w = _mm256_set1_ps(e[i])
            let vi = v + i * stride
            o0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(vi), o0)
            o1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(vi + 8), o1)
            o2 = _mm256_fmadd_ps(w, _mm256_loadu_ps(vi + 16), o2)
            o3 = _mm256_fmadd_ps(w, _mm256_loadu_ps(vi + 24), o3)
            o4 = _mm256_fmadd_ps(w, _mm256_loadu_ps(vi + 32), o4)
            o5 = _mm256_fmadd_ps(w, _mm256_loadu_ps(vi + 40), o5)
            o6 = _mm256_fmadd_ps(w, _mm256_loadu_ps(vi + 48), o6)
            o7 = _mm256_fmadd_ps(w, _mm256_loadu_ps(vi + 56), o7)
        }
        _mm256_storeu_ps(o, o0); _mm256_storeu_ps(o + 8, o1); _mm256_storeu_ps(o + 16, o2); _mm256_storeu_ps(o + 24, o3)
        _mm256_storeu_ps(o + 32, o4); _mm256_storeu_ps(o + 40, o5); _mm256_storeu_ps(o + 48, o6); _mm256_storeu_ps(o + 56, o7)
    }

    /// e^x per lane (Cephes expf, relative error ≈ 2e-7).
    @inline(__always)
    static func exp8(_ v: __m256) -> __m256 {
        let x = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-87.3)), _mm256_set1_ps(88.3))
        let magic = _mm256_set1_ps(12_582_912)
        let t = _mm256_fmadd_ps(x, _mm256_set1_ps(1.442_695_04), magic)
        let n = _mm256_sub_ps(t, magic)
        var r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_359_375), x)
        r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.121_944_4e-4), r)
        var p = _mm256_set1_ps(1.987_569_1e-4)
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.398_199_9e-3))
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.333_451_9e-3))
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.166_579_6e-2))
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.666_666_5e-1))
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.000_000_1e-1))
        let er = _mm256_add_ps(_mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r), _mm256_set1_ps(1))
        let ni = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(0x4B40_0000))
        let pow2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(ni, _mm256_set1_epi32(127)), 23))
        return _mm256_mul_ps(er, pow2)
    }
}
#endif
