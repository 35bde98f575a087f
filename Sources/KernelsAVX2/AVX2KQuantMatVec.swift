#if arch(x86_64)
import _Builtin_intrinsics.intel
import CPrefetch

/// K-quant weights (Q4_K, Q5_K, Q6_K) against Q8_K activations on AVX2, reading each
/// weight row front to back once per token: the path for generation, where the weights
/// stream from memory once per step. Per super-block, each of 8 rows gives 8 int32 lanes
/// (`AVX2KRow.dot`), a tree of `vphaddd` turns the 8 vectors into one with lane r = row
/// r's exact integer sum, and one FMA per lane applies the float scales. The float
/// arithmetic per (row, token) is `KQuantDot`'s, in the same order, so results are bit
/// for bit those of the reference and of the AVX-512 kernels, whatever the batch size.
public enum AVX2KQuantMatVec {
    public static let tileRows = 8

    /// ggml type ids: Q4_K, Q5_K, Q6_K.
    public static func supports(typeID: UInt32) -> Bool { typeID == 12 || typeID == 13 || typeID == 14 }

    /// y[t·ldy + r] = Σ_c w[r, c] · x[t, c] for r in r0..<r1 and every token of `act`.
    @discardableResult
    public static func rows(typeID: UInt32, w: UnsafeRawPointer, rowBytes: Int, r0: Int, r1: Int,
                            act: Q8KActivationsView, y: UnsafeMutablePointer<Float>, ldy: Int) -> Bool {
        switch typeID {
        case 12: run(AVX2KRowQ4_K.self, w, rowBytes, r0, r1, act, y, ldy)
        case 13: run(AVX2KRowQ5_K.self, w, rowBytes, r0, r1, act, y, ldy)
        case 14: run(AVX2KRowQ6_K.self, w, rowBytes, r0, r1, act, y, ldy)
        default: return false
        }
        return true
    }

