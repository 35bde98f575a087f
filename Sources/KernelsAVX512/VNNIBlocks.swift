#if arch(x86_64)
import _Builtin_intrinsics.intel

/// One ggml 32-element weight format as `vpdpbusd` wants it: unsigned bytes, 16 rows
/// side by side. `pack` turns block b of 16 rows into 8 vectors, vector j holding
/// elements 4j..<4j+4 of every row (lane r = row r), so one broadcast dword of
/// activations multiplies all 16 rows at once and each lane sums one (row, token):
/// no horizontal reduction, hence no dependence on where a row or token lands.
protocol VNNIBlock {
    /// Bytes per 32-element block.
    static var blockBytes: Int { get }
    /// Weight = d · (u - offset) + m for the unsigned byte u that `pack` produces: the
    /// integer accumulator starts at -offset · Σa (exact), m (if any) is a float min.
    static var offset: Int32 { get }
    static var hasMin: Bool { get }
    /// Scales and mins of block b of the 16 rows (lane r = row r).
    static func scales(_ rows: UnsafePointer<UnsafeRawPointer>, _ b: Int) -> (__m512, __m512)
    /// Block b of the 16 rows `rows[0..<16]` → `out[0..<8]`.
    static func pack(_ rows: UnsafePointer<UnsafeRawPointer>, _ b: Int, _ out: UnsafeMutablePointer<__m512i>)
}

/// The dword at `off` of each of the 16 rows (lane r = row r): the first column of `transpose16x4`.
@inline(__always) func column0(_ rows: UnsafePointer<UnsafeRawPointer>, _ off: Int) -> __m512i {
    @inline(__always) func quad(_ k: Int) -> __m512i {
        var z = _mm512_broadcast_i32x4(load128(rows[k] + off))
        z = _mm512_mask_broadcast_i32x4(z, 0x00F0, load128(rows[k + 4] + off))
        z = _mm512_mask_broadcast_i32x4(z, 0x0F00, load128(rows[k + 8] + off))
        return _mm512_mask_broadcast_i32x4(z, 0xF000, load128(rows[k + 12] + off))
    }
    return _mm512_unpacklo_epi64(_mm512_unpacklo_epi32(quad(0), quad(1)), _mm512_unpacklo_epi32(quad(2), quad(3)))
}

/// The f16 in the low (or high) half of each int32 lane, as floats.
@inline(__always) func halfsLow(_ v: __m512i) -> __m512 { _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v)) }
@inline(__always) func halfsHigh(_ v: __m512i) -> __m512 { _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(v, 16))) }

/// The 16-lane results of up to 8 tokens (c.k for token k < nt) to rows y + k·ldy, masked lanes only.
@inline(__always) func storeTokenRows(_ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ mask: __mmask16, _ nt: Int,
                                      _ c: (__m512, __m512, __m512, __m512, __m512, __m512, __m512, __m512)) {
    _mm512_mask_storeu_ps(y, mask, c.0)
    if nt > 1 { _mm512_mask_storeu_ps(y + ldy, mask, c.1) }
    if nt > 2 { _mm512_mask_storeu_ps(y + 2 * ldy, mask, c.2) }
    if nt > 3 { _mm512_mask_storeu_ps(y + 3 * ldy, mask, c.3) }
    if nt > 4 { _mm512_mask_storeu_ps(y + 4 * ldy, mask, c.4) }
    if nt > 5 { _mm512_mask_storeu_ps(y + 5 * ldy, mask, c.5) }
    if nt > 6 { _mm512_mask_storeu_ps(y + 6 * ldy, mask, c.6) }
    if nt > 7 { _mm512_mask_storeu_ps(y + 7 * ldy, mask, c.7) }
}

/// A 32-element block's 8 weight vectors (16 rows × 4 unsigned weights each: vector v holds the
/// columns activation dword v covers).
typealias BlockWeights = (__m512i, __m512i, __m512i, __m512i, __m512i, __m512i, __m512i, __m512i)

