#if arch(x86_64)
import _Builtin_intrinsics.intel

/// How a weight format's 32 quants meet the int8 activations in `vpmaddubsw`
/// (unsigned × signed bytes): unsigned quants with a float min per block, signed
/// quants through the sign trick, or Q6_K's unsigned quants with int16 scales per 16.
enum BlockKind { case unsignedWithMin, signed, q6 }

/// One ggml weight format seen as a row of 32-element blocks. Generic kernels are
/// specialized per format, so these calls inline into the inner loop.
protocol AVX2Block {
    static var kind: BlockKind { get }
    /// Float scale and min of each of the row's `nb` 32-blocks: w = dR · q + mR.
    static func scales(_ row: UnsafeRawPointer, _ nb: Int, _ dR: UnsafeMutablePointer<Float>, _ mR: UnsafeMutablePointer<Float>)
    /// The 32 quants of block b as bytes, in element order.
    static func quants(_ row: UnsafeRawPointer, _ b: Int) -> __m256i
    /// Q6_K only: int16 scales, the first 8 lanes for elements 0..15, the last 8 for 16..31.
    static func scale16(_ row: UnsafeRawPointer, _ b: Int) -> __m256i
    /// Q6_K only: the int8 scales of elements 0..15 and 16..31 of block b.
    static func subScales(_ row: UnsafeRawPointer, _ b: Int) -> (Float, Float)
    /// Whether block b's scale and min can be read on their own (32-element formats):
    /// generation then decodes them inside the dot loop instead of in a separate pass.
    static var perBlockScales: Bool { get }
    static func blockScale(_ row: UnsafeRawPointer, _ b: Int) -> (Float, Float)
}

extension AVX2Block {
    @inline(__always) static func scale16(_ row: UnsafeRawPointer, _ b: Int) -> __m256i { _mm256_setzero_si256() }
    @inline(__always) static func subScales(_ row: UnsafeRawPointer, _ b: Int) -> (Float, Float) { (1, 1) }
    static var perBlockScales: Bool { false }
    @inline(__always) static func blockScale(_ row: UnsafeRawPointer, _ b: Int) -> (Float, Float) { (0, 0) }
}

@inline(__always) func half(_ p: UnsafeRawPointer, _ off: Int) -> Float {
    Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: off, as: UInt16.self)))  // vcvtph2ps
}

@inline(__always) func load128(_ p: UnsafeRawPointer) -> __m128i { _mm_loadu_si128(p.assumingMemoryBound(to: __m128i.self)) }
@inline(__always) func load256(_ p: UnsafeRawPointer) -> __m256i { _mm256_loadu_si256(p.assumingMemoryBound(to: __m256i.self)) }

/// 16 bytes of nibbles → 32 bytes: low nibbles are elements 0..15, high ones 16..31.
@inline(__always) func nibbles16(_ p: UnsafeRawPointer) -> __m256i {
    let lo = load128(p)
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(lo, 4), lo), _mm256_set1_epi8(0x0F))
}

/// Bit j of x → byte j of the result, as 0xFF or 0 (ggml's bytes_from_bits_32).
@inline(__always) func bytesFromBits32(_ x: UInt32) -> __m256i {
    let shuf = _mm256_setr_epi64x(0, 0x0101_0101_0101_0101, 0x0202_0202_0202_0202, 0x0303_0303_0303_0303)
    let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(Int32(bitPattern: x)), shuf)
    let bit = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7FBF_DFEF_F7FB_FDFE))
    return _mm256_cmpeq_epi8(bit, _mm256_set1_epi64x(-1))
}

// [32]: f16 d, 16 nibble bytes; w = d·(n - 8).
struct Q4_0Block: AVX2Block {
    static var kind: BlockKind { .unsignedWithMin }
    @inline(__always) static func scales(_ row: UnsafeRawPointer, _ nb: Int, _ dR: UnsafeMutablePointer<Float>, _ mR: UnsafeMutablePointer<Float>) {
        for b in 0..<nb { let d = half(row, b * 18); dR[b] = d; mR[b] = -8 * d }
    }
    @inline(__always) static func quants(_ row: UnsafeRawPointer, _ b: Int) -> __m256i { nibbles16(row + b * 18 + 2) }
    static var perBlockScales: Bool { true }
    @inline(__always) static func blockScale(_ row: UnsafeRawPointer, _ b: Int) -> (Float, Float) { let d = half(row, b * 18); return (d, -8 * d) }
}

// [32]: f16 d, f16 m, 16 nibble bytes; w = d·n + m.
struct Q4_1Block: AVX2Block {
    static var kind: BlockKind { .unsignedWithMin }
    @inline(__always) static func scales(_ row: UnsafeRawPointer, _ nb: Int, _ dR: UnsafeMutablePointer<Float>, _ mR: UnsafeMutablePointer<Float>) {
        for b in 0..<nb { dR[b] = half(row, b * 20); mR[b] = half(row, b * 20 + 2) }
    }
    @inline(__always) static func quants(_ row: UnsafeRawPointer, _ b: Int) -> __m256i { nibbles16(row + b * 20 + 4) }
    static var perBlockScales: Bool { true }
    @inline(__always) static func blockScale(_ row: UnsafeRawPointer, _ b: Int) -> (Float, Float) { (half(row, b * 20), half(row, b * 20 + 2)) }
}