    static func run<F: AVX2KRow>(_: F.Type, _ w: UnsafeRawPointer, _ rowBytes: Int, _ r0: Int, _ r1: Int,
                                 _ act: Q8KActivationsView, _ y: UnsafeMutablePointer<Float>, _ ldy: Int) {
        let k = AVX2KConstants()
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 8) { buf in  // [8] raw f16 scales, see tile
            guard let scratch = buf.baseAddress else { return }
            var start = r0
            while start < r1 {
                let count = min(tileRows, r1 - start)
                // The next tile is asked for while this one is multiplied: its rows are read side by side.
                let next = start + count < r1 ? w + (start + count) * rowBytes : nil
                let ahead = min(tileRows, r1 - start - count) * rowBytes
                for t in 0..<act.nTokens {
                    tile(F.self, w + start * rowBytes, rowBytes, count, act, t, y + t * ldy + start, k, scratch,
                         t == 0 ? next : nil, ahead)
                }
                start += count
            }
        }
    }

    /// One token against a tile of up to 8 rows, super-block by super-block: each row gives
    /// 8 partial lanes (and 4 mins lanes), `vphaddd` trees turn them into lane r = row r's
    /// exact sums, and the float steps of `KQuantDot` follow for the 8 rows at once.
    @inline(__always)
    static func tile<F: AVX2KRow>(_: F.Type, _ w: UnsafeRawPointer, _ rowBytes: Int, _ count: Int,
                                  _ act: Q8KActivationsView, _ t: Int, _ y: UnsafeMutablePointer<Float>,
                                  _ k: AVX2KConstants, _ scratch: UnsafeMutablePointer<UInt32>,
                                  _ next: UnsafeRawPointer?, _ ahead: Int) {
        let nsb = act.superBlocks
        let a = UnsafeRawPointer(act.qs + t * nsb * 256)
        let ad = act.d + t * nsb, bs = UnsafeRawPointer(act.bsums + t * nsb * 16)
        var acc = _mm256_setzero_ps()
        let last = count - 1
        let swap = _mm256_setr_epi32(4, 5, 6, 7, 0, 1, 2, 3)
        let interleave = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)
        let low16 = _mm_set1_epi32(0xFFFF)
        let step = (ahead + nsb - 1) / nsb
        for s in 0..<nsb {
            if let next, s * step < ahead { jeton_prefetch_range(next + s * step, min(step, ahead - s * step)) }
            let xa = a + 256 * s, ws = w + s * F.blockBytes
            let bsv = kLoad256(bs + 32 * s)
            // The 8 sums per 32 elements as int16 (each |Σ| ≤ 32 · 127), shared by the 8 rows.
            let bs32 = F.hasMin
                ? _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(_mm256_hadd_epi16(bsv, bsv), _mm256_setr_epi32(0, 1, 4, 5, 0, 1, 4, 5)))
                : _mm_setzero_si128()
            @inline(__always) func row(_ lane: Int) -> (__m256i, __m128i) {
                let x = ws + min(lane, last) * rowBytes  // lanes past `count` repeat the last row, never stored
                // Each row's f16 d (and dmin) go through memory as raw bits, converted 8 at once.
                // (Q6_K's d is the last 2 bytes of its block: read no further.)
                scratch[lane] = F.hasMin ? x.loadUnaligned(fromByteOffset: F.scaleOffset, as: UInt32.self)
                                         : UInt32(x.loadUnaligned(fromByteOffset: F.scaleOffset, as: UInt16.self))
                return F.dot(x, xa, bsv, bs32, k)
            }
            // Pairs of rows: hadd keeps per 128-bit lane [row i partial pairs, row i+1 partial pairs];
            // the mins go side by side as [m_i | m_i+1].
            @inline(__always) func pair(_ i: Int) -> (__m256i, __m256i) {
                let (v0, m0) = row(i), (v1, m1) = row(i + 1)
                return (_mm256_hadd_epi32(v0, v1), F.hasMin ? _mm256_set_m128i(m1, m0) : _mm256_setzero_si256())
            }
            let (h01, n01) = pair(0), (h23, n23) = pair(2)
            let h0123 = _mm256_hadd_epi32(h01, h23)  // per lane [rows 0, 1, 2, 3] (half sums)
            let n0123 = _mm256_hadd_epi32(n01, n23)  // [m0 m0 m2 m2 | m1 m1 m3 m3] pair sums
            let (h45, n45) = pair(4), (h67, n67) = pair(6)
            let h4567 = _mm256_hadd_epi32(h45, h67)
            let sa = _mm256_add_epi32(h0123, _mm256_permutevar8x32_epi32(h0123, swap))
            let sb = _mm256_add_epi32(h4567, _mm256_permutevar8x32_epi32(h4567, swap))
            let isum = _mm256_set_m128i(_mm256_castsi256_si128(sb), _mm256_castsi256_si128(sa))
            let lo = _mm_loadu_si128(UnsafeRawPointer(scratch).assumingMemoryBound(to: __m128i.self))
            let hi = _mm_loadu_si128(UnsafeRawPointer(scratch + 4).assumingMemoryBound(to: __m128i.self))
            let dw = _mm256_cvtph_ps(_mm_packus_epi32(_mm_and_si128(lo, low16), _mm_and_si128(hi, low16)))
            let da = _mm256_set1_ps(ad[s])
            acc = _mm256_fmadd_ps(_mm256_mul_ps(dw, da), _mm256_cvtepi32_ps(isum), acc)
            if F.hasMin {
                // [m0 m2 m4 m6 | m1 m3 m5 m7] → lane r = row r.
                let imin = _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(n0123, _mm256_hadd_epi32(n45, n67)), interleave)
                let dm = _mm256_cvtph_ps(_mm_packus_epi32(_mm_srli_epi32(lo, 16), _mm_srli_epi32(hi, 16)))
                acc = _mm256_fnmadd_ps(_mm256_mul_ps(dm, da), _mm256_cvtepi32_ps(imin), acc)
            }
        }
        if count == tileRows {
            _mm256_storeu_ps(y, acc)
        } else {
            _mm256_maskstore_ps(y, _mm256_cmpgt_epi32(_mm256_set1_epi32(Int32(count)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)), acc)
        }
    }
}

// MARK: - Per-format row dots

// Loads defined here, not shared: debug builds compile file by file and would call, not inline, another file's.
@inline(__always) private func kLoad128(_ p: UnsafeRawPointer) -> __m128i { _mm_loadu_si128(p.assumingMemoryBound(to: __m128i.self)) }
@inline(__always) private func kLoad256(_ p: UnsafeRawPointer) -> __m256i { _mm256_loadu_si256(p.assumingMemoryBound(to: __m256i.self)) }

