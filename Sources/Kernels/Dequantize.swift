import GGUF

/// Reference dequantization of every supported ggml block format into floats.
/// These loops follow the block layouts of ggml-quants literally; they are the
/// oracle the fast kernels are tested against, and the path for rare types.
public enum Dequantize {
    public enum Failure: Error, CustomStringConvertible {
        case unsupported(GGMLType)
        public var description: String {
            if case let .unsupported(t) = self { return "tensor type \(t.name) cannot be dequantized yet" }
            return "dequantize failed"
        }
    }

    /// Types `row(_:)` can convert.
    public static func supports(_ type: GGMLType) -> Bool {
        switch type {
        case .q8_1, .q8_K: return false
        default: return true
        }
    }

    /// Dequantizes `count` elements (a multiple of the type's block size) starting at `src`.
    public static func row(_ type: GGMLType, _ src: UnsafeRawPointer, count: Int, into dst: UnsafeMutablePointer<Float>) throws {
        guard supports(type) else { throw Failure.unsupported(type) }
        convert(type, src, count: count, into: dst)
    }

    /// `row` for a supported type. Apart, and not inlined into it: with the switch below in the throwing
    /// function, the release build (Swift 6.3) used the error register (r12) for a block size and
    /// returned it as a thrown error from every case (a crash at load once the switch grew by IQ4_NL).
    @inline(never)
    static func convert(_ type: GGMLType, _ src: UnsafeRawPointer, count: Int, into dst: UnsafeMutablePointer<Float>) {
        let blocks = count / type.blockSize
        let bb = type.blockBytes
        switch type {
        case .f32:
            // Bytes, not Float: with general.alignment 1 or 2 the data need not be 4-aligned.
            UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: count * 4)
        case .f16:
            for i in 0..<count { dst[i] = halfToFloat(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) }
        case .bf16:
            for i in 0..<count {
                dst[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
            }
        case .q4_0:
            for b in 0..<blocks { q4_0(src + b * bb, dst + b * 32) }
        case .q4_1:
            for b in 0..<blocks { q4_1(src + b * bb, dst + b * 32) }
        case .q5_0:
            for b in 0..<blocks { q5_0(src + b * bb, dst + b * 32) }
        case .q5_1:
            for b in 0..<blocks { q5_1(src + b * bb, dst + b * 32) }
        case .q8_0:
            for b in 0..<blocks { q8_0(src + b * bb, dst + b * 32) }
        case .q4_K:
            for b in 0..<blocks { q4_K(src + b * bb, dst + b * 256) }
        case .q5_K:
            for b in 0..<blocks { q5_K(src + b * bb, dst + b * 256) }
        case .q6_K:
            for b in 0..<blocks { q6_K(src + b * bb, dst + b * 256) }
        case .q3_K:
            for b in 0..<blocks { q3_K(src + b * bb, dst + b * 256) }
        case .q2_K:
            for b in 0..<blocks { q2_K(src + b * bb, dst + b * 256) }
        case .iq4_xs:
            for b in 0..<blocks { iq4_xs(src + b * bb, dst + b * 256) }
        case .iq4_nl:
            for b in 0..<blocks { iq4_nl(src + b * bb, dst + b * 32) }
        case .q8_1, .q8_K:
            preconditionFailure("\(type.name) cannot be dequantized (`supports` is false)")
        }
    }

    @inline(__always) static func half(_ p: UnsafeRawPointer, _ off: Int) -> Float {
        halfToFloat(p.loadUnaligned(fromByteOffset: off, as: UInt16.self))
    }

