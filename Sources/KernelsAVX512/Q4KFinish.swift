#if arch(x86_64)
import _Builtin_intrinsics.intel
import KernelsAVX2

/// The float step of a Q4_K (or Q5_K) super-block for one token, shared by every VNNI and AMX
/// kernel so that all of them give `KQuantDot`'s bits: the mins meet the token's sums per 32
/// (`Q8KActivationsView.pairSums`, two per dword) four vpdpwssd at a time, then
/// c + (d·da)·isum − (dmin·da)·mins, in that order.
enum Q4KFinish {
    @inline(__always)
    static func step(_ c: __m512, isum: __m512i, pairs: (__m512i, __m512i, __m512i, __m512i),
                     pairSums ps: UnsafePointer<Int32>, d: __m512, dmin: __m512, da: Float) -> __m512 {
        var p = _mm512_dpwssd_epi32(_mm512_setzero_si512(), pairs.0, _mm512_set1_epi32(ps[0]))
        p = _mm512_dpwssd_epi32(p, pairs.1, _mm512_set1_epi32(ps[1]))
        p = _mm512_dpwssd_epi32(p, pairs.2, _mm512_set1_epi32(ps[2]))
        p = _mm512_dpwssd_epi32(p, pairs.3, _mm512_set1_epi32(ps[3]))
        let a = _mm512_set1_ps(da)
        let c1 = _mm512_fmadd_ps(_mm512_mul_ps(d, a), _mm512_cvtepi32_ps(isum), c)
        return _mm512_fnmadd_ps(_mm512_mul_ps(dmin, a), _mm512_cvtepi32_ps(p), c1)
    }
}
#endif
