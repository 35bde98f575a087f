import Foundation
import XCTest
@testable import GGUF
import Kernels

/// Reads the files that scripts/make_gguf_fixtures.py wrote with the Python `gguf`
/// package and checks every value against what that package wrote or computed.
final class FixtureTests: XCTestCase {
    /// all_types.expected.json: the tensor table as gguf.GGUFReader sees it.
    struct Expected: Decodable {
        struct Tensor: Decodable {
            let name: String
            let type: UInt32
            let dims: [Int]
            let offset: Int
            let bytes: Int
            let first: Int
            let count: Int
        }
        let alignment: Int
        let data_offset: Int
        let tensors: [Tensor]
    }

    func openAllTypes() throws -> GGUFFile {
        try GGUFFile(path: Fixtures.url("all_types.gguf").path)
    }

    func testMetadataValuesAndTypesReadBackExactly() throws {
        let f = try openAllTypes()
        XCTAssertEqual(f.version, 3)
        let m = f.metadata
        XCTAssertEqual(m["general.architecture"], .string("test"))
        XCTAssertEqual(m["general.alignment"], .uint32(64))
        // Each scalar type keeps its own case and its extreme value.
        XCTAssertEqual(m["test.u8"], .uint8(255))
        XCTAssertEqual(m["test.i8"], .int8(-128))
        XCTAssertEqual(m["test.u16"], .uint16(65535))
        XCTAssertEqual(m["test.i16"], .int16(-32768))
        XCTAssertEqual(m["test.u32"], .uint32(4_294_967_295))
        XCTAssertEqual(m["test.i32"], .int32(-2_147_483_648))
        XCTAssertEqual(m["test.u64"], .uint64(UInt64.max))
        XCTAssertEqual(m["test.i64"], .int64(Int64.min))
        XCTAssertEqual(m["test.f32"], .float32(Float(bitPattern: 0x4049_0FDB)))  // float32 pi
        XCTAssertEqual(m["test.f64"], .float64(-2.5e-300))
        XCTAssertEqual(m["test.bool_true"], .bool(true))
        XCTAssertEqual(m["test.bool_false"], .bool(false))
        XCTAssertEqual(m["test.string"], .string("h\u{e9}llo \u{2713} \u{1F30D}"))
        XCTAssertEqual(m["test.empty_string"], .string(""))
        XCTAssertEqual(m["test.array_i32"], .array([.int32(1), .int32(-2), .int32(3), .int32(Int32.max)]))
        XCTAssertEqual(m["test.array_str"], .array([.string("a"), .string(""), .string("\u{fc}\u{df}"), .string("<|im_end|>")]))
        XCTAssertEqual(m["test.array_f32"], .array([.float32(0.5), .float32(-1.25), .float32(Float(0.001 as Double))]))
        XCTAssertEqual(m["test.array_bool"], .array([.bool(true), .bool(false), .bool(true)]))
        XCTAssertEqual(m["test.array_u8"], .array([.uint8(0), .uint8(1), .uint8(0xFE), .uint8(0xFF)]))
        XCTAssertEqual(m["test.array_u64"], .array([.uint64(0), .uint64(UInt64.max)]))
        // Inner arrays of one array may differ in element type, and nest again.
        XCTAssertEqual(m["test.nested"], .array([
            .array([.int32(1), .int32(2), .int32(3)]),
            .array([.string("x"), .string("yz")]),
            .array([.array([.int32(7)]), .array([.int32(8), .int32(9)])]),
        ]))
        XCTAssertEqual(f.header.metadataKeys, [
            "general.architecture", "general.alignment",
            "test.u8", "test.i8", "test.u16", "test.i16", "test.u32", "test.i32", "test.u64", "test.i64",
            "test.f32", "test.f64", "test.bool_true", "test.bool_false", "test.string", "test.empty_string",
            "test.array_i32", "test.array_str", "test.array_f32", "test.array_bool", "test.array_u8",
            "test.array_u64", "test.nested",
        ])
        XCTAssertEqual(m.count, f.header.metadataKeys.count)
    }