    // [32]: f16 d, 16 bytes: low nibbles are elements 0..15, high nibbles 16..31, offset 8.
    static func q4_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        let qs = p.advanced(by: 2).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            y[j] = Float(Int(qs[j] & 0x0F) - 8) * d
            y[j + 16] = Float(Int(qs[j] >> 4) - 8) * d
        }
    }

    // [32]: f16 d, f16 m, 16 nibble bytes: x = q * d + m.
    static func q4_1(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), m = half(p, 2)
        let qs = p.advanced(by: 4).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            y[j] = Float(qs[j] & 0x0F) * d + m
            y[j + 16] = Float(qs[j] >> 4) * d + m
        }
    }

    // [32]: f16 d, 32 fifth bits in a u32, 16 nibble bytes; offset 16.
    static func q5_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        let qh = p.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
        let qs = p.advanced(by: 6).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            let h0 = Int((qh >> UInt32(j)) << 4) & 0x10
            let h1 = Int(qh >> UInt32(j + 12)) & 0x10
            y[j] = Float((Int(qs[j] & 0x0F) | h0) - 16) * d
            y[j + 16] = Float((Int(qs[j] >> 4) | h1) - 16) * d
        }
    }

    // [32]: f16 d, f16 m, u32 fifth bits, 16 nibble bytes.
    static func q5_1(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), m = half(p, 2)
        let qh = p.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
        let qs = p.advanced(by: 8).assumingMemoryBound(to: UInt8.self)
        for j in 0..<16 {
            let h0 = Int((qh >> UInt32(j)) << 4) & 0x10
            let h1 = Int(qh >> UInt32(j + 12)) & 0x10
            y[j] = Float(Int(qs[j] & 0x0F) | h0) * d + m
            y[j + 16] = Float(Int(qs[j] >> 4) | h1) * d + m
        }
    }

    // [32]: f16 d, 32 int8.
    static func q8_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        for j in 0..<32 { y[j] = Float(p.load(fromByteOffset: 2 + j, as: Int8.self)) * d }
    }

    /// The 6-bit scale and min of sub-block j (0..<8) packed in the 12 scale bytes of Q4_K/Q5_K.
    @inline(__always) static func scaleMinK4(_ j: Int, _ q: UnsafePointer<UInt8>) -> (Float, Float) {
        if j < 4 {
            return (Float(q[j] & 63), Float(q[j + 4] & 63))
        }
        let sc = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4)
        let m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4)
        return (Float(sc), Float(m))
    }

    // [256]: f16 d, f16 dmin, 12 scale bytes, 128 nibble bytes; 8 sub-blocks of 32.
    static func q4_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), dmin = half(p, 2)
        let scales = p.advanced(by: 4).assumingMemoryBound(to: UInt8.self)
        var q = p.advanced(by: 16).assumingMemoryBound(to: UInt8.self)
        var out = y
        for j in stride(from: 0, to: 8, by: 2) {
            let (s1, m1) = scaleMinK4(j, scales), (s2, m2) = scaleMinK4(j + 1, scales)
            let d1 = d * s1, mm1 = dmin * m1, d2 = d * s2, mm2 = dmin * m2
            for l in 0..<32 { out[l] = d1 * Float(q[l] & 0x0F) - mm1 }
            for l in 0..<32 { out[l + 32] = d2 * Float(q[l] >> 4) - mm2 }
            q += 32
            out += 64
        }
    }

    // [256]: f16 d, f16 dmin, 12 scale bytes, 32 high-bit bytes, 128 nibble bytes.
    static func q5_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), dmin = half(p, 2)
        let scales = p.advanced(by: 4).assumingMemoryBound(to: UInt8.self)
        let qh = p.advanced(by: 16).assumingMemoryBound(to: UInt8.self)
        var ql = p.advanced(by: 48).assumingMemoryBound(to: UInt8.self)
        var out = y
        var u1: UInt8 = 1, u2: UInt8 = 2
        for j in stride(from: 0, to: 8, by: 2) {
            let (s1, m1) = scaleMinK4(j, scales), (s2, m2) = scaleMinK4(j + 1, scales)
            let d1 = d * s1, mm1 = dmin * m1, d2 = d * s2, mm2 = dmin * m2
            for l in 0..<32 { out[l] = d1 * Float(Int(ql[l] & 0x0F) + (qh[l] & u1 != 0 ? 16 : 0)) - mm1 }
            for l in 0..<32 { out[l + 32] = d2 * Float(Int(ql[l] >> 4) + (qh[l] & u2 != 0 ? 16 : 0)) - mm2 }
            ql += 32
            out += 64
            u1 <<= 2
            u2 <<= 2
        }
    }

    // [256]: 128 low-nibble bytes, 64 high-2-bit bytes, 16 int8 scales, f16 d.
    static func q6_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 208)
        var ql = p.assumingMemoryBound(to: UInt8.self)
        var qh = p.advanced(by: 128).assumingMemoryBound(to: UInt8.self)
        var sc = p.advanced(by: 192).assumingMemoryBound(to: Int8.self)
        var out = y
        for _ in 0..<2 {
            for l in 0..<32 {
                let s = l / 16
                let q1 = Int((ql[l] & 0x0F) | ((qh[l] >> 0) & 3) << 4) - 32
                let q2 = Int((ql[l + 32] & 0x0F) | ((qh[l] >> 2) & 3) << 4) - 32
                let q3 = Int((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32
                let q4 = Int((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32
                out[l] = d * Float(sc[s]) * Float(q1)
                out[l + 32] = d * Float(sc[s + 2]) * Float(q2)
                out[l + 64] = d * Float(sc[s + 4]) * Float(q3)
                out[l + 96] = d * Float(sc[s + 6]) * Float(q4)
            }
            out += 128
            ql += 64
            qh += 32
            sc += 8
        }
    }
}

extension Dequantize {
    /// The 6-bit scale of Q3_K's unit g (0..<16) from its 12 scale bytes, less 32 (−32...31): the low
    /// four bits are byte g's (g < 8; else byte g − 8's high nibble), the top two bits 2·(g / 4)
    /// of byte 8 + g % 4.
    @inline(__always) static func scaleQ3K(_ g: Int, _ sc: UnsafeRawPointer) -> Int32 {
        @inline(__always) func byte(_ i: Int) -> UInt8 { sc.load(fromByteOffset: i, as: UInt8.self) }
        let low = g < 8 ? byte(g) & 0x0F : byte(g - 8) >> 4
        let top = (byte(8 + g % 4) >> (2 * UInt8(g / 4))) & 3
        return Int32(low | top << 4) - 32
    }

    /// Q3_K's element e (0..<256) of the super-block at `p`, −4...3: two low bits of byte
    /// 32·(e / 128) + e % 32 of `qs` (bits 2·((e % 128) / 32)), and a high bit from `hmask` byte e % 32
    /// (bit (e / 32)), set for the upper half of the range.
    @inline(__always) static func elementQ3K(_ e: Int, _ p: UnsafeRawPointer) -> Int32 {
        let n = e / 128, j = (e % 128) / 32, l = e % 32
        let low = (p.load(fromByteOffset: 32 + 32 * n + l, as: UInt8.self) >> (2 * UInt8(j))) & 3
        let high = (p.load(fromByteOffset: l, as: UInt8.self) >> UInt8(4 * n + j)) & 1
        return Int32(low) - (high == 0 ? 4 : 0)
    }

    // [256]: 32 high-bit bytes, 64 bytes of 2-bit quants, 12 bytes of 6-bit scales, f16 d;
    // 16 units of 16 elements, x = d · (scale − 32) · q.
    static func q3_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 108)
        for g in 0..<16 {
            let dl = d * Float(scaleQ3K(g, p + 96))
            for i in 0..<16 { y[16 * g + i] = dl * Float(elementQ3K(16 * g + i, p)) }
        }
    }
}