/// The K-quant super-block of one weight row against one token's Q8_K super-block on
/// AVX2, as 8 int32 lanes whose sum is the exact integer dot with the sub-block scales
/// applied (`isum` of `KQuantDot`), plus 4 lanes summing to the exact mins term where
/// the format has one. A row is read in 32-byte vectors: `vpmaddubsw` (u8 × s8 → i16
/// pairs) then `vpmaddwd` with the sub-block scales as int16, so no product leaves the
/// integers (AVX2 has no `vpdpwssd`: the madd results are added).
protocol AVX2KRow {
    static var blockBytes: Int { get }
    static var hasMin: Bool { get }
    /// Byte offset of the f16 d (and of dmin 2 bytes after it, where the format has one).
    static var scaleOffset: Int { get }
    /// (8 lanes summing to isum, 4 lanes summing to imin) of super-block `x` against one
    /// token's super-block: `a` its 256 quants in natural order, `bsums` its 16 sums per
    /// 16 as int16, `bs32` its 8 sums per 32 as int16.
    static func dot(_ x: UnsafeRawPointer, _ a: UnsafeRawPointer, _ bsums: __m256i, _ bs32: __m128i,
                    _ k: AVX2KConstants) -> (__m256i, __m128i)
}

/// Shuffle controls and masks, made once per call.
struct AVX2KConstants {
    let nib = _mm256_set1_epi8(0x0F)
    let top2 = _mm256_set1_epi8(0x30)
    let bit4 = _mm256_set1_epi8(0x10)
    /// Byte shuffles that widen byte pair (2k, 2k + 1) of each 128-bit lane to every int16 word
    /// of that lane: Q4_K/Q5_K take word k of [8 scales] (bytes k and 0x80, a zero high byte);
    /// Q6_K word k of [even scales | odd scales] (int16 already).
    let w0: __m256i, w1: __m256i, w2: __m256i, w3: __m256i, w4: __m256i, w5: __m256i, w6: __m256i, w7: __m256i
    let b0: __m256i, b1: __m256i, b2: __m256i, b3: __m256i, b4: __m256i, b5: __m256i, b6: __m256i, b7: __m256i
    // Q4_K/Q5_K scale bytes 4..<16 (see kScalesMinsAVX2): gathers, masks, and the mins widened to words.
    let gA = _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11)
    let gB = _mm_setr_epi8(-128, -128, -128, -128, 0, 1, 2, 3, -128, -128, -128, -128, 4, 5, 6, 7)
    let blendHi = _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -128, -128, -128, -128)
    let mLo = _mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 15, 15, 15, 15)
    let m30 = _mm_set1_epi8(0x30)
    let gM = _mm_setr_epi8(8, -128, 9, -128, 10, -128, 11, -128, 12, -128, 13, -128, 14, -128, 15, -128)
    // Q6_K: the 16 int8 scales as [even g | odd g] bytes, before widening.
    let evenOdd = _mm_setr_epi8(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15)

    init() {
        @inline(__always) func bytes(_ k: Int8) -> __m256i { _mm256_set1_epi16(Int16(k) | -0x8000) }
        @inline(__always) func words(_ k: Int8) -> __m256i { _mm256_set1_epi16(Int16(2 * k) | Int16(2 * k + 1) << 8) }
        w0 = bytes(0); w1 = bytes(1); w2 = bytes(2); w3 = bytes(3); w4 = bytes(4); w5 = bytes(5); w6 = bytes(6); w7 = bytes(7)
        b0 = words(0); b1 = words(1); b2 = words(2); b3 = words(3); b4 = words(4); b5 = words(5); b6 = words(6); b7 = words(7)
    }
}