/// One block of the 32-element formats for one token, as `VNNIMatMul`, `VNNIPacked32` and the twins
/// compute it: the 16 rows' exact Σ u·a from `start` (−offset·Σa), then c = fma(Float(dot), d·da, c)
/// and, with `min`, c = fma(m, s, c). The same operations in the same order for any batch.
@inline(__always) func blockStep(_ w: BlockWeights, _ a: UnsafeRawPointer, start: __m512i, d: __m512, da: Float,
                                 min: (m: __m512, s: Float)?, _ c: inout __m512) {
    c = _mm512_fmadd_ps(_mm512_cvtepi32_ps(blockDot(start, w, a)), _mm512_mul_ps(d, _mm512_set1_ps(da)), c)
    if let min { c = _mm512_fmadd_ps(min.m, _mm512_set1_ps(min.s), c) }
}

/// start + the 16 rows' Σ u·a over a block: unsigned weights `w` against the 8 signed activation
/// dwords at `a`, each broadcast to every row.
@inline(__always) func blockDot(_ start: __m512i, _ w: BlockWeights, _ a: UnsafeRawPointer) -> __m512i {
    @inline(__always) func bc(_ j: Int) -> __m512i { _mm512_set1_epi32(a.loadUnaligned(fromByteOffset: 4 * j, as: Int32.self)) }
    var i = _mm512_dpbusd_epi32(start, w.0, bc(0))
    i = _mm512_dpbusd_epi32(i, w.1, bc(1))
    i = _mm512_dpbusd_epi32(i, w.2, bc(2))
    i = _mm512_dpbusd_epi32(i, w.3, bc(3))
    i = _mm512_dpbusd_epi32(i, w.4, bc(4))
    i = _mm512_dpbusd_epi32(i, w.5, bc(5))
    i = _mm512_dpbusd_epi32(i, w.6, bc(6))
    return _mm512_dpbusd_epi32(i, w.7, bc(7))
}

@inline(__always) func load128(_ p: UnsafeRawPointer) -> __m128i { _mm_loadu_si128(p.assumingMemoryBound(to: __m128i.self)) }

/// The 16 bytes at `off` of each of the 16 rows, as 4 vectors: vector j lane r = dword j of row r.
/// Rows k, k+4, k+8, k+12 share a load vector, so after the in-lane 4×4 transpose
/// lane 4l + m holds row 4l + m: rows come out in order, no cross-lane shuffle.
@inline(__always) func transpose16x4(_ rows: UnsafePointer<UnsafeRawPointer>, _ off: Int) -> (__m512i, __m512i, __m512i, __m512i) {
    @inline(__always) func quad(_ k: Int) -> __m512i {
        var z = _mm512_broadcast_i32x4(load128(rows[k] + off))
        z = _mm512_mask_broadcast_i32x4(z, 0x00F0, load128(rows[k + 4] + off))
        z = _mm512_mask_broadcast_i32x4(z, 0x0F00, load128(rows[k + 8] + off))
        return _mm512_mask_broadcast_i32x4(z, 0xF000, load128(rows[k + 12] + off))
    }
    let z0 = quad(0), z1 = quad(1), z2 = quad(2), z3 = quad(3)
    let t0 = _mm512_unpacklo_epi32(z0, z1), t1 = _mm512_unpackhi_epi32(z0, z1)
    let t2 = _mm512_unpacklo_epi32(z2, z3), t3 = _mm512_unpackhi_epi32(z2, z3)
    return (_mm512_unpacklo_epi64(t0, t2), _mm512_unpackhi_epi64(t0, t2),
            _mm512_unpacklo_epi64(t1, t3), _mm512_unpackhi_epi64(t1, t3))
}

/// 16 nibble bytes per row: byte i holds element i (low) and i + 16 (high), so the low
/// nibbles of dword j are elements 4j..<4j+4 and the high ones 16+4j..<16+4j+4.
@inline(__always) func packNibbles(_ rows: UnsafePointer<UnsafeRawPointer>, _ off: Int, _ out: UnsafeMutablePointer<__m512i>) {
    let (w0, w1, w2, w3) = transpose16x4(rows, off)
    let m = _mm512_set1_epi8(0x0F)
    out[0] = _mm512_and_si512(w0, m)
    out[1] = _mm512_and_si512(w1, m)
    out[2] = _mm512_and_si512(w2, m)
    out[3] = _mm512_and_si512(w3, m)
    out[4] = _mm512_and_si512(_mm512_srli_epi32(w0, 4), m)
    out[5] = _mm512_and_si512(_mm512_srli_epi32(w1, 4), m)
    out[6] = _mm512_and_si512(_mm512_srli_epi32(w2, 4), m)
    out[7] = _mm512_and_si512(_mm512_srli_epi32(w3, 4), m)
}

