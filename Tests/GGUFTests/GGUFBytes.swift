import Foundation
import XCTest
@testable import GGUF

/// Little-endian byte builder for hand-made (often hostile) GGUF files, so each
/// test states exactly which field is wrong.
struct GGUFBytes {
    var bytes: [UInt8] = []

    static let u8: UInt32 = 0, i8: UInt32 = 1, u16: UInt32 = 2, i16: UInt32 = 3
    static let u32: UInt32 = 4, i32: UInt32 = 5, f32: UInt32 = 6, bool: UInt32 = 7
    static let string: UInt32 = 8, array: UInt32 = 9, u64: UInt32 = 10, i64: UInt32 = 11, f64: UInt32 = 12

    /// Magic, version and the two counts: 24 bytes.
    static func header(version: UInt32 = 3, tensors: UInt64, kvs: UInt64, magic: UInt32 = GGUFParser.magic) -> GGUFBytes {
        var b = GGUFBytes()
        b.u32(magic)
        b.u32(version)
        b.u64(tensors)
        b.u64(kvs)
        return b
    }

    var count: Int { bytes.count }

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func f32(_ v: Float) { u32(v.bitPattern) }
    mutating func raw(_ b: [UInt8]) { bytes += b }

    mutating func string(_ s: String) {
        u64(UInt64(s.utf8.count))
        bytes += Array(s.utf8)
    }

    /// A key with a u32 value.
    mutating func kvU32(_ key: String, _ v: UInt32) {
        string(key)
        u32(Self.u32)
        u32(v)
    }

    mutating func kvString(_ key: String, _ v: String) {
        string(key)
        u32(Self.string)
        string(v)
    }

    /// A tensor table entry; dims in ggml order (row length first).
    mutating func tensor(_ name: String, dims: [UInt64], type: UInt32, offset: UInt64, nDims: UInt32? = nil) {
        string(name)
        u32(nDims ?? UInt32(dims.count))
        for d in dims { u64(d) }
        u32(type)
        u64(offset)
    }

    mutating func pad(to alignment: Int) {
        while bytes.count % alignment != 0 { bytes.append(0) }
    }

    mutating func zeros(_ n: Int) { bytes += [UInt8](repeating: 0, count: n) }
}

/// Parses bytes held in memory the way GGUFFile parses a mapping.
func parseGGUF(_ bytes: [UInt8]) throws -> GGUFParser.Header {
    try bytes.withUnsafeBytes { buf in
        var p = GGUFParser(buf)
        return try p.parse()
    }
}

/// Asserts that parsing fails with exactly `expected`.
func assertGGUFError(_ bytes: [UInt8], _ expected: GGUFError, file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try parseGGUF(bytes)
        XCTFail("parsed, expected \(expected)", file: file, line: line)
    } catch let e as GGUFError {
        XCTAssertEqual(e, expected, file: file, line: line)
    } catch {
        XCTFail("threw \(error), not a GGUFError", file: file, line: line)
    }
}

/// Fails unless parsing throws a GGUFError; returns it for closer checks.
@discardableResult
func ggufError(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> GGUFError? {
    do {
        _ = try parseGGUF(bytes)
        XCTFail("parsed, expected an error", file: file, line: line)
    } catch let e as GGUFError {
        return e
    } catch {
        XCTFail("threw \(error), not a GGUFError", file: file, line: line)
    }
    return nil
}

struct FixtureMissing: Error, CustomStringConvertible {
    let name: String
    var description: String { "fixture \(name) is missing from the test bundle; run scripts/make_gguf_fixtures.py" }
}

enum Fixtures {
    /// A file of Tests/GGUFTests/Fixtures, copied into the test bundle by SwiftPM.
    static func url(_ name: String) throws -> URL {
        guard let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else { throw FixtureMissing(name: name) }
        let url = dir.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else { throw FixtureMissing(name: name) }
        return url
    }

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: url(name)))
    }
}
