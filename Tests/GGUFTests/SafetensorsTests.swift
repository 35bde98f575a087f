import Foundation
import XCTest
@testable import GGUF

/// Safetensors files built by hand, well-formed and hostile: each hostile one must throw the
/// SafetensorsError naming its defect, never read outside the buffer or crash.
final class SafetensorsTests: XCTestCase {
    /// An 8-byte length, the header text, then `data`.
    func file(_ header: String, data: [UInt8] = []) -> [UInt8] {
        let h = Array(header.utf8)
        return withUnsafeBytes(of: UInt64(h.count).littleEndian) { Array($0) } + h + data
    }

    func parse(_ bytes: [UInt8]) throws -> SafetensorsParser.Header {
        try bytes.withUnsafeBytes { try SafetensorsParser($0).parse() }
    }

    func assertError(_ bytes: [UInt8], _ expected: SafetensorsError, line: UInt = #line) {
        XCTAssertThrowsError(try parse(bytes), line: line) { error in
            XCTAssertEqual(error as? SafetensorsError, expected, line: line)
        }
    }

    func assertBadJSON(_ header: String, line: UInt = #line) {
        XCTAssertThrowsError(try parse(file(header)), line: line) { error in
            guard case .badJSON = error as? SafetensorsError else { return XCTFail("\(error)", line: line) }
        }
    }

    func testWellFormedFile() throws {
        // Two F32 values, then a 2x2 F16 matrix, then a BF16 scalar; padded header as the writers do.
        let data: [UInt8] = [0, 0, 128, 63, 0, 0, 0, 64] + [0, 60, 0, 64, 0, 66, 0, 68] + [128, 63]
        let header = #"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"# +
            #""b.weight":{"dtype":"F16","shape":[2,2],"data_offsets":[8,16]},"c":{"dtype":"BF16","shape":[],"data_offsets":[16,18]}}   "#
        let h = try parse(file(header, data: data))
        XCTAssertEqual(h.metadata, ["format": "pt"])
        XCTAssertEqual(h.tensors.map(\.name), ["a", "b.weight", "c"])
        XCTAssertEqual(h.tensors[1].shape, [2, 2])
        XCTAssertEqual(h.tensors[1].type, .f16)
        XCTAssertEqual(h.tensors[2].type, .bf16)
        XCTAssertEqual(h.tensors[2].elementCount, 1)
        XCTAssertEqual(h.dataOffset, 8 + header.utf8.count)
        XCTAssertEqual(h.tensors[1].offset, 8)
    }

