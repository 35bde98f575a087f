#if arch(x86_64)
import _Builtin_intrinsics.intel
import CPrefetch

/// 32-byte loads for the read-bandwidth probe (Kernels/ReadBandwidth): plain, or with each
/// line asked for `ahead` bytes ahead as the generation kernels stream weights (`jeton_prefetch_stream`).
public enum AVX2Read {
    // Its own load, inlined in debug builds too (a function of another file is a call there).
    @inline(__always) private static func load256(_ p: UnsafeRawPointer) -> __m256i { _mm256_loadu_si256(p.assumingMemoryBound(to: __m256i.self)) }

    public static func xorLines(_ p: UnsafeRawPointer, _ n: Int, ahead: Int = 0) -> SIMD16<UInt32> {
        let aheadLines = ahead / 64
        var a = _mm256_setzero_si256(), b = a, c = a, d = a
        var i = 0
        while i + 2 <= n {
            let q = p + 64 * i
            if aheadLines > 0 && i + aheadLines + 2 <= n { jeton_prefetch_stream(q + 64 * aheadLines, 128) }
            a = _mm256_xor_si256(a, load256(q))
            b = _mm256_xor_si256(b, load256(q + 32))
            c = _mm256_xor_si256(c, load256(q + 64))
            d = _mm256_xor_si256(d, load256(q + 96))
            i += 2
        }
        let lo = unsafeBitCast(_mm256_xor_si256(a, c), to: SIMD8<UInt32>.self)
        let hi = unsafeBitCast(_mm256_xor_si256(b, d), to: SIMD8<UInt32>.self)
        return SIMD16(lowHalf: lo, highHalf: hi)
    }
}
#endif
