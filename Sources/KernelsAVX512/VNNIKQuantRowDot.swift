#if arch(x86_64)
import _Builtin_intrinsics.intel
import KernelsAVX2

/// The K-quant super-block of one weight row against one token's Q8_K super-block,
/// as 16 int32 lanes whose sum is the exact integer dot with the sub-block scales
/// applied (`isum` of `KQuantDot`), plus the exact mins term where the format has one.
/// A row is read in 64-byte vectors: `vpmaddubsw` (u8 × s8 → i16 pairs) then
/// `vpdpwssd` with the sub-block scales as int16, so no product leaves the integers.
protocol VNNIKRow {
    static var blockBytes: Int { get }
    static var hasMin: Bool { get }
    /// Byte offset of the f16 d (and of dmin 2 bytes after it, where the format has one).
    static var scaleOffset: Int { get }
    /// (16 lanes summing to isum, 4 lanes summing to imin) of super-block `x` against one
    /// token's super-block: `a` natural order, `a4` Q4_K nibble order (Q8KActivationsView),
    /// `bsums` [16] per 16 elements, `bs32` the 8 sums per 32 as int16.
    static func dot(_ x: UnsafeRawPointer, _ a: UnsafeRawPointer, _ a4: UnsafeRawPointer, _ bsums: UnsafePointer<Int16>,
                    _ bs32: __m128i, _ k: VNNIKConstants) -> (__m512i, __m128i)
}

/// Shuffle and permute controls, made once per call and kept in registers.
struct VNNIKConstants {
    let nib = _mm512_set1_epi8(0x0F)
    let top2 = _mm512_set1_epi8(0x30)
    // Q4_K/Q5_K: byte shuffles that widen scale bytes (i, j) of a broadcast u64 to the
    // int16 words of 32 + 32 elements: [i × 16 words, j × 16 words].
    let sc02: __m512i, sc13: __m512i, sc46: __m512i, sc57: __m512i
    // Q6_K: word permutes of the 16 int16 scales: 8 words each of scales 4k..<4k+4.
    let p0: __m512i, p1: __m512i, p2: __m512i, p3: __m512i
    // Q4_K/Q5_K scale bytes 4..<16 (see kScalesMins): gathers, masks, and the mins widened to words.
    let gA = _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11)
    let gB = _mm_setr_epi8(-128, -128, -128, -128, 0, 1, 2, 3, -128, -128, -128, -128, 4, 5, 6, 7)
    let mLo = _mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 15, 15, 15, 15)
    let m30 = _mm_set1_epi8(0x30)
    let gM = _mm_setr_epi8(8, -128, 9, -128, 10, -128, 11, -128, 12, -128, 13, -128, 14, -128, 15, -128)

    init() {
        @inline(__always) func pair(_ i: Int16, _ j: Int16) -> __m512i {
            // 0x80 in a shuffle control byte writes a zero: the high byte of each word.
            _mm512_mask_broadcast_i64x4(_mm512_set1_epi16(i | -0x8000), 0xF0, _mm256_set1_epi16(j | -0x8000))
        }
        sc02 = pair(0, 2); sc13 = pair(1, 3); sc46 = pair(4, 6); sc57 = pair(5, 7)
        @inline(__always) func perm(_ k: Int16) -> __m512i {
            let lo = _mm256_set_epi16(4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1, 4 * k + 1,
                                      4 * k, 4 * k, 4 * k, 4 * k, 4 * k, 4 * k, 4 * k, 4 * k)
            let hi = _mm256_set_epi16(4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3, 4 * k + 3,
                                      4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2, 4 * k + 2)
            return _mm512_mask_broadcast_i64x4(_mm512_castsi256_si512(lo), 0xF0, hi)
        }
        p0 = perm(0); p1 = perm(1); p2 = perm(2); p3 = perm(3)
    }
}

@inline(__always) func load512(_ p: UnsafeRawPointer) -> __m512i { _mm512_loadu_si512(p) }