// [32]: f16 d, 16 nibble bytes; w = d·(n - 8).
struct VNNIQ4_0: VNNIBlock {
    static var blockBytes: Int { 18 }
    static var offset: Int32 { 8 }
    static var hasMin: Bool { false }
    @inline(__always) static func scales(_ rows: UnsafePointer<UnsafeRawPointer>, _ b: Int) -> (__m512, __m512) {
        let d = halfsLow(column0(rows, b * 18))
        return (d, d)
    }
    @inline(__always) static func pack(_ rows: UnsafePointer<UnsafeRawPointer>, _ b: Int, _ out: UnsafeMutablePointer<__m512i>) {
        packNibbles(rows, b * 18 + 2, out)
    }
}

// [32]: f16 d, f16 m, 16 nibble bytes; w = d·n + m.
struct VNNIQ4_1: VNNIBlock {
    static var blockBytes: Int { 20 }
    static var offset: Int32 { 0 }
    static var hasMin: Bool { true }
    @inline(__always) static func scales(_ rows: UnsafePointer<UnsafeRawPointer>, _ b: Int) -> (__m512, __m512) {
        let dm = column0(rows, b * 20)
        return (halfsLow(dm), halfsHigh(dm))
    }
    @inline(__always) static func pack(_ rows: UnsafePointer<UnsafeRawPointer>, _ b: Int, _ out: UnsafeMutablePointer<__m512i>) {
        packNibbles(rows, b * 20 + 4, out)
    }
}

// [32]: f16 d, u32 qh (bit i: fifth bit of element i), 16 nibble bytes; w = d·(n | h<<4 - 16).
struct VNNIQ5_0: VNNIBlock {
    static var blockBytes: Int { 22 }
    static var offset: Int32 { 16 }
    static var hasMin: Bool { false }
    @inline(__always) static func scales(_ rows: UnsafePointer<UnsafeRawPointer>, _ b: Int) -> (__m512, __m512) {
        let d = halfsLow(column0(rows, b * 22))
        return (d, d)
    }
    @inline(__always) static func pack(_ rows: UnsafePointer<UnsafeRawPointer>, _ b: Int, _ out: UnsafeMutablePointer<__m512i>) {
        packNibbles(rows, b * 22 + 6, out)
        // Vector k holds elements 4k..<4k+4 (k < 4) or 16+4(k-4)..: either way qh bits
        // 4k..<4k+4, deposited at bit 4 of each byte: x·0x204081 puts bit i of a nibble
        // x at bit 8i with no carries, then mask and shift.
        let qh = column0(rows, b * 22 + 2)
        let spread = _mm512_set1_epi32(0x0020_4081), ones = _mm512_set1_epi32(0x0101_0101), nib = _mm512_set1_epi32(15)
        for k in 0..<8 {
            let x = _mm512_and_si512(_mm512_srlv_epi32(qh, _mm512_set1_epi32(Int32(4 * k))), nib)
            let h = _mm512_slli_epi32(_mm512_and_si512(_mm512_mullo_epi32(x, spread), ones), 4)
            out[k] = _mm512_or_si512(out[k], h)
        }
    }
}

