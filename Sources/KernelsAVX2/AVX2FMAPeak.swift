#if arch(x86_64)
import _Builtin_intrinsics.intel

/// The float multiply-add ceiling on AVX2 (F16 weights' kernels use `vfmadd`; F32 and BF16 ones
/// run the portable float path, well under it): `vfmadd` on 8
/// floats into 12 independent accumulators, each step multiplying its own accumulator (so no
/// product is loop-invariant; a·0.5 + 1 stays finite). A probe for the benchmarks, never used
/// by the forward pass.
public enum AVX2FMAPeak {
    public static let macsPerIteration = 12 * 8

    /// Runs `iterations` rounds; the result only keeps the work from being dropped.
    public static func run(_ iterations: Int) -> Int32 {
        let y = _mm256_set1_ps(0.5), z = _mm256_set1_ps(1)
        var a0 = _mm256_set1_ps(1), a1 = _mm256_set1_ps(2), a2 = _mm256_set1_ps(3), a3 = _mm256_set1_ps(4)
        var a4 = _mm256_set1_ps(5), a5 = _mm256_set1_ps(6), a6 = _mm256_set1_ps(7), a7 = _mm256_set1_ps(8)
        var a8 = _mm256_set1_ps(9), a9 = _mm256_set1_ps(10), a10 = _mm256_set1_ps(11), a11 = _mm256_set1_ps(12)
        for _ in 0..<iterations {
            a0 = _mm256_fmadd_ps(a0, y, z); a1 = _mm256_fmadd_ps(a1, y, z); a2 = _mm256_fmadd_ps(a2, y, z)
            a3 = _mm256_fmadd_ps(a3, y, z); a4 = _mm256_fmadd_ps(a4, y, z); a5 = _mm256_fmadd_ps(a5, y, z)
            a6 = _mm256_fmadd_ps(a6, y, z); a7 = _mm256_fmadd_ps(a7, y, z); a8 = _mm256_fmadd_ps(a8, y, z)
            a9 = _mm256_fmadd_ps(a9, y, z); a10 = _mm256_fmadd_ps(a10, y, z); a11 = _mm256_fmadd_ps(a11, y, z)
        }
        let s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                              _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)))
        return Int32(_mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11))).sum())
    }
}
#endif
