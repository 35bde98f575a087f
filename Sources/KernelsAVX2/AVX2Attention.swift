#if arch(x86_64)
import _Builtin_intrinsics.intel

/// Attention of one token over a paged KV cache on AVX2, online softmax one cache
/// block at a time (see Kernels/Attention.swift for the portable twin).
public enum AVX2Attention {
    public static let maxHeadSize = 256

    /// q, out: [nHead, headSize]; keys/values: one layer's [blocks, blockSize, kvDim];
    /// positions first...last through blockTable. headSize is a multiple of 8, ≤ maxHeadSize.
    public static func attend(q: UnsafePointer<Float>, first: Int, last: Int, blockTable: UnsafePointer<Int32>,
                              keys: UnsafePointer<Float>, values: UnsafePointer<Float>, blockSize bs: Int, kvDim: Int,
                              nHead: Int, nKVHead: Int, headSize hs: Int, scale: Float, out: UnsafeMutablePointer<Float>) {
        let group = nHead / nKVHead
        let lanes = hs / 8
        let scCap = (bs + 7) / 8 * 8 + 8
        // Blocks outer, the group's query heads inner: each block of keys and values is
        // brought into L1 once for all heads that share it (GQA).
        withUnsafeTemporaryAllocation(of: Float.self, capacity: scCap + 2 * group) { buf in
            guard let sc = buf.baseAddress else { return }  // [blockSize] scores of one block for one head
            let ms = sc + scCap, ls = ms + group  // [group] running max and denominator per head
            for kvh in 0..<nKVHead {
                for g in 0..<group {
                    let oh = out + (kvh * group + g) * hs
                    for j in 0..<lanes { _mm256_storeu_ps(oh + 8 * j, _mm256_setzero_ps()) }
                    ms[g] = -Float.infinity
                    ls[g] = 0
                }
                var p = first
                while p <= last {
                    let s0 = p % bs, cnt = min(bs - s0, last - p + 1)
                    let off = (Int(blockTable[p / bs]) * bs + s0) * kvDim + kvh * hs
                    for g in 0..<group {
                        let h = kvh * group + g
                        let (m, l) = block(q + h * hs, out + h * hs, sc, keys + off, values + off, kvDim, cnt, hs, lanes,
                                           scale, ms[g], ls[g])
                        ms[g] = m
                        ls[g] = l
                    }
                    p += cnt
                }
                for g in 0..<group {
                    let oh = out + (kvh * group + g) * hs
                    let inv = _mm256_set1_ps(1 / ls[g])
                    for j in 0..<lanes { _mm256_storeu_ps(oh + 8 * j, _mm256_mul_ps(_mm256_loadu_ps(oh + 8 * j), inv)) }
                }
            }
        }
    }

