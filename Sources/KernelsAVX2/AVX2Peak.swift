#if arch(x86_64)
import _Builtin_intrinsics.intel

/// The arithmetic ceiling of the int8 kernels on AVX2: `vpmaddubsw`, the instruction that does
/// their multiplies (32 per instruction; the `vpmaddwd` by the scales and the adds come on
/// top, as the scale steps do on AVX-512), into 10 independent accumulators. Each step
/// multiplies its own accumulator's bytes, so no product is loop-invariant (with constant
/// operands the compiler hoisted the multiplies out of the loop and the probe timed adds).
/// A probe for the benchmarks, never used by the forward pass.
public enum AVX2Peak {
    public static let macsPerIteration = 10 * 32

    /// Runs `iterations` rounds; the result only keeps the work from being dropped.
    public static func run(_ iterations: Int) -> Int32 {
        let y = _mm256_set1_epi8(5)
        var a0 = _mm256_set1_epi32(1), a1 = _mm256_set1_epi32(2), a2 = _mm256_set1_epi32(3), a3 = _mm256_set1_epi32(4)
        var a4 = _mm256_set1_epi32(5), a5 = _mm256_set1_epi32(6), a6 = _mm256_set1_epi32(7), a7 = _mm256_set1_epi32(8)
        var a8 = _mm256_set1_epi32(9), a9 = _mm256_set1_epi32(10)
        @inline(__always) func step(_ a: inout __m256i) {
            a = _mm256_add_epi16(a, _mm256_maddubs_epi16(a, y))
        }
        for _ in 0..<iterations {
            step(&a0); step(&a1); step(&a2); step(&a3); step(&a4); step(&a5); step(&a6); step(&a7); step(&a8); step(&a9)
        }
        let s = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(a0, a1), _mm256_add_epi32(a2, a3)),
                                 _mm256_add_epi32(_mm256_add_epi32(a4, a5), _mm256_add_epi32(a6, a7)))
        let v = unsafeBitCast(_mm256_add_epi32(s, _mm256_add_epi32(a8, a9)), to: SIMD8<Int32>.self)
        return v.wrappedSum()
    }
}
#endif