extension Dequantize {
    /// Q2_K's element e (0..<256) of the super-block at `p`, 0...3: bits 2·((e % 128) / 32) of byte
    /// 32·(e / 128) + e % 32 of its quants (Q3_K's two low bits, in the same order).
    @inline(__always) static func elementQ2K(_ e: Int, _ p: UnsafeRawPointer) -> Int32 {
        let n = e / 128, j = (e % 128) / 32, l = e % 32
        return Int32((p.load(fromByteOffset: 16 + 32 * n + l, as: UInt8.self) >> (2 * UInt8(j))) & 3)
    }

    // [256]: 16 bytes of a 4-bit scale and a 4-bit min (high nibble) per unit of 16, 64 bytes of
    // 2-bit quants, f16 d, f16 dmin: x = d · scale · q − dmin · min.
    static func q2_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 80), dmin = half(p, 82)
        for g in 0..<16 {
            let sc = p.load(fromByteOffset: g, as: UInt8.self)
            let dl = d * Float(sc & 0x0F), ml = dmin * Float(sc >> 4)
            for i in 0..<16 { y[16 * g + i] = dl * Float(elementQ2K(16 * g + i, p)) - ml }
        }
    }
}

extension Dequantize {
    /// IQ4_NL's and IQ4_XS's 16 levels (ggml's `kvalues_iq4nl`): a nibble picks one, non-linearly spaced.
    public static let iq4Levels: [Int8] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]

    /// IQ4_XS's scale of sub-block j (0..<8, 32 elements each), less 32 (−32...31): the low four bits
    /// from nibble j % 2 of byte 4 + j / 2, the top two from bits 2j, 2j + 1 of the u16 at 2.
    @inline(__always) static func scaleIQ4XS(_ j: Int, _ p: UnsafeRawPointer) -> Int32 {
        let low = (p.load(fromByteOffset: 4 + j / 2, as: UInt8.self) >> (4 * UInt8(j % 2))) & 0x0F
        let high = (p.loadUnaligned(fromByteOffset: 2, as: UInt16.self) >> (2 * UInt16(j))) & 3
        return (Int32(low) | Int32(high) << 4) - 32
    }

    /// IQ4_XS's element e (0..<256) of the super-block at `p` as its level: sub-block j = e / 32 keeps
    /// its first 16 elements in the low nibbles of bytes 8 + 16j..., the next 16 in the high ones.
    @inline(__always) static func elementIQ4XS(_ e: Int, _ p: UnsafeRawPointer) -> Int32 {
        let j = e / 32, l = e % 32
        let byte = p.load(fromByteOffset: 8 + 16 * j + l % 16, as: UInt8.self)
        return Int32(iq4Levels[Int(l < 16 ? byte & 0x0F : byte >> 4)])
    }

    // [32]: f16 d, 16 nibble bytes (byte j: element j low, j + 16 high); x = d · level(n).
    static func iq4_nl(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        for j in 0..<16 {
            let byte = p.load(fromByteOffset: 2 + j, as: UInt8.self)
            y[j] = d * Float(iq4Levels[Int(byte & 0x0F)])
            y[j + 16] = d * Float(iq4Levels[Int(byte >> 4)])
        }
    }

    // [256]: f16 d, u16 of scales' top bits, 4 bytes of their low nibbles, 128 nibble bytes:
    // x = d · (scale − 32) · level(n), per sub-block of 32.
    static func iq4_xs(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        for j in 0..<8 {
            let dl = d * Float(scaleIQ4XS(j, p))
            for l in 0..<32 { y[32 * j + l] = dl * Float(elementIQ4XS(32 * j + l, p)) }
        }
    }
}

