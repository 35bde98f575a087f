import Foundation
import XCTest
@testable import GGUF
@testable import Kernels

/// Hand-made blocks whose values follow from the ggml layouts by arithmetic,
/// beside the gguf-Python comparison in FixtureTests.
final class DequantizeTests: XCTestCase {
    /// IEEE half decoded field by field, independent of Float16.
    func referenceHalf(_ h: UInt16) -> Float {
        let sign: Float = h & 0x8000 != 0 ? -1 : 1
        let exp = Int((h >> 10) & 0x1F), mant = Int(h & 0x3FF)
        if exp == 0 { return sign * Float(mant) * 0x1p-24 }
        if exp == 31 { return mant == 0 ? sign * .infinity : .nan }
        return sign * (1 + Float(mant) / 1024) * Float(sign: .plus, exponent: exp - 15, significand: 1)
    }

    func testHalfToFloatForAllBitPatterns() {
        for h in 0...UInt16.max {
            let got = halfToFloat(h), want = referenceHalf(h)
            if want.isNaN {
                XCTAssertTrue(got.isNaN, "0x\(String(h, radix: 16))")
            } else if got.bitPattern != want.bitPattern {
                XCTFail("half 0x\(String(h, radix: 16)): \(got) != \(want)")
                return
            }
        }
    }

    func dequant(_ type: GGMLType, _ bytes: [UInt8], count: Int) throws -> [Float] {
        var out = [Float](repeating: .nan, count: count)
        try bytes.withUnsafeBytes { try Dequantize.row(type, $0.baseAddress!, count: count, into: &out) }
        return out
    }

    func half(_ x: Float) -> [UInt8] {
        let h = Float16(x).bitPattern
        return [UInt8(h & 0xFF), UInt8(h >> 8)]
    }

    func testQ8_0Block() throws {
        let qs = (0..<32).map { Int8($0 * 8 - 128) }
        let got = try dequant(.q8_0, half(0.5) + qs.map { UInt8(bitPattern: $0) }, count: 32)
        XCTAssertEqual(got, qs.map { Float($0) * 0.5 })
    }

    func testQ4_0AndQ4_1Blocks() throws {
        // Byte j holds element j in its low nibble and element j+16 in its high one.
        let nibbles = (0..<16).map { UInt8($0) | UInt8(15 - $0) << 4 }
        let q40 = try dequant(.q4_0, half(2) + nibbles, count: 32)
        XCTAssertEqual(Array(q40[..<16]), (0..<16).map { Float($0 - 8) * 2 })
        XCTAssertEqual(Array(q40[16...]), (0..<16).map { Float(15 - $0 - 8) * 2 })
        let q41 = try dequant(.q4_1, half(0.25) + half(-1) + nibbles, count: 32)
        XCTAssertEqual(Array(q41[..<16]), (0..<16).map { Float($0) * 0.25 - 1 })
        XCTAssertEqual(Array(q41[16...]), (0..<16).map { Float(15 - $0) * 0.25 - 1 })
    }

    func testQ5_0AndQ5_1FifthBits() throws {
        // qh bit j is element j's fifth bit, bit j+16 element j+16's.
        let qh: UInt32 = 0xA5A5_0F0F
        let qhBytes = (0..<4).map { UInt8(truncatingIfNeeded: qh >> (8 * UInt32($0))) }
        let qs = (0..<16).map { UInt8($0) | UInt8($0) << 4 }
        let want0 = (0..<32).map { i -> Float in
            let q = (i % 16) | Int((qh >> UInt32(i)) & 1) << 4
            return Float(q - 16) * 1.5
        }
        XCTAssertEqual(try dequant(.q5_0, half(1.5) + qhBytes + qs, count: 32), want0)
        let want1 = (0..<32).map { i -> Float in
            let q = (i % 16) | Int((qh >> UInt32(i)) & 1) << 4
            return Float(q) * 0.5 + 3
        }
        XCTAssertEqual(try dequant(.q5_1, half(0.5) + half(3) + qhBytes + qs, count: 32), want1)
    }

    func testQ6_KScalesAndSigns() throws {
        // All quants 0 (value -32 after the offset), 16 scales of 1..16, d = 1.
        let ql = [UInt8](repeating: 0, count: 128), qh = [UInt8](repeating: 0, count: 64)
        let sc = (1...16).map { UInt8($0) }
        let got = try dequant(.q6_K, ql + qh + sc + half(1), count: 256)
        // Element i belongs to the 16-element group i/16, scaled by that group's scale.
        XCTAssertEqual(got, (0..<256).map { Float(-32 * ($0 / 16 + 1)) })
    }