    func testTypedAccessors() throws {
        let f = try openAllTypes()
        XCTAssertEqual(try f.int("test.i32"), -2_147_483_648)
        XCTAssertEqual(try f.int("test.u32"), 4_294_967_295)
        XCTAssertThrowsError(try f.int("test.u64")) {  // 2^64-1 does not fit in Int
            XCTAssertEqual($0 as? GGUFError, .wrongValueType(key: "test.u64", expected: "an integer"))
        }
        XCTAssertEqual(try f.float("test.f32"), Float(bitPattern: 0x4049_0FDB))  // not Float.pi, which rounds down
        XCTAssertEqual(try f.float("test.u8"), 255)
        XCTAssertEqual(try f.string("general.architecture"), "test")
        XCTAssertThrowsError(try f.string("test.u8")) {
            XCTAssertEqual($0 as? GGUFError, .wrongValueType(key: "test.u8", expected: "a string"))
        }
        XCTAssertThrowsError(try f.int("no.such.key")) { XCTAssertEqual($0 as? GGUFError, .missingKey("no.such.key")) }
        XCTAssertEqual(f.metadata["test.array_str"]?.stringArray, ["a", "", "\u{fc}\u{df}", "<|im_end|>"])
        XCTAssertEqual(f.metadata["test.array_i32"]?.int32Array, [1, -2, 3, Int32.max])
        XCTAssertNil(f.metadata["test.array_u64"]?.int32Array)  // 2^64-1 is no Int32
        XCTAssertEqual(f.metadata["test.array_f32"]?.floatArray, [0.5, -1.25, Float(0.001 as Double)])
        XCTAssertNil(f.metadata["test.array_str"]?.floatArray)
        XCTAssertEqual(f.metadata["test.bool_true"]?.boolValue, true)
        XCTAssertEqual(f.metadata["test.f64"]?.doubleValue, -2.5e-300)
        XCTAssertNil(f.metadata["test.string"]?.intValue)
    }