/// The 12 scale bytes of Q4_K/Q5_K as [8 scales | 8 mins] (byte j = sub-block j): sub-blocks
/// 0..<4 keep the low 6 bits of bytes j and j + 4; 4..<8 take a nibble of byte j + 4 and
/// the top 2 bits of byte j - 4 (scale) or j (min).
@inline(__always) func kScalesMinsAVX2(_ x: UnsafeRawPointer, _ k: AVX2KConstants) -> __m128i {
    let raw = kLoad128(x + 4)  // 12 scale bytes, 4 quant bytes
    let a = _mm_shuffle_epi8(raw, k.gA), b = _mm_shuffle_epi8(raw, k.gB)
    let low = _mm_and_si128(_mm_blendv_epi8(a, _mm_srli_epi16(a, 4), k.blendHi), k.mLo)
    return _mm_or_si128(low, _mm_and_si128(_mm_srli_epi16(b, 2), k.m30))
}

/// Sub-block scale j of `sv` (the [8 scales | 8 mins] bytes in both lanes) in every int16 word.
@inline(__always) func kScale(_ sv: __m256i, _ j: Int, _ k: AVX2KConstants) -> __m256i {
    let c: __m256i
    switch j {
    case 0: c = k.w0
    case 1: c = k.w1
    case 2: c = k.w2
    case 3: c = k.w3
    case 4: c = k.w4
    case 5: c = k.w5
    case 6: c = k.w6
    default: c = k.w7
    }
    return _mm256_shuffle_epi8(sv, c)
}

/// Σ_j m_j · (Σq of sub-block j) as 4 int32 lanes.
@inline(__always) func kMinTermAVX2(_ scm: __m128i, _ bs32: __m128i, _ k: AVX2KConstants) -> __m128i {
    _mm_madd_epi16(_mm_shuffle_epi8(scm, k.gM), bs32)
}

/// Sub-blocks 2i (quants `lo`) and 2i + 1 (`hi`) of a Q4_K/Q5_K super-block against the
/// activations, scales applied: 8 int32 lanes.
@inline(__always) func k4Pair(_ lo: __m256i, _ hi: __m256i, _ i: Int, _ a: UnsafeRawPointer, _ sv: __m256i,
                             _ k: AVX2KConstants) -> __m256i {
    _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(lo, kLoad256(a + 64 * i)), kScale(sv, 2 * i, k)),
                     _mm256_madd_epi16(_mm256_maddubs_epi16(hi, kLoad256(a + 64 * i + 32)), kScale(sv, 2 * i + 1, k)))
}

// [256]: f16 d, f16 dmin, 12 scale bytes, 128 nibble bytes; bytes 32i..<32i+32 hold
// sub-block 2i (low nibbles) and 2i+1 (high nibbles).
struct AVX2KRowQ4_K: AVX2KRow {
    static var blockBytes: Int { 144 }
    static var hasMin: Bool { true }
    static var scaleOffset: Int { 0 }
    @inline(__always)
    static func dot(_ x: UnsafeRawPointer, _ a: UnsafeRawPointer, _ bsums: __m256i, _ bs32: __m128i,
                    _ k: AVX2KConstants) -> (__m256i, __m128i) {
        let scm = kScalesMinsAVX2(x, k)
        let sv = _mm256_broadcastsi128_si256(scm)
        @inline(__always) func pair(_ i: Int) -> __m256i {
            let q = kLoad256(x + 16 + 32 * i)
            return k4Pair(_mm256_and_si256(q, k.nib), _mm256_and_si256(_mm256_srli_epi16(q, 4), k.nib), i, a, sv, k)
        }
        let acc = _mm256_add_epi32(_mm256_add_epi32(pair(0), pair(1)), _mm256_add_epi32(pair(2), pair(3)))
        return (acc, kMinTermAVX2(scm, bs32, k))
    }
}