    /// One head against `cnt` consecutive cache slots k/v + i·kvDim: updates the running
    /// output oh and returns the new running max and denominator.
    @inline(__always)
    static func block(_ qh: UnsafePointer<Float>, _ oh: UnsafeMutablePointer<Float>, _ sc: UnsafeMutablePointer<Float>,
                      _ keys: UnsafePointer<Float>, _ values: UnsafePointer<Float>, _ kvDim: Int, _ cnt: Int, _ hs: Int,
                      _ lanes: Int, _ scale: Float, _ m: Float, _ l: Float) -> (Float, Float) {
        var mx = -Float.infinity
        if hs % 64 == 0 {
            var g = 0
            while g < cnt {
                let k8 = min(8, cnt - g)
                let sv = _mm256_mul_ps(scores8(qh, keys + g * kvDim, kvDim, k8, hs), _mm256_set1_ps(scale))
                _mm256_storeu_ps(sc + g, sv)
                for i in 0..<k8 { mx = max(mx, sc[g + i]) }
                g += 8
            }
        } else {
            for i in 0..<cnt {
                let k = keys + i * kvDim
                var a0 = _mm256_setzero_ps()
                for j in 0..<lanes { a0 = _mm256_fmadd_ps(_mm256_loadu_ps(qh + 8 * j), _mm256_loadu_ps(k + 8 * j), a0) }
                sc[i] = a0.sum() * scale
                mx = max(mx, sc[i])
            }
        }
        let mNew = max(m, mx)
        var lsum = _mm256_setzero_ps()
        let iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)
        var i8 = 0
        while i8 < cnt {  // exps of the block, 8 at a time (lanes past cnt are not used)
            let e = exp8(_mm256_sub_ps(_mm256_loadu_ps(sc + i8), _mm256_set1_ps(mNew)))
            _mm256_storeu_ps(sc + i8, e)
            let valid = _mm256_cmpgt_epi32(_mm256_set1_epi32(Int32(cnt - i8)), iota)
            lsum = _mm256_add_ps(lsum, _mm256_and_ps(e, _mm256_castsi256_ps(valid)))
            i8 += 8
        }
        let corr = m == -.infinity ? 0 : exp8(_mm256_set1_ps(m - mNew))[0]
        if corr != 1 {
            let c = _mm256_set1_ps(corr)
            for j in 0..<lanes { _mm256_storeu_ps(oh + 8 * j, _mm256_mul_ps(_mm256_loadu_ps(oh + 8 * j), c)) }
        }
        if hs % 64 == 0 {
            for c in stride(from: 0, to: hs, by: 64) { accumulate64(oh + c, sc, values + c, kvDim, cnt) }
        } else {
            for i in 0..<cnt {
                let e = _mm256_set1_ps(sc[i])
                let v = values + i * kvDim
                for j in 0..<lanes {
                    _mm256_storeu_ps(oh + 8 * j, _mm256_fmadd_ps(e, _mm256_loadu_ps(v + 8 * j), _mm256_loadu_ps(oh + 8 * j)))
                }
            }
        }
        return (mNew, l * corr + lsum.sum())
    }

    /// Scores of q against `count` (1...8) keys k + i·stride, reduced with an hadd tree
    /// into one vector (lane i for key i; lanes past count are garbage). hs % 64 == 0.
    @inline(__always)
    static func scores8(_ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, _ stride: Int, _ count: Int, _ hs: Int) -> __m256 {
        @inline(__always) func key(_ i: Int) -> UnsafePointer<Float> { k + min(i, count - 1) * stride }
        let k0 = key(0), k1 = key(1), k2 = key(2), k3 = key(3), k4 = key(4), k5 = key(5), k6 = key(6), k7 = key(7)
        var d0 = _mm256_setzero_ps(), d1 = _mm256_setzero_ps(), d2 = _mm256_setzero_ps(), d3 = _mm256_setzero_ps()
        var d4 = _mm256_setzero_ps(), d5 = _mm256_setzero_ps(), d6 = _mm256_setzero_ps(), d7 = _mm256_setzero_ps()
        var j = 0
        while j < hs {
            let qv = _mm256_loadu_ps(q + j)
            d0 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k0 + j), d0)
            d1 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k1 + j), d1)
            d2 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k2 + j), d2)
            d3 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k3 + j), d3)
            d4 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k4 + j), d4)
            d5 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k5 + j), d5)
            d6 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k6 + j), d6)
            d7 = _mm256_fmadd_ps(qv, _mm256_loadu_ps(k7 + j), d7)
            j += 8
        }
        return hsum8(d0, d1, d2, d3, d4, d5, d6, d7)
    }

    /// Lane i of the result = sum of the lanes of d_i.
    @inline(__always)
    static func hsum8(_ d0: __m256, _ d1: __m256, _ d2: __m256, _ d3: __m256,
                      _ d4: __m256, _ d5: __m256, _ d6: __m256, _ d7: __m256) -> __m256 {
        let u0 = _mm256_hadd_ps(_mm256_hadd_ps(d0, d1), _mm256_hadd_ps(d2, d3))  // [0 1 2 3 | 0 1 2 3] halves
        let u1 = _mm256_hadd_ps(_mm256_hadd_ps(d4, d5), _mm256_hadd_ps(d6, d7))
        let swap = _mm256_setr_epi32(4, 5, 6, 7, 0, 1, 2, 3)
        let w0 = _mm256_add_ps(u0, _mm256_permutevar8x32_ps(u0, swap))
        let w1 = _mm256_add_ps(u1, _mm256_permutevar8x32_ps(u1, swap))
        return _mm256_set_m128(_mm256_castps256_ps128(w1), _mm256_castps256_ps128(w0))
    }

    /// o[0..<64] += Σ_i e[i] · v_i[0..<64] for count values v + i·stride, in registers.
    @inline(__always)
    static func accumulate64(_ o: UnsafeMutablePointer<Float>, _ e: UnsafePointer<Float>, _ v: UnsafePointer<Float>,
                             _ stride: Int, _ count: Int) {
        var o0 = _mm256_loadu_ps(o), o1 = _mm256_loadu_ps(o + 8), o2 = _mm256_loadu_ps(o + 16), o3 = _mm256_loadu_ps(o + 24)
        var o4 = _mm256_loadu_ps(o + 32), o5 = _mm256_loadu_ps(o + 40), o6 = _mm256_loadu_ps(o + 48), o7 = _mm256_loadu_ps(o + 56)
        for i in 0..<count {
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