/// The 12 scale bytes of Q4_K/Q5_K as [8 scales | 8 mins] (byte j = sub-block j), decoded
/// with 128-bit vector ops: sub-blocks 0..<4 keep the low 6 bits of bytes j and j + 4;
/// 4..<8 take a nibble of byte j + 4 and the top 2 bits of byte j - 4 (scale) or j (min).
@inline(__always) func kScalesMins(_ x: UnsafeRawPointer, _ k: VNNIKConstants) -> __m128i {
    let raw = _mm_loadu_si128((x + 4).assumingMemoryBound(to: __m128i.self))  // 12 scale bytes, 4 quant bytes
    let a = _mm_shuffle_epi8(raw, k.gA), b = _mm_shuffle_epi8(raw, k.gB)
    let low = _mm_and_si128(_mm_mask_blend_epi8(0xF000, a, _mm_srli_epi16(a, 4)), k.mLo)
    return _mm_or_si128(low, _mm_and_si128(_mm_srli_epi16(b, 2), k.m30))
}

/// The 4 int32 lanes of Σ_j m_j · (Σq of sub-block j), the mins' integer term.
@inline(__always) func kMinTerm(_ scm: __m128i, _ bs32: __m128i, _ k: VNNIKConstants) -> __m128i {
    _mm_madd_epi16(_mm_shuffle_epi8(scm, k.gM), bs32)
}

/// The Q4_K/Q5_K super-block dot from its 8 sub-blocks' quants as unsigned bytes, in the
/// nibble order of Q8KActivationsView.qsK4: u0 = sub-blocks [0 | 2], u1 = [1 | 3],
/// u2 = [4 | 6], u3 = [5 | 7]; the scale bytes broadcast in `sv`.
@inline(__always) func k4Dot(_ u0: __m512i, _ u1: __m512i, _ u2: __m512i, _ u3: __m512i, _ sv: __m512i,
                            _ a4: UnsafeRawPointer, _ k: VNNIKConstants) -> __m512i {
    var acc = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_maddubs_epi16(u0, load512(a4)), _mm512_shuffle_epi8(sv, k.sc02))
    acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(u1, load512(a4 + 64)), _mm512_shuffle_epi8(sv, k.sc13))
    acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(u2, load512(a4 + 128)), _mm512_shuffle_epi8(sv, k.sc46))
    return _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(u3, load512(a4 + 192)), _mm512_shuffle_epi8(sv, k.sc57))
}

// [256]: f16 d, f16 dmin, 12 scale bytes, 128 nibble bytes; bytes 32i..<32i+32 hold
// sub-block 2i (low nibbles) and 2i+1 (high nibbles).
struct VNNIKRowQ4_K: VNNIKRow {
    static var blockBytes: Int { 144 }
    static var hasMin: Bool { true }
    static var scaleOffset: Int { 0 }
    @inline(__always)
    static func dot(_ x: UnsafeRawPointer, _ a: UnsafeRawPointer, _ a4: UnsafeRawPointer, _ bsums: UnsafePointer<Int16>,
                    _ bs32: __m128i, _ k: VNNIKConstants) -> (__m512i, __m128i) {
        let scm = kScalesMins(x, k)
        // Vector q0: low nibbles are sub-blocks 0 and 2, high ones 1 and 3; q1: 4..7.
        let q0 = load512(x + 16), q1 = load512(x + 80)
        let acc = k4Dot(_mm512_and_si512(q0, k.nib), _mm512_and_si512(_mm512_srli_epi16(q0, 4), k.nib),
                        _mm512_and_si512(q1, k.nib), _mm512_and_si512(_mm512_srli_epi16(q1, 4), k.nib),
                        _mm512_broadcastq_epi64(scm), a4, k)
        return (acc, kMinTerm(scm, bs32, k))
    }
}

