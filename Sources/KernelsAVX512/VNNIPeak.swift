#if arch(x86_64)
import _Builtin_intrinsics.intel

/// The arithmetic ceiling of the int8 kernels on AVX-512 VNNI: `vpdpbusd` (64 multiply-adds)
/// into 12 independent accumulators, more than its latency × issue rate, so only the
/// ports limit it. A probe for the benchmarks, never used by the forward pass.
public enum VNNIPeak {
    public static let macsPerIteration = 12 * 64

    /// Runs `iterations` rounds; the result only keeps the work from being dropped.
    public static func run(_ iterations: Int) -> Int32 {
        let x = _mm512_set1_epi8(3), y = _mm512_set1_epi8(5)
        var a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0
        var a6 = a0, a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0
        for _ in 0..<iterations {
            a0 = _mm512_dpbusd_epi32(a0, x, y); a1 = _mm512_dpbusd_epi32(a1, x, y); a2 = _mm512_dpbusd_epi32(a2, x, y)
            a3 = _mm512_dpbusd_epi32(a3, x, y); a4 = _mm512_dpbusd_epi32(a4, x, y); a5 = _mm512_dpbusd_epi32(a5, x, y)
            a6 = _mm512_dpbusd_epi32(a6, x, y); a7 = _mm512_dpbusd_epi32(a7, x, y); a8 = _mm512_dpbusd_epi32(a8, x, y)
            a9 = _mm512_dpbusd_epi32(a9, x, y); a10 = _mm512_dpbusd_epi32(a10, x, y); a11 = _mm512_dpbusd_epi32(a11, x, y)
        }
        let s = _mm512_add_epi32(_mm512_add_epi32(_mm512_add_epi32(a0, a1), _mm512_add_epi32(a2, a3)),
                                 _mm512_add_epi32(_mm512_add_epi32(a4, a5), _mm512_add_epi32(a6, a7)))
        let t = _mm512_add_epi32(_mm512_add_epi32(a8, a9), _mm512_add_epi32(a10, a11))
        return _mm512_reduce_add_epi32(_mm512_add_epi32(s, t))
    }
}
#endif