// [32]: f16 d, u32 fifth bits, 16 nibble bytes; w = d·(n | h<<4 - 16).
struct Q5_0Block: AVX2Block {
    static var kind: BlockKind { .unsignedWithMin }
    @inline(__always) static func scales(_ row: UnsafeRawPointer, _ nb: Int, _ dR: UnsafeMutablePointer<Float>, _ mR: UnsafeMutablePointer<Float>) {
        for b in 0..<nb { let d = half(row, b * 22); dR[b] = d; mR[b] = -16 * d }
    }
    @inline(__always) static func quants(_ row: UnsafeRawPointer, _ b: Int) -> __m256i {
        let p = row + b * 22
        let hi = _mm256_and_si256(bytesFromBits32(p.loadUnaligned(fromByteOffset: 2, as: UInt32.self)), _mm256_set1_epi8(0x10))
        return _mm256_or_si256(nibbles16(p + 6), hi)
    }
    static var perBlockScales: Bool { true }
    @inline(__always) static func blockScale(_ row: UnsafeRawPointer, _ b: Int) -> (Float, Float) { let d = half(row, b * 22); return (d, -16 * d) }
}

// [32]: f16 d, 32 int8; w = d·q.
struct Q8_0Block: AVX2Block {
    static var kind: BlockKind { .signed }
    @inline(__always) static func scales(_ row: UnsafeRawPointer, _ nb: Int, _ dR: UnsafeMutablePointer<Float>, _ mR: UnsafeMutablePointer<Float>) {
        for b in 0..<nb { dR[b] = half(row, b * 34) }
    }
    @inline(__always) static func quants(_ row: UnsafeRawPointer, _ b: Int) -> __m256i { load256(row + b * 34 + 2) }
    static var perBlockScales: Bool { true }
    @inline(__always) static func blockScale(_ row: UnsafeRawPointer, _ b: Int) -> (Float, Float) { (half(row, b * 34), 0) }
}

// [256]: f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 nibble bytes. Sub-block j
// (32 elements) is the low (j even) or high (j odd) nibbles of bytes 32·(j/2)..<32·(j/2)+32.
struct Q4_KBlock: AVX2Block {
    static var kind: BlockKind { .unsignedWithMin }
    @inline(__always) static func scales(_ row: UnsafeRawPointer, _ nb: Int, _ dR: UnsafeMutablePointer<Float>, _ mR: UnsafeMutablePointer<Float>) {
        for sb in 0..<nb / 8 {
            let p = row + sb * 144
            let d = half(p, 0), dmin = half(p, 2)
            let q = (p + 4).assumingMemoryBound(to: UInt8.self)
            for j in 0..<8 {
                let sc: UInt8, m: UInt8
                if j < 4 {
                    sc = q[j] & 63; m = q[j + 4] & 63
                } else {
                    sc = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4)
                    m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4)
                }
                dR[sb * 8 + j] = d * Float(sc)
                mR[sb * 8 + j] = -dmin * Float(m)
            }
        }
    }
    @inline(__always) static func quants(_ row: UnsafeRawPointer, _ b: Int) -> __m256i {
        let j = b & 7
        let q = load256(row + (b >> 3) * 144 + 16 + (j >> 1) * 32)
        return _mm256_and_si256(_mm256_srli_epi16(q, Int32((j & 1) * 4)), _mm256_set1_epi8(0x0F))
    }
}

// [256]: 128 low-nibble bytes, 64 bytes of 2 high bits, 16 int8 scales (one per 16), f16 d.
// Block b = 4h + g of a super-block: ql at 64h + 32(g & 1) (high nibble when g ≥ 2),
// high bits at 128 + 32h shifted by 2g; w = d · sc · (q - 32).
struct Q6_KBlock: AVX2Block {
    static var kind: BlockKind { .q6 }
    @inline(__always) static func scales(_ row: UnsafeRawPointer, _ nb: Int, _ dR: UnsafeMutablePointer<Float>, _ mR: UnsafeMutablePointer<Float>) {
        for sb in 0..<nb / 8 {
            let d = half(row + sb * 210, 208)
            for j in 0..<8 { dR[sb * 8 + j] = d }
        }
    }
    @inline(__always) static func quants(_ row: UnsafeRawPointer, _ b: Int) -> __m256i {
        let p = row + (b >> 3) * 210
        let h = (b >> 2) & 1, g = b & 3
        let ql = load256(p + 64 * h + 32 * (g & 1))
        let lo = _mm256_and_si256(_mm256_srli_epi16(ql, Int32((g >> 1) * 4)), _mm256_set1_epi8(0x0F))
        let qh = _mm256_and_si256(_mm256_srli_epi16(load256(p + 128 + 32 * h), Int32(2 * g)), _mm256_set1_epi8(3))
        return _mm256_or_si256(lo, _mm256_slli_epi16(qh, 4))
    }
    @inline(__always) static func scale16(_ row: UnsafeRawPointer, _ b: Int) -> __m256i {
        let p = row + (b >> 3) * 210 + 192
        let i = 8 * ((b >> 2) & 1) + 2 * (b & 3)
        let s0 = Int16(p.load(fromByteOffset: i, as: Int8.self)), s1 = Int16(p.load(fromByteOffset: i + 1, as: Int8.self))
        return _mm256_set_m128i(_mm_set1_epi16(s1), _mm_set1_epi16(s0))
    }
    @inline(__always) static func subScales(_ row: UnsafeRawPointer, _ b: Int) -> (Float, Float) {
        let p = row + (b >> 3) * 210 + 192
        let i = 8 * ((b >> 2) & 1) + 2 * (b & 3)
        return (Float(p.load(fromByteOffset: i, as: Int8.self)), Float(p.load(fromByteOffset: i + 1, as: Int8.self)))
    }
}
#endif
