#if arch(x86_64)
import _Builtin_intrinsics.intel
import KernelsAVX2

/// `Q8KBuffer.quantize` in AVX-512, the same values bit for bit for finite x (a NaN or infinite
/// element quantizes to -128 here, 0 there): d = max|x| / 127, q = x · (127 / max|x|)
/// rounded to nearest even (one multiply, then the conversion in the default rounding mode, as the
/// portable code's multiply and magic-number add), the sums of each 16 quants, their pairs, and the
/// Q4_K nibble-order copy. The portable code, compiled for any x86-64, ran at about 1.4 cycles an
/// element: 4-5% of a 512-token prompt.
public enum AVX512Q8KQuantize {
    /// Tokens `tokens` of x ([nTokens, superBlocks·256]) into the buffers laid out as `Q8KActivationsView`'s.
    public static func quantize(_ x: UnsafePointer<Float>, superBlocks nsb: Int, tokens: Range<Int>,
                                qs: UnsafeMutablePointer<Int8>, qsK4: UnsafeMutablePointer<Int8>, d: UnsafeMutablePointer<Float>,
                                bsums: UnsafeMutablePointer<Int16>, pairSums: UnsafeMutablePointer<Int32>) {
        let absMask = _mm512_set1_epi32(0x7FFF_FFFF)
        let flip = _mm512_set1_epi8(-128)
        // After two in-lane packs, dword 4l + j holds elements 4l..<4l+4 of vector j: back to order.
        let order = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0)
        // Of two vectors of eight 8-byte sums: the even sums' low dwords, and the odd ones'.
        let evens = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 28, 24, 20, 16, 12, 8, 4, 0)
        let odds = _mm512_set_epi32(0, 0, 0, 0, 0, 0, 0, 0, 30, 26, 22, 18, 14, 10, 6, 2)
        let halves = _mm512_set_epi32(23, 22, 21, 20, 19, 18, 17, 16, 7, 6, 5, 4, 3, 2, 1, 0)
        // Qwords of the Q4_K nibble order: the low 256 bits of two vectors, the high ones.
        let lows = _mm512_set_epi64(11, 10, 9, 8, 3, 2, 1, 0), highs = _mm512_set_epi64(15, 14, 13, 12, 7, 6, 5, 4)
        let cols = nsb * 256
        for t in tokens {
            for s in 0..<nsb {
                let xp = UnsafeRawPointer(x + t * cols + 256 * s)
                @inline(__always) func load(_ g: Int) -> __m512 { _mm512_loadu_ps(xp.assumingMemoryBound(to: Float.self) + 16 * g) }
                var m = _mm512_setzero_ps()
                // |x| first: maxps returns its second operand when either is NaN, so a NaN element leaves the
                // lane's max as it was (the portable loop's select).
                for g in 0..<16 { m = _mm512_max_ps(_mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(load(g)), absMask)), m) }
                let amax = _mm512_reduce_max_ps(m)
                let i = t * nsb + s
                d[i] = amax / 127
                let inv = _mm512_set1_ps(Q8KScale.inverse(amax))
                let out = UnsafeMutableRawPointer(qs + t * cols + 256 * s)
                var bytes: (__m512i, __m512i, __m512i, __m512i) = (_mm512_setzero_si512(), _mm512_setzero_si512(),
                                                                   _mm512_setzero_si512(), _mm512_setzero_si512())
                var sums = bytes
                for k in 0..<4 {
                    @inline(__always) func q(_ j: Int) -> __m512i { _mm512_cvtps_epi32(_mm512_mul_ps(load(4 * k + j), inv)) }
                    // |q| ≤ 127: the saturating packs keep every value.
                    let b = _mm512_permutexvar_epi32(order, _mm512_packs_epi16(_mm512_packs_epi32(q(0), q(1)),
                                                                              _mm512_packs_epi32(q(2), q(3))))
                    _mm512_storeu_si512((out + 64 * k).assumingMemoryBound(to: __m512i.self), b)
                    // Sums of 8 bytes as unsigned (q + 128): 1024 over each.
                    let s16 = _mm512_sad_epu8(_mm512_xor_si512(b, flip), _mm512_setzero_si512())
                    switch k {
                    case 0: bytes.0 = b; sums.0 = s16
                    case 1: bytes.1 = b; sums.1 = s16
                    case 2: bytes.2 = b; sums.2 = s16
                    default: bytes.3 = b; sums.3 = s16
                    }
                }
                // Each 16's sum: its two 8-byte sums, less 2 · 1024.
                let low = _mm512_add_epi32(_mm512_permutex2var_epi32(sums.0, evens, sums.1), _mm512_permutex2var_epi32(sums.0, odds, sums.1))
                let high = _mm512_add_epi32(_mm512_permutex2var_epi32(sums.2, evens, sums.3), _mm512_permutex2var_epi32(sums.2, odds, sums.3))
                let all = _mm512_sub_epi32(_mm512_permutex2var_epi32(low, halves, high), _mm512_set1_epi32(2048))
                _mm256_storeu_si256(UnsafeMutableRawPointer(bsums + 16 * i).assumingMemoryBound(to: __m256i.self), _mm512_cvtepi32_epi16(all))
                // Dword k of the pair sums: Σ of groups 4k, 4k+1 (low int16) | of 4k+2, 4k+3 (high).
                let pairs = _mm512_add_epi32(all, _mm512_srli_epi64(all, 32))
                _mm_storeu_si128(UnsafeMutableRawPointer(pairSums + 4 * i).assumingMemoryBound(to: __m128i.self), _mm512_cvtepi64_epi16(pairs))
                // Q4_K nibble order per 128: [0, 32) [64, 96) [32, 64) [96, 128).
                let k4 = (UnsafeMutableRawPointer(qsK4 + t * cols + 256 * s)).assumingMemoryBound(to: __m512i.self)
                _mm512_storeu_si512(k4, _mm512_permutex2var_epi64(bytes.0, lows, bytes.1))
                _mm512_storeu_si512(k4 + 1, _mm512_permutex2var_epi64(bytes.0, highs, bytes.1))
                _mm512_storeu_si512(k4 + 2, _mm512_permutex2var_epi64(bytes.2, lows, bytes.3))
                _mm512_storeu_si512(k4 + 3, _mm512_permutex2var_epi64(bytes.2, highs, bytes.3))
            }
        }
    }
}
#endif
