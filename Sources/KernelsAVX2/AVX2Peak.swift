#if arch(x86_64)
import _Builtin_intrinsics.intel

/// The arithmetic ceiling of the int8 kernels on AVX2: the `vpmaddubsw` + `vpmaddwd` +
/// `vpaddd` step they use (32 multiply-adds) into 8 independent accumulators. A probe for
/// the benchmarks, never used by the forward pass.
public enum AVX2Peak {
    public static let macsPerIteration = 8 * 32

    /// Runs `iterations` rounds; the result only keeps the work from being dropped.
    public static func run(_ iterations: Int) -> Int32 {
        let x = _mm256_set1_epi8(3), y = _mm256_set1_epi8(5), one = _mm256_set1_epi16(1)
        var a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0
        @inline(__always) func step(_ a: inout __m256i) {
            a = _mm256_add_epi32(a, _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), one))
        }
        for _ in 0..<iterations {
            step(&a0); step(&a1); step(&a2); step(&a3); step(&a4); step(&a5); step(&a6); step(&a7)
        }
        let s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3)),
                                 _mm256_add_epi32(_mm256_add_epi32(a4, a5), _mm256_add_epi32(a6, a7)))
        let v = unsafeBitCast(s, to: SIMD8<Int32>.self)
        return v.wrappedSum()
    }
}
#endif
