#if arch(x86_64)
import _Builtin_intrinsics.intel
import KernelsAVX2

/// IQ4_XS's tile for `groupLowK`: 8 sub-blocks of 32 as 16 units of 16 (units 2j and 2j + 1 are
/// sub-block j's two halves, one scale), each element a nibble indexing 16 non-uniform levels
/// (−127...113, ggml's `kvalues_iq4nl`). Per tile and super-block, 2,208 bytes (2,176 in the file):
///
///     [0, 2048)     8 × 4 vectors: lane r, byte k of vector 4j + v = byte 4v + k of sub-block j's
///                   nibbles, row r (the file's bytes: low nibble unit 2j, high nibble unit 2j + 1)
///     [2048, 2176)  the scales less 32 (−32...31): byte 16j + r, sub-block j, row r
///     [2176, 2208)  f16 d of row r at 2r
///
/// A nibble becomes its level + 128 (1...241, unsigned for `vpdpbusd`) by one byte shuffle; the 128
/// comes out through the activations' sums per 16, as Q6_K's 32 does. `KQuantPacker.iq4xs` writes
/// the tiles (for both backends).
extension VNNIKQuantPacked {
    enum IQ4XSTile: LowKTile {
        static var bytes: Int { KQuantTile.iq4XS }
        /// The 16 levels + 128 as unsigned bytes, in every 128-bit lane.
        @inline(__always) static var levels: __m512i {
            _mm512_broadcast_i32x4(_mm_setr_epi8(1, 24, 45, 63, 79, 93, 106, 118, -127, -115, -103, -90, -75, -59, -39, -15))
        }
        @inline(__always) static func weights(_ q: UnsafePointer<__m512i>, _ g: Int) -> (__m512i, __m512i, __m512i, __m512i) {
            let nibble = _mm512_set1_epi8(0x0F), table = levels
            @inline(__always) func w(_ v: Int) -> __m512i {
                let x = _mm512_loadu_si512(q + 4 * (g / 2) + v)
                // 16-bit shift: the mask drops what crosses bytes.
                return _mm512_shuffle_epi8(table, _mm512_and_si512(g % 2 == 0 ? x : _mm512_srli_epi16(x, 4), nibble))
            }
            return (w(0), w(1), w(2), w(3))
        }
        /// Sub-block j's scale of each row in both int16 halves (both units share it).
        @inline(__always) static func pairs(_ base: UnsafeRawPointer, _ j: Int) -> __m512i {
            let s = _mm512_cvtepi8_epi32(load128(base + 2048 + 16 * j))
            return _mm512_or_si512(_mm512_and_si512(s, _mm512_set1_epi32(0xFFFF)), _mm512_slli_epi32(s, 16))
        }
        @inline(__always) static func scale(_ pair: __m512i, odd: Bool) -> __m512i { _mm512_srai_epi32(pair, 16) }
        @inline(__always) static func sumFactors(_ pair: __m512i) -> __m512i { pair }
        @inline(__always) static func factors(_ base: UnsafeRawPointer) -> (__m512, __m512) {
            let d = _mm512_cvtph_ps(_mm256_loadu_si256((base + 2176).assumingMemoryBound(to: __m256i.self)))
            return (d, d)
        }
        @inline(__always) static func finish(_ c: __m512, isum: __m512i, p: __m512i, da: __m512, _ f: (__m512, __m512)) -> __m512 {
            _mm512_fmadd_ps(_mm512_mul_ps(f.0, da), _mm512_cvtepi32_ps(_mm512_sub_epi32(isum, _mm512_slli_epi32(p, 7))), c)
        }
    }
}
#endif