/// IEEE half to float, exact for every bit pattern (subnormals, inf, NaN).
@inline(__always) public func halfToFloat(_ h: UInt16) -> Float {
    #if arch(x86_64) || arch(arm64)
    return Float(Float16(bitPattern: h))
    #else
    let sign = UInt32(h & 0x8000) << 16
    let exp = Int((h >> 10) & 0x1F), mant = UInt32(h & 0x3FF)
    if exp == 0 { return Float(bitPattern: sign) + (sign != 0 ? -1 : 1) * Float(mant) * 0x1p-24 }
    if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }
    return Float(bitPattern: sign | UInt32(exp + 112) << 23 | (mant << 13))
    #endif
}

/// Float to IEEE half, rounding to nearest even (overflow → inf, NaN kept NaN).
@inline(__always) public func floatToHalf(_ f: Float) -> UInt16 {
    #if arch(x86_64) || arch(arm64)
    return Float16(f).bitPattern
    #else
    let b = f.bitPattern
    let sign = UInt16((b >> 16) & 0x8000)
    let exp = Int((b >> 23) & 0xFF) - 127, mant = b & 0x7F_FFFF
    if exp == 128 { return sign | 0x7C00 | (mant != 0 ? 0x200 : 0) }
    if exp > 15 { return sign | 0x7C00 }
    if exp >= -14 {  // normal: round the 13 dropped bits to nearest even
        var h = UInt32(exp + 15) << 10 | (mant >> 13)
        let rest = mant & 0x1FFF
        if rest > 0x1000 || (rest == 0x1000 && h & 1 == 1) { h += 1 }
        return sign | UInt16(h)
    }
    if exp < -25 { return sign }
    let m = mant | 0x80_0000, shift = UInt32(-exp - 1)  // subnormal: value = m · 2^(exp-23), unit 2^-24
    var h = m >> shift
    let rest = m & ((1 << shift) - 1), halfway = UInt32(1) << (shift - 1)
    if rest > halfway || (rest == halfway && h & 1 == 1) { h += 1 }
    return sign | UInt16(h)
    #endif
}
