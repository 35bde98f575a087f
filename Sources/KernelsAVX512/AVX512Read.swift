#if arch(x86_64)
import _Builtin_intrinsics.intel
import CPrefetch

/// 64-byte loads for the read-bandwidth probe (Kernels/ReadBandwidth): plain, or with each
/// line asked for `ahead` bytes ahead the way the generation kernels stream weights
/// (`jeton_prefetch_stream`: non-temporally, or into L2 on Intel).
public enum AVX512Read {
    public static func xorLines(_ p: UnsafeRawPointer, _ n: Int, ahead: Int = 0) -> SIMD16<UInt32> {
        let aheadLines = ahead / 64
        var a = _mm512_setzero_si512(), b = a, c = a, d = a
        var i = 0
        while i + 4 <= n {
            let q = p + 64 * i
            if aheadLines > 0 && i + aheadLines + 4 <= n { jeton_prefetch_stream(q + 64 * aheadLines, 256) }
            a = _mm512_xor_si512(a, _mm512_loadu_si512(q))
            b = _mm512_xor_si512(b, _mm512_loadu_si512(q + 64))
            c = _mm512_xor_si512(c, _mm512_loadu_si512(q + 128))
            d = _mm512_xor_si512(d, _mm512_loadu_si512(q + 192))
            i += 4
        }
        return unsafeBitCast(_mm512_xor_si512(_mm512_xor_si512(a, b), _mm512_xor_si512(c, d)), to: SIMD16<UInt32>.self)
    }
}
#endif
