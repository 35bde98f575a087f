#if arch(x86_64)
import _Builtin_intrinsics.intel

/// Q2_K's tile for the packed AVX2 kernel (`VNNIKQuantPacked+Q2K.swift` has the layout): 2-bit
/// weights, 4-bit scales and mins, run by `lowKBlock` (`AVX2KQuantPacked+Q3K.swift`).
extension AVX2KQuantPacked {
    enum Q2K: LowKUnits {
        static var bytes: Int { q2kTileBytes }
        static var pairsOffset: Int { 1024 }
        /// Bits 2·(g % 4) of vector 4·(g / 4) + v (the mask drops what crosses bytes).
        @inline(__always) static func weights(_ base: UnsafeRawPointer, _ g: Int, _ v: Int, _ h32: Int) -> __m256i {
            let l = load(base + (4 * (g / 4) + v) * 64 + h32)
            return _mm256_and_si256(g % 4 == 0 ? l : _mm256_srli_epi16(l, Int32(2 * (g % 4))), _mm256_set1_epi8(0x03))
        }
        /// The scales: each byte's low nibble.
        @inline(__always) static func scalePairs(_ p: UnsafeRawPointer) -> __m256i {
            _mm256_and_si256(_mm256_cvtepu8_epi16(load128(p)), _mm256_set1_epi16(0x0F))
        }
        /// The mins: each byte's high nibble.
        @inline(__always) static func sumPairs(_ p: UnsafeRawPointer) -> __m256i { _mm256_srli_epi16(_mm256_cvtepu8_epi16(load128(p)), 4) }
        @inline(__always) static func factors(_ base: UnsafeRawPointer, _ half: Int) -> (__m256, __m256) {
            (halfs(base + 1280 + 32 * half, high: false), halfs(base + 1280 + 32 * half, high: true))
        }
        @inline(__always) static func finish(_ c: __m256, isum: __m256i, p: __m256i, da: __m256, _ f: (__m256, __m256)) -> __m256 {
            let c1 = _mm256_fmadd_ps(_mm256_mul_ps(f.0, da), _mm256_cvtepi32_ps(isum), c)
            return _mm256_fnmadd_ps(_mm256_mul_ps(f.1, da), _mm256_cvtepi32_ps(p), c1)
        }
    }
}
#endif