// [256]: f16 d, f16 dmin, 12 scale bytes, 32 bytes of fifth bits (bit j of byte l: element l
// of sub-block j), 128 nibble bytes as in Q4_K.
struct AVX2KRowQ5_K: AVX2KRow {
    static var blockBytes: Int { 176 }
    static var hasMin: Bool { true }
    static var scaleOffset: Int { 0 }
    @inline(__always)
    static func dot(_ x: UnsafeRawPointer, _ a: UnsafeRawPointer, _ bsums: __m256i, _ bs32: __m128i,
                    _ k: AVX2KConstants) -> (__m256i, __m128i) {
        let scm = kScalesMinsAVX2(x, k)
        let sv = _mm256_broadcastsi128_si256(scm)
        let qh = kLoad256(x + 16)
        // Bit j of each byte moved to bit 4 (16-bit shifts: bit 4 of either byte comes from the same byte).
        @inline(__always) func fifth(_ j: Int) -> __m256i {
            _mm256_and_si256(j < 4 ? _mm256_slli_epi16(qh, Int32(4 - j)) : _mm256_srli_epi16(qh, Int32(j - 4)), k.bit4)
        }
        @inline(__always) func pair(_ i: Int) -> __m256i {
            let q = kLoad256(x + 48 + 32 * i)
            return k4Pair(_mm256_or_si256(_mm256_and_si256(q, k.nib), fifth(2 * i)),
                          _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), k.nib), fifth(2 * i + 1)), i, a, sv, k)
        }
        let acc = _mm256_add_epi32(_mm256_add_epi32(pair(0), pair(1)), _mm256_add_epi32(pair(2), pair(3)))
        return (acc, kMinTermAVX2(scm, bs32, k))
    }
}

// [256]: 128 low-nibble bytes, 64 bytes of 2-bit highs, 16 int8 scales (one per 16
// elements), f16 d. Half h (128 elements), quarter q (32 elements): nibble (low for q < 2)
// of ql[64h + 32(q % 2) + l], high bits = bit pair q of qh[32h + l].
struct AVX2KRowQ6_K: AVX2KRow {
    static var blockBytes: Int { 210 }
    static var hasMin: Bool { false }
    static var scaleOffset: Int { 208 }
    @inline(__always)
    static func dot(_ x: UnsafeRawPointer, _ a: UnsafeRawPointer, _ bsums: __m256i, _ bs32: __m128i,
                    _ k: AVX2KConstants) -> (__m256i, __m128i) {
        let raw = kLoad128(x + 192)
        // Words [sc0, sc2, …, sc14 | sc1, sc3, …, sc15]: quarter k (elements 32k..<32k+32) takes
        // word k of each lane, sc_2k for its first 16 elements and sc_2k+1 for the next 16.
        let eo = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(raw, k.evenOdd))
        @inline(__always) func scale(_ q: Int) -> __m256i {
            let c: __m256i
            switch q {
            case 0: c = k.b0
            case 1: c = k.b1
            case 2: c = k.b2
            case 3: c = k.b3
            case 4: c = k.b4
            case 5: c = k.b5
            case 6: c = k.b6
            default: c = k.b7
            }
            return _mm256_shuffle_epi8(eo, c)
        }
        @inline(__always) func half(_ h: Int) -> __m256i {
            let qa = kLoad256(x + 64 * h), qb = kLoad256(x + 64 * h + 32), qh = kLoad256(x + 128 + 32 * h)
            let q0 = _mm256_or_si256(_mm256_and_si256(qa, k.nib), _mm256_and_si256(_mm256_slli_epi16(qh, 4), k.top2))
            let q1 = _mm256_or_si256(_mm256_and_si256(qb, k.nib), _mm256_and_si256(_mm256_slli_epi16(qh, 2), k.top2))
            let q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qa, 4), k.nib), _mm256_and_si256(qh, k.top2))
            let q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), k.nib), _mm256_and_si256(_mm256_srli_epi16(qh, 2), k.top2))
            let ah = a + 128 * h
            let p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(q0, kLoad256(ah)), scale(4 * h))
            let p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(q1, kLoad256(ah + 32)), scale(4 * h + 1))
            let p2 = _mm256_madd_epi16(_mm256_maddubs_epi16(q2, kLoad256(ah + 64)), scale(4 * h + 2))
            let p3 = _mm256_madd_epi16(_mm256_maddubs_epi16(q3, kLoad256(ah + 96)), scale(4 * h + 3))
            return _mm256_add_epi32(_mm256_add_epi32(p0, p1), _mm256_add_epi32(p2, p3))
        }
        var acc = _mm256_add_epi32(half(0), half(1))
        // The quants are stored +32: subtract 32 · Σ_g sc_g · Σq_g (exact).
        let offs = _mm256_madd_epi16(_mm256_cvtepi8_epi16(raw), bsums)
        acc = _mm256_sub_epi32(acc, _mm256_slli_epi32(offs, 5))
        return (acc, _mm_setzero_si128())
    }
}
#endif
