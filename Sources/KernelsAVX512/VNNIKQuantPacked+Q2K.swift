#if arch(x86_64)
import _Builtin_intrinsics.intel
import KernelsAVX2

/// Q2_K's tile and kernel: 16 units of 16 elements, each with a 4-bit scale and a 4-bit min,
/// 2-bit weights, f16 d and dmin per row (x = d · scale · q − dmin · min). Per tile and super-block,
/// 1,344 bytes, as in the file:
///
///     [0, 1024)     16 vectors: lane r, byte k of vector 4·(g / 4) + v, bits 2·(g % 4)..: element 4v + k
///                   of unit g, row r (Q3_K's low bits)
///     [1024, 1280)  the file's scale-and-min bytes as pairs (byte 32j + 2r + h: unit 2j + h, row r)
///     [1280, 1344)  dword r = row r's f16 d | f16 dmin << 16, as in the file
///
/// `groupLowK` (`VNNIKQuantPacked+Q3K.swift`) runs it with these weights, unsigned scales and no
/// offset; the mins meet the activations' sums per 16, then the two float steps of `KQuantDot`.
/// `KQuantPacker.q2k` writes the tiles (for both backends).
extension VNNIKQuantPacked {
    static var q2kTileBytes: Int { KQuantTile.q2K }

    enum Q2KTile: LowKTile {
        static var bytes: Int { q2kTileBytes }
        /// Bits 2·(g % 4) of vectors 4·(g / 4)... (16-bit shifts: the mask drops what crosses bytes).
        @inline(__always) static func weights(_ q: UnsafePointer<__m512i>, _ g: Int) -> (__m512i, __m512i, __m512i, __m512i) {
            let two = _mm512_set1_epi8(0x03)
            @inline(__always) func w(_ v: Int) -> __m512i {
                let l = _mm512_loadu_si512(q + 4 * (g / 4) + v)
                return g % 4 == 0 ? _mm512_and_si512(l, two) : _mm512_and_si512(_mm512_srli_epi16(l, UInt32(2 * (g % 4))), two)
            }
            return (w(0), w(1), w(2), w(3))
        }
        @inline(__always) static func pairs(_ base: UnsafeRawPointer, _ j: Int) -> __m512i {
            _mm512_cvtepu8_epi16(_mm256_loadu_si256((base + 1024 + 32 * j).assumingMemoryBound(to: __m256i.self)))
        }
        /// The low nibble of the unit's byte.
        @inline(__always) static func scale(_ pair: __m512i, odd: Bool) -> __m512i {
            _mm512_and_si512(odd ? _mm512_srli_epi32(pair, 16) : pair, _mm512_set1_epi32(0x0F))
        }
        /// The mins: each byte's high nibble.
        @inline(__always) static func sumFactors(_ pair: __m512i) -> __m512i { _mm512_srli_epi16(pair, 4) }
        @inline(__always) static func factors(_ base: UnsafeRawPointer) -> (__m512, __m512) {
            let dm = _mm512_loadu_si512((base + 1280).assumingMemoryBound(to: __m512i.self))
            return (halfsLow(dm), halfsHigh(dm))
        }
        @inline(__always) static func finish(_ c: __m512, isum: __m512i, p: __m512i, da: __m512, _ f: (__m512, __m512)) -> __m512 {
            let c1 = _mm512_fmadd_ps(_mm512_mul_ps(f.0, da), _mm512_cvtepi32_ps(isum), c)
            return _mm512_fnmadd_ps(_mm512_mul_ps(f.1, da), _mm512_cvtepi32_ps(p), c1)
        }
    }
}
#endif