    func testTensorTableMatchesGGUFReaderAndHonoursAlignment() throws {
        let f = try openAllTypes()
        let exp = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: Fixtures.url("all_types.expected.json")))
        XCTAssertEqual(exp.alignment, 64)
        XCTAssertEqual(f.header.alignment, 64)
        XCTAssertEqual(f.header.dataOffset, exp.data_offset)
        XCTAssertEqual(f.header.dataOffset % 64, 0)
        XCTAssertEqual(f.header.dataSize, f.fileSize - f.header.dataOffset)
        XCTAssertEqual(f.tensors.map(\.name), exp.tensors.map(\.name))
        for (t, e) in zip(f.tensors, exp.tensors) {
            XCTAssertEqual(t.type.rawValue, e.type, t.name)
            XCTAssertEqual(t.dimensions, e.dims, t.name)
            XCTAssertEqual(t.offset, e.offset, t.name)
            XCTAssertEqual(t.offset % 64, 0, "\(t.name) is not 64-aligned")
            XCTAssertEqual(t.byteCount, e.bytes, t.name)
            XCTAssertEqual(t.elementCount, e.count, t.name)
            XCTAssertEqual(t.rowLength * t.rowCount, t.elementCount, t.name)
            XCTAssertEqual(f.tensorInfo(t.name), t)
        }
        XCTAssertNil(f.tensorInfo("missing"))
        // One tensor of each of the 15 types the project supports.
        XCTAssertEqual(Set(f.tensors.map(\.type)),
                       [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_xs, .iq4_nl])
        // 1 to 4 dimensions appear.
        XCTAssertEqual(f.tensorInfo("t.f16")?.dimensions, [32, 2, 2])
        XCTAssertEqual(f.tensorInfo("t.bf16")?.dimensions, [32, 2, 1, 2])
    }

    /// Every tensor, dequantized row by row, equals gguf.quants.dequantize. Most
    /// types must match bit for bit; any difference at all is reported.
    func testEveryTypeDequantizesLikeGGUFPython() throws {
        let f = try openAllTypes()
        let exp = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: Fixtures.url("all_types.expected.json")))
        let blob = try Data(contentsOf: Fixtures.url("all_types.expected.bin"))
        let expected: [Float] = blob.withUnsafeBytes { raw in
            (0..<blob.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
        var checkedTypes = Set<GGMLType>()
        for e in exp.tensors {
            let t = try XCTUnwrap(f.tensorInfo(e.name))
            XCTAssertTrue(Dequantize.supports(t.type), t.type.name)
            var got = [Float](repeating: .nan, count: t.elementCount)  // [rowCount, rowLength]
            let base = f.data(of: t)
            try got.withUnsafeMutableBufferPointer { out in
                for r in 0..<t.rowCount {
                    try Dequantize.row(t.type, base + r * t.rowBytes, count: t.rowLength, into: out.baseAddress! + r * t.rowLength)
                }
            }
            var exact = 0, mismatches = 0
            for i in 0..<e.count {
                let a = got[i], b = expected[e.first + i]
                if a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN) { exact += 1; continue }
                // -0 vs +0 and last-bit rounding only; 1e-6 relative is the contract.
                if abs(a - b) <= 1e-6 * max(abs(a), abs(b)) { continue }
                mismatches += 1
                if mismatches <= 5 { XCTFail("\(e.name)[\(i)]: got \(a), gguf says \(b)") }
            }
            XCTAssertEqual(mismatches, 0, "\(e.name): \(mismatches) of \(e.count) values differ")
            XCTAssertEqual(exact, e.count, "\(e.name): only \(exact) of \(e.count) values are bit-exact")
            checkedTypes.insert(t.type)
        }
        XCTAssertEqual(checkedTypes.count, 15)
    }

    /// F16 edge values (infinities, -0, subnormals) survive, checked apart from gguf.
    func testF16EdgeValues() throws {
        let f = try openAllTypes()
        let t = try XCTUnwrap(f.tensorInfo("t.f16"))
        var row = [Float](repeating: 0, count: t.rowLength)
        try Dequantize.row(.f16, f.data(of: t), count: t.rowLength, into: &row)
        XCTAssertEqual(row[0], .infinity)
        XCTAssertEqual(row[1], -.infinity)
        XCTAssertEqual(row[2].bitPattern, (-0.0 as Float).bitPattern)
        XCTAssertEqual(row[3], 0x1p-24)  // smallest subnormal half, 6e-8 rounds to it
        XCTAssertEqual(row[4], 65504)
    }

    func testVersion2FileReadsLikeVersion3() throws {
        let v2 = try Fixtures.bytes("small_v2.gguf")
        let h2 = try parseGGUF(v2)
        XCTAssertEqual(h2.version, 2)
        var v3 = v2
        v3[4] = 3
        let h3 = try parseGGUF(v3)
        XCTAssertEqual(h3.version, 3)
        XCTAssertEqual(h2.metadata, h3.metadata)
        XCTAssertEqual(h2.metadataKeys, h3.metadataKeys)
        XCTAssertEqual(h2.tensors, h3.tensors)
        XCTAssertEqual(h2.dataOffset, h3.dataOffset)
        XCTAssertEqual(h2.metadata["test.n"], .uint32(7))
        XCTAssertEqual(h2.metadata["test.tokens"]?.stringArray, ["<s>", "</s>", "hi"])
        XCTAssertEqual(h2.alignment, 32)
        XCTAssertEqual(h2.tensors.map(\.name), ["a.q8_0", "b.f32"])
        XCTAssertEqual(h2.tensors.map(\.dimensions), [[32, 1], [5]])
        XCTAssertEqual(h2.tensors.map(\.type), [.q8_0, .f32])
        XCTAssertEqual(h2.tensors.map(\.offset), [0, 64])  // 34 bytes of Q8_0, padded to 32
        // The file opens through the mapping too.
        let f = try GGUFFile(path: Fixtures.url("small_v2.gguf").path)
        XCTAssertEqual(f.version, 2)
        XCTAssertEqual(f.tensors, h2.tensors)
        // Versions 1 and 4 are refused by the same bytes.
        v3[4] = 1
        assertGGUFError(v3, .unsupportedVersion(1))
        v3[4] = 4
        assertGGUFError(v3, .unsupportedVersion(4))
    }
}
