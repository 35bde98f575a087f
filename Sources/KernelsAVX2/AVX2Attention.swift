#if arch(x86_64)
import _Builtin_intrinsics.intel
import CPrefetch

/// 8 halves of the cache at element i of p as 8 floats.
@inline(__always) func loadHalfs8(_ p: UnsafeRawPointer, _ i: Int) -> __m256 {
    _mm256_cvtph_ps(_mm_loadu_si128((p + 2 * i).assumingMemoryBound(to: __m128i.self)))
}

/// Attention on AVX2 (the tiled kernel is in AVX2Attention+Tile.swift) and the f16
/// conversions of the KV cache.
///
/// Keys are stored transposed within a block ([kvDim][blockSize], see KVCacheStorage),
/// so the scores of 8 slots are one vector: Σ_d q[d] · Kᵀ[d][slots] is a chain of FMAs
/// with a broadcast query element, with no horizontal sum per key.
public enum AVX2Attention {
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