    func testMappedFileReadsTensorBytes() throws {
        let bytes = file(#"{"x":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]}}"#, data: [0, 0, 128, 63, 0, 0, 0, 192])
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("st-\(UUID().uuidString).safetensors")
        try Data(bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        let f = try SafetensorsFile(path: url.path)
        let info = try XCTUnwrap(f.tensorInfo("x"))
        let p = f.data(of: info).assumingMemoryBound(to: Float.self)
        XCTAssertEqual([p[0], p[1]], [1, -2])
        XCTAssertThrowsError(try SafetensorsFile(path: "/nonexistent/a.safetensors"))
        XCTAssertThrowsError(try SafetensorsFile(path: "/dev/null"))
    }

    func testTruncatedAndHugeLengths() {
        assertError([], .truncated(needed: 8, available: 0))
        assertError([1, 0, 0], .truncated(needed: 8, available: 3))
        // A length past the end of the file, and one beyond the cap (never allocated).
        assertError(withUnsafeBytes(of: UInt64(100).littleEndian) { Array($0) } + Array("{}".utf8), .truncated(needed: 100, available: 2))
        assertError(withUnsafeBytes(of: UInt64.max.littleEndian) { Array($0) }, .headerTooLarge(.max))
        assertError(withUnsafeBytes(of: UInt64(1 << 40).littleEndian) { Array($0) } + [0x7B, 0x7D], .headerTooLarge(1 << 40))
    }

    func testMalformedJSON() {
        for h in ["", "{", "[]", "{\"a\"}", "{\"a\":}", "{\"a\":{\"dtype\":\"F32\"", "{} x", "\"abc", "{\"a\":\"\\u12\"}",
                  "{\"a\":[1,2,]}", "nul", String(repeating: "[", count: 1000) + String(repeating: "]", count: 1000),
                  "{\"a\":\"\u{01}\"}"] {
            assertBadJSON(h)
        }
    }

    func testBadEntries() {
        let f32 = #""dtype":"F32""#
        assertError(file(#"{"t":5}"#), .badEntry(tensor: "t", reason: "is not an object"))
        assertError(file(#"{"t":{"shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]), .badEntry(tensor: "t", reason: "lacks dtype"))
        assertError(file(#"{"t":{"# + f32 + #","data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]), .badEntry(tensor: "t", reason: "lacks shape"))
        assertError(file(#"{"t":{"# + f32 + #","shape":[1]}}"#, data: [0, 0, 0, 0]), .badEntry(tensor: "t", reason: "lacks data_offsets"))
        assertError(file(#"{"t":{"# + f32 + #","shape":[-1],"data_offsets":[0,4]}}"#),
                    .badEntry(tensor: "t", reason: "shape[0] is not an integer from 0 to 2^31-1"))
        assertError(file(#"{"t":{"# + f32 + #","shape":[1.5],"data_offsets":[0,4]}}"#),
                    .badEntry(tensor: "t", reason: "shape[0] is not an integer from 0 to 2^31-1"))
        assertError(file(#"{"t":{"# + f32 + #","shape":[2147483647,2147483647,2147483647],"data_offsets":[0,4]}}"#),
                    .badEntry(tensor: "t", reason: "element count overflows"))
        assertError(file(#"{"t":{"# + f32 + #","shape":[1],"data_offsets":[4,0]}}"#, data: [0, 0, 0, 0]),
                    .badEntry(tensor: "t", reason: "data_offsets is not [begin, end] with begin <= end"))
        assertError(file(#"{"t":{"# + f32 + #","shape":[1],"data_offsets":[0]}}"#, data: [0, 0, 0, 0]),
                    .badEntry(tensor: "t", reason: "data_offsets is not [begin, end] with begin <= end"))
        assertError(file(#"{"t":{"# + f32 + #","shape":[1],"data_offsets":[0,4]},"t":{"# + f32 + #","shape":[1],"data_offsets":[0,4]}}"#,
                         data: [0, 0, 0, 0]), .badEntry(tensor: "t", reason: "appears twice"))
        assertError(file(#"{"__metadata__":{"a":1}}"#), .badEntry(tensor: "__metadata__", reason: "value of a is not a string"))
    }

    func testUnknownDType() {
        for d in ["I64", "F64", "U8", "F8_E4M3", "f32", ""] {
            assertError(file(#"{"t":{"dtype":"\#(d)","shape":[1],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)),
                        .unsupportedDType(tensor: "t", dtype: d))
        }
    }

    func testOffsetsOutsideTheFile() {
        assertError(file(#"{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, data: [0, 0, 0, 0]),
                    .tensorOutOfRange(tensor: "t", begin: 0, end: 8, dataSize: 4))
        assertError(file(#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[18446744073709551612,18446744073709551615]}}"#),
                    .tensorOutOfRange(tensor: "t", begin: 18446744073709551612, end: 18446744073709551615, dataSize: 0))
        // Past UInt64: not a valid offset at all.
        assertError(file(#"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551616]}}"#),
                    .badEntry(tensor: "t", reason: "data_offsets is not [begin, end] with begin <= end"))
    }

    func testShapeTimesDTypeMustEqualTheRange() {
        assertError(file(#"{"t":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)),
                    .sizeMismatch(tensor: "t", expected: 6, found: 8))
        assertError(file(#"{"t":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}}"#, data: [UInt8](repeating: 0, count: 8)),
                    .sizeMismatch(tensor: "t", expected: 16, found: 8))
    }

    func testOverlappingTensors() {
        let data = [UInt8](repeating: 0, count: 16)
        assertError(file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                         data: data), .overlappingTensors("a", "b"))
        // An empty tensor between two that overlap does not hide the overlap.
        assertError(file(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"z":{"dtype":"F32","shape":[0],"data_offsets":[6,6]},"# +
                         #""b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#, data: data), .overlappingTensors("a", "b"))
        // Touching is fine.
        XCTAssertNoThrow(try parse(file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#,
                                        data: data)))
    }

    func testJSONEscapesInNames() throws {
        let h = try parse(file(#"{"a\"b\u00e9\ud83d\ude00":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: [0, 0, 0, 0]))
        XCTAssertEqual(h.tensors.first?.name, "a\"bé😀")
    }

    /// Every prefix and many single-byte changes of a good file: errors or a header whose tensors
    /// lie in the buffer, never a crash.
    func testMutationsNeverEscapeTheBuffer() {
        let good = file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[1,2],"data_offsets":[8,12]}}"#,
                        data: [UInt8](repeating: 7, count: 12))
        var inputs = (0..<good.count).map { Array(good[..<$0]) }
        for i in 0..<good.count { for v: UInt8 in [0, 0x22, 0x31, 0x7D, 0xFF] { var m = good; m[i] = v; inputs.append(m) } }
        for input in inputs {
            guard let h = try? parse(input) else { continue }
            for t in h.tensors { XCTAssertLessThanOrEqual(h.dataOffset + t.offset + t.byteCount, input.count) }
        }
    }
}