// Super-blocks of 256: f16 d, f16 dmin, 12 bytes of 6-bit sub-block scales and mins,
// 128 nibble bytes (sub-blocks 2i and 2i+1 are the low and high nibbles of bytes
// 32i..<32i+32). Block b is sub-block b % 8: w = d·sc·n - dmin·m.
struct VNNIQ4_K: VNNIBlock {
    static var blockBytes: Int { 18 }
    static var offset: Int32 { 0 }
    static var hasMin: Bool { true }
    @inline(__always) static func scales(_ rows: UnsafePointer<UnsafeRawPointer>, _ b: Int) -> (__m512, __m512) {
        let base = (b / 8) * 144, j = b % 8
        let dm = column0(rows, base)
        @inline(__always) func byte(_ v: __m512i, _ k: Int) -> __m512i {
            _mm512_and_si512(_mm512_srlv_epi32(v, _mm512_set1_epi32(Int32(8 * k))), _mm512_set1_epi32(0xFF))
        }
        let sc: __m512i, m: __m512i
        if j < 4 {  // scales[j] & 63, scales[j+4] & 63
            sc = _mm512_and_si512(byte(column0(rows, base + 4), j), _mm512_set1_epi32(63))
            m = _mm512_and_si512(byte(column0(rows, base + 8), j), _mm512_set1_epi32(63))
        } else {  // low/high nibble of scales[j+4], top two bits of scales[j-4] / scales[j]
            let q0 = byte(column0(rows, base + 4), j - 4), q1 = byte(column0(rows, base + 8), j - 4)
            let q2 = byte(column0(rows, base + 12), j - 4)
            sc = _mm512_or_si512(_mm512_and_si512(q2, _mm512_set1_epi32(15)), _mm512_slli_epi32(_mm512_srli_epi32(q0, 6), 4))
            m = _mm512_or_si512(_mm512_srli_epi32(q2, 4), _mm512_slli_epi32(_mm512_srli_epi32(q1, 6), 4))
        }
        let d = _mm512_mul_ps(halfsLow(dm), _mm512_cvtepi32_ps(sc))
        let mn = _mm512_mul_ps(halfsHigh(dm), _mm512_cvtepi32_ps(m))
        return (d, _mm512_sub_ps(_mm512_setzero_ps(), mn))
    }
    @inline(__always) static func pack(_ rows: UnsafePointer<UnsafeRawPointer>, _ b: Int, _ out: UnsafeMutablePointer<__m512i>) {
        let j = b % 8, off = (b / 8) * 144 + 16 + 32 * (j / 2)
        let shift = _mm512_set1_epi32(Int32(4 * (j & 1))), mask = _mm512_set1_epi8(0x0F)
        let (w0, w1, w2, w3) = transpose16x4(rows, off)
        let (w4, w5, w6, w7) = transpose16x4(rows, off + 16)
        out[0] = _mm512_and_si512(_mm512_srlv_epi32(w0, shift), mask)
        out[1] = _mm512_and_si512(_mm512_srlv_epi32(w1, shift), mask)
        out[2] = _mm512_and_si512(_mm512_srlv_epi32(w2, shift), mask)
        out[3] = _mm512_and_si512(_mm512_srlv_epi32(w3, shift), mask)
        out[4] = _mm512_and_si512(_mm512_srlv_epi32(w4, shift), mask)
        out[5] = _mm512_and_si512(_mm512_srlv_epi32(w5, shift), mask)
        out[6] = _mm512_and_si512(_mm512_srlv_epi32(w6, shift), mask)
        out[7] = _mm512_and_si512(_mm512_srlv_epi32(w7, shift), mask)
    }
}

// [32]: f16 d, 32 int8; w = d·q = d·(u - 128) with u = q + 128 = q ^ 0x80 as a byte.
struct VNNIQ8_0: VNNIBlock {
    static var blockBytes: Int { 34 }
    static var offset: Int32 { 128 }
    static var hasMin: Bool { false }
    @inline(__always) static func scales(_ rows: UnsafePointer<UnsafeRawPointer>, _ b: Int) -> (__m512, __m512) {
        let d = halfsLow(column0(rows, b * 34))
        return (d, d)
    }
    @inline(__always) static func pack(_ rows: UnsafePointer<UnsafeRawPointer>, _ b: Int, _ out: UnsafeMutablePointer<__m512i>) {
        let flip = _mm512_set1_epi8(-128)
        let (w0, w1, w2, w3) = transpose16x4(rows, b * 34 + 2)
        out[0] = _mm512_xor_si512(w0, flip)
        out[1] = _mm512_xor_si512(w1, flip)
        out[2] = _mm512_xor_si512(w2, flip)
        out[3] = _mm512_xor_si512(w3, flip)
        let (w4, w5, w6, w7) = transpose16x4(rows, b * 34 + 18)
        out[4] = _mm512_xor_si512(w4, flip)
        out[5] = _mm512_xor_si512(w5, flip)
        out[6] = _mm512_xor_si512(w6, flip)
        out[7] = _mm512_xor_si512(w7, flip)
    }
}
#endif
