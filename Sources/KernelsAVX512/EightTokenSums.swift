#if arch(x86_64)
import _Builtin_intrinsics.intel

/// Eight tokens' exact sums Σ_j w_j · a_k[j0 + j] over four weight vectors (16 rows × 4 bytes each),
/// token k's activation dwords at `a + k · stride`: a full group of the packed Q4_K (two-product),
/// Q5_K and Q6_K kernels and of `VNNIKQuantBatch` (Q5_K prompts decoded once, unpacked matrices).
///
/// Written step by step across the tokens (every token's first product, then every token's
/// second, ...) rather than token by token: the chains were always independent, but in token
/// order each token's four dependent products came one after another in the program, and the
/// scheduler filled with products waiting on their chain before the next unit's were seen; here
/// eight products at each step are ready together. The sums are integers, so no order changes them.
/// Emerald Rapids, Qwen2.5-Coder-1.5B pp512, perf samples alternated with the token-order build:
/// the Q4_K group kernel 4-10% fewer, Q6_K's ~5-10%, a Q5_K_M copy's decoded groups 8-10% (not the
/// 8-token specialization tried and dropped in the fiftieth session, which compiled the token-order
/// loop for exactly 8 tokens). AMD not measured.
@inline(__always)
func eightTokenSums(_ w: (__m512i, __m512i, __m512i, __m512i), _ a: UnsafeRawPointer, stride: Int, from j0: Int) -> EightSums {
    let z = _mm512_setzero_si512()
    return eightTokenSums(w, a, stride: stride, from: j0, onto: (z, z, z, z, z, z, z, z))
}

/// The same sums added onto `start` (token k's onto start.k): a 32-element unit's two halves in one
/// chain each where their total is what is scaled.
@inline(__always)
func eightTokenSums(_ w: (__m512i, __m512i, __m512i, __m512i), _ a: UnsafeRawPointer, stride: Int, from j0: Int,
                    onto start: EightSums) -> EightSums {
    @inline(__always) func bc(_ k: Int, _ j: Int) -> __m512i {
        _mm512_set1_epi32(a.loadUnaligned(fromByteOffset: k * stride + 4 * (j0 + j), as: Int32.self))
    }
    var s0 = _mm512_dpbusd_epi32(start.0, w.0, bc(0, 0)), s1 = _mm512_dpbusd_epi32(start.1, w.0, bc(1, 0))
    var s2 = _mm512_dpbusd_epi32(start.2, w.0, bc(2, 0)), s3 = _mm512_dpbusd_epi32(start.3, w.0, bc(3, 0))
    var s4 = _mm512_dpbusd_epi32(start.4, w.0, bc(4, 0)), s5 = _mm512_dpbusd_epi32(start.5, w.0, bc(5, 0))
    var s6 = _mm512_dpbusd_epi32(start.6, w.0, bc(6, 0)), s7 = _mm512_dpbusd_epi32(start.7, w.0, bc(7, 0))
    @inline(__always) func step(_ v: __m512i, _ j: Int) {
        s0 = _mm512_dpbusd_epi32(s0, v, bc(0, j)); s1 = _mm512_dpbusd_epi32(s1, v, bc(1, j))
        s2 = _mm512_dpbusd_epi32(s2, v, bc(2, j)); s3 = _mm512_dpbusd_epi32(s3, v, bc(3, j))
        s4 = _mm512_dpbusd_epi32(s4, v, bc(4, j)); s5 = _mm512_dpbusd_epi32(s5, v, bc(5, j))
        s6 = _mm512_dpbusd_epi32(s6, v, bc(6, j)); s7 = _mm512_dpbusd_epi32(s7, v, bc(7, j))
    }
    step(w.1, 1)
    step(w.2, 2)
    step(w.3, 3)
    return (s0, s1, s2, s3, s4, s5, s6, s7)
}

typealias EightSums = (__m512i, __m512i, __m512i, __m512i, __m512i, __m512i, __m512i, __m512i)

/// acc.k += sums.k · the scale in each lane's low int16 (one `vpdpwssd` against a scale whose high
/// half is 0): Q4_K's 16-element halves, whose sums fit int16.
@inline(__always)
func addLowWordProducts(_ acc: inout EightSums, _ s: EightSums, _ sc: __m512i) {
    acc.0 = _mm512_dpwssd_epi32(acc.0, s.0, sc); acc.1 = _mm512_dpwssd_epi32(acc.1, s.1, sc)
    acc.2 = _mm512_dpwssd_epi32(acc.2, s.2, sc); acc.3 = _mm512_dpwssd_epi32(acc.3, s.3, sc)
    acc.4 = _mm512_dpwssd_epi32(acc.4, s.4, sc); acc.5 = _mm512_dpwssd_epi32(acc.5, s.5, sc)
    acc.6 = _mm512_dpwssd_epi32(acc.6, s.6, sc); acc.7 = _mm512_dpwssd_epi32(acc.7, s.7, sc)
}

/// acc.k += sums.k · the scale, as int32 (`vpmulld`): Q5_K's and Q6_K's units.
@inline(__always)
func addProducts(_ acc: inout EightSums, _ s: EightSums, _ sc: __m512i) {
    acc.0 = _mm512_add_epi32(acc.0, _mm512_mullo_epi32(s.0, sc)); acc.1 = _mm512_add_epi32(acc.1, _mm512_mullo_epi32(s.1, sc))
    acc.2 = _mm512_add_epi32(acc.2, _mm512_mullo_epi32(s.2, sc)); acc.3 = _mm512_add_epi32(acc.3, _mm512_mullo_epi32(s.3, sc))
    acc.4 = _mm512_add_epi32(acc.4, _mm512_mullo_epi32(s.4, sc)); acc.5 = _mm512_add_epi32(acc.5, _mm512_mullo_epi32(s.5, sc))
    acc.6 = _mm512_add_epi32(acc.6, _mm512_mullo_epi32(s.6, sc)); acc.7 = _mm512_add_epi32(acc.7, _mm512_mullo_epi32(s.7, sc))
}
#endif