// [256]: f16 d, f16 dmin, 12 scale bytes, 32 bytes of fifth bits (bit 2i / 2i+1 of byte l:
// element l of sub-block 2i / 2i+1), 128 nibble bytes as in Q4_K.
struct VNNIKRowQ5_K: VNNIKRow {
    static var blockBytes: Int { 176 }
    static var hasMin: Bool { true }
    static var scaleOffset: Int { 0 }
    @inline(__always)
    static func dot(_ x: UnsafeRawPointer, _ a: UnsafeRawPointer, _ a4: UnsafeRawPointer, _ bsums: UnsafePointer<Int16>,
                    _ bs32: __m128i, _ k: VNNIKConstants) -> (__m512i, __m128i) {
        let scm = kScalesMins(x, k)
        let q0 = load512(x + 48), q1 = load512(x + 112)
        // qh bits for [sub-block 0 | 2] at bits 0 and 2: lanes of [qh | qh >> 2]; then >> 1 for 1 | 3,
        // >> 4 for 4 | 6, >> 5 for 5 | 7. Each shifted bit lands at bit 4 of its byte.
        let qh = _mm256_loadu_si256((x + 16).assumingMemoryBound(to: __m256i.self))
        let h = _mm512_mask_broadcast_i64x4(_mm512_castsi256_si512(qh), 0xF0, _mm256_srli_epi16(qh, 2))
        let bit4 = _mm512_set1_epi8(0x10)
        @inline(__always) func five(_ nibbles: __m512i, _ s: UInt32) -> __m512i {
            let high = _mm512_and_si512(s < 4 ? _mm512_slli_epi16(h, 4 - s) : _mm512_srli_epi16(h, s - 4), bit4)
            return _mm512_or_si512(_mm512_and_si512(nibbles, k.nib), high)
        }
        let acc = k4Dot(five(q0, 0), five(_mm512_srli_epi16(q0, 4), 1), five(q1, 4), five(_mm512_srli_epi16(q1, 4), 5),
                        _mm512_broadcastq_epi64(scm), a4, k)
        return (acc, kMinTerm(scm, bs32, k))
    }
}

// [256]: 128 low-nibble bytes, 64 bytes of 2-bit highs, 16 int8 scales (one per 16
// elements), f16 d. Half h (128 elements): low nibbles of ql[64h..<64h+64] are elements
// 0..<64, high nibbles 64..<128; their high bits are bit pairs 0, 1, 2, 3 of qh[32h + l].
struct VNNIKRowQ6_K: VNNIKRow {
    static var blockBytes: Int { 210 }
    static var hasMin: Bool { false }
    static var scaleOffset: Int { 208 }
    @inline(__always)
    static func dot(_ x: UnsafeRawPointer, _ a: UnsafeRawPointer, _ a4: UnsafeRawPointer, _ bsums: UnsafePointer<Int16>,
                    _ bs32: __m128i, _ k: VNNIKConstants) -> (__m512i, __m128i) {
        let sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((x + 192).assumingMemoryBound(to: __m128i.self)))  // [16] int16
        let scz = _mm512_castsi256_si512(sc16)
        var acc = _mm512_setzero_si512()
        @inline(__always) func half(_ h: Int, _ pLo: __m512i, _ pHi: __m512i) {
            let ql = load512(x + 64 * h)
            let qh = _mm256_loadu_si256((x + 128 + 32 * h).assumingMemoryBound(to: __m256i.self))
            let h2 = _mm512_mask_broadcast_i64x4(_mm512_castsi256_si512(qh), 0xF0, _mm256_srli_epi16(qh, 2))
            let lo = _mm512_or_si512(_mm512_and_si512(ql, k.nib), _mm512_and_si512(_mm512_slli_epi16(h2, 4), k.top2))
            let hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), k.nib), _mm512_and_si512(h2, k.top2))
            acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(lo, load512(a + 128 * h)), _mm512_permutexvar_epi16(pLo, scz))
            acc = _mm512_dpwssd_epi32(acc, _mm512_maddubs_epi16(hi, load512(a + 128 * h + 64)), _mm512_permutexvar_epi16(pHi, scz))
        }
        half(0, k.p0, k.p1)
        half(1, k.p2, k.p3)
        // The quants are stored +32: subtract 32 · Σ_g sc_g · Σq_g (exact).
        let offs = _mm256_madd_epi16(sc16, _mm256_loadu_si256(UnsafeRawPointer(bsums).assumingMemoryBound(to: __m256i.self)))
        acc = _mm512_sub_epi32(acc, _mm512_slli_epi32(_mm512_zextsi256_si512(offs), 5))
        return (acc, _mm_setzero_si128())
    }
}
#endif