    func testQ3_KScalesHighBitsAndSigns() throws {
        // hmask byte l: bit 4n + j is the high bit of element 128n + 32j + l (set: value = low bits;
        // clear: low bits − 4); a different pattern in every byte, so each bit's place is checked.
        let hmask = (0..<32).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) }
        // qs byte 32n + l: bits 2j hold quarter j's low bits; 0b11_10_01_00 gives quarter j the value j.
        let qs = [UInt8](repeating: 0xE4, count: 64)
        // Unit g < 8 takes byte g's low nibble, g ≥ 8 byte g − 8's high nibble: g itself here; the top
        // two bits of units 0, 4, 8, 12 come from byte 8 (bits 0-1, 2-3, 4-5, 6-7): 0, 1, 2, 3.
        let scales = (0..<8).map { UInt8($0) | UInt8($0 + 8) << 4 } + [0b11_10_01_00, 0, 0, 0]
        let got = try dequant(.q3_K, hmask + qs + scales + half(0.5), count: 256)
        for e in 0..<256 {
            let g = e / 16, n = e / 128, j = (e % 128) / 32, l = e % 32
            let scale = g + (g % 4 == 0 ? 16 * (g / 4) : 0) - 32
            let value = j - ((Int(hmask[l]) >> (4 * n + j)) & 1 == 1 ? 0 : 4)
            XCTAssertEqual(got[e], 0.5 * Float(scale) * Float(value), "element \(e)")
        }
    }

    func testQ2_KScalesAndMins() throws {
        // Scale byte g: scale g % 16 in the low nibble, min 15 − g in the high one; qs as Q3_K's low
        // bits (0b11_10_01_00: quarter j of each 128 gets the value j); d = 0.5, dmin = 0.25.
        let scales = (0..<16).map { UInt8($0) | UInt8(15 - $0) << 4 }
        let qs = [UInt8](repeating: 0xE4, count: 64)
        let got = try dequant(.q2_K, scales + qs + half(0.5) + half(0.25), count: 256)
        for e in 0..<256 {
            let g = e / 16, j = (e % 128) / 32
            XCTAssertEqual(got[e], 0.5 * Float(g) * Float(j) - 0.25 * Float(15 - g), "element \(e)")
        }
    }

    func testQ4_KSubBlockScalesAndMins() throws {
        // Scale bytes: sub-blocks 0-3 take 6 bits of bytes 0-3 (scale) and 4-7 (min);
        // 4-7 take low/high nibbles of bytes 8-11 plus the top 2 bits of bytes 0-7.
        let scales: [UInt8] = [1, 2, 3, 0x40 | 4, 5, 6, 7, 8, 0x21, 0x43, 0x65, 0x87]
        let qs = [UInt8](repeating: 0x21, count: 128)  // low nibble 1, high nibble 2
        let got = try dequant(.q4_K, half(1) + half(0.5) + scales + qs, count: 256)
        let sc: [Float] = [1, 2, 3, 4, 1, 3, 5, 7 + 16]  // sub-block 7 gets bit 6 of byte 3 as its 16
        let mn: [Float] = [5, 6, 7, 8, 2, 4, 6, 8]
        for i in 0..<256 {
            let s = i / 32, q: Float = (s % 2 == 0) ? 1 : 2
            XCTAssertEqual(got[i], sc[s] * q - 0.5 * mn[s], "element \(i)")
        }
    }

    func testUnsupportedTypesThrow() {
        for t in [GGMLType.q8_1, .q8_K] {
            XCTAssertFalse(Dequantize.supports(t))
            XCTAssertThrowsError(try dequant(t, [UInt8](repeating: 0, count: t.blockBytes), count: t.blockSize))
        }
    }

    /// With general.alignment 1 the F32 data can start at an odd address: it must be
    /// read as bytes, not through a Float pointer.
    func testF32AtAnUnalignedAddress() throws {
        var b = GGUFBytes.header(tensors: 1, kvs: 1)
        b.kvU32("general.alignment", 1)
        b.tensor("t", dims: [4], type: 0, offset: 1)
        b.u8(0xEE)
        for x: Float in [1.5, -2, 1e-30, .infinity] { b.f32(x) }
        let h = try parseGGUF(b.bytes)
        let t = try XCTUnwrap(h.tensors.first)
        XCTAssertNotEqual((h.dataOffset + t.offset) % 4, 0, "the test needs an unaligned start")
        var out = [Float](repeating: 0, count: 4)
        try b.bytes.withUnsafeBytes { try Dequantize.row(.f32, $0.baseAddress! + h.dataOffset + t.offset, count: 4, into: &out) }
        XCTAssertEqual(out, [1.5, -2, 1e-30, .infinity])
    }
}
