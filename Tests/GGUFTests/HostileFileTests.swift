import Foundation
import XCTest
@testable import GGUF

/// Truncated, corrupt and hostile files, built byte by byte: each must throw the
/// GGUFError that names its defect, without crashing or allocating by its counts.
final class HostileFileTests: XCTestCase {
    typealias B = GGUFBytes
    let huge: UInt64 = 1 << 60

    /// A file with one tensor of the given fields after `kvs`, its data section
    /// padded to `alignment` and holding `dataBytes` zero bytes.
    func oneTensorFile(dims: [UInt64] = [8], type: UInt32 = 0, offset: UInt64 = 0, nDims: UInt32? = nil,
                       alignment: Int = 32, dataBytes: Int = 32, kvs: [(inout B) -> Void] = []) -> [UInt8] {
        var b = B.header(tensors: 1, kvs: UInt64(kvs.count))
        for kv in kvs { kv(&b) }
        b.tensor("t", dims: dims, type: type, offset: offset, nDims: nDims)
        b.pad(to: alignment)
        b.zeros(dataBytes)
        return b.bytes
    }

    // MARK: header

    func testWrongMagic() {
        assertGGUFError(B.header(tensors: 0, kvs: 0, magic: 0x4755_4747).bytes, .badMagic(found: 0x4755_4747))
        assertGGUFError([0, 0, 0, 0, 3, 0, 0, 0], .badMagic(found: 0))
        assertGGUFError(Array("GGML".utf8) + [3, 0, 0, 0], .badMagic(found: 0x4C4D_4747))
    }

    func testUnsupportedVersions() {
        for v: UInt32 in [0, 1, 4, 0x0300_0000 /* a big-endian v3 file */, .max] {
            assertGGUFError(B.header(version: v, tensors: 0, kvs: 0).bytes, .unsupportedVersion(v))
        }
    }

    func testEmptyAndTinyInputs() {
        assertGGUFError([], .truncated(what: "magic", offset: 0, needed: 4, available: 0))
        assertGGUFError([0x47, 0x47, 0x55], .truncated(what: "magic", offset: 0, needed: 4, available: 3))
        assertGGUFError(Array(B.header(tensors: 0, kvs: 0).bytes[..<6]),
                        .truncated(what: "version", offset: 4, needed: 4, available: 2))
        assertGGUFError(Array(B.header(tensors: 0, kvs: 0).bytes[..<20]),
                        .truncated(what: "metadata count", offset: 16, needed: 8, available: 4))
    }

    func testEmptyFileIsValid() throws {
        // No tensors, no metadata: valid, and the data section is empty.
        let h = try parseGGUF(B.header(tensors: 0, kvs: 0).bytes)
        XCTAssertEqual(h.tensors.count, 0)
        XCTAssertEqual(h.metadata.count, 0)
        XCTAssertEqual(h.dataSize, 0)
    }

    // MARK: counts and lengths

    func testHugeMetadataCount() {
        var b = B.header(tensors: 0, kvs: huge)
        b.zeros(64)
        assertGGUFError(b.bytes, .countTooLarge(what: "metadata", count: huge))
        assertGGUFError(B.header(tensors: 0, kvs: .max).bytes, .countTooLarge(what: "metadata", count: .max))
        // One pair more than the bytes can hold is refused before reading any.
        assertGGUFError(B.header(tensors: 0, kvs: 1).bytes, .countTooLarge(what: "metadata", count: 1))
    }

    func testHugeTensorCount() {
        var b = B.header(tensors: huge, kvs: 0)
        b.zeros(64)
        assertGGUFError(b.bytes, .countTooLarge(what: "tensor", count: huge))
        assertGGUFError(B.header(tensors: .max, kvs: 0).bytes, .countTooLarge(what: "tensor", count: .max))
    }

    func testHugeStringLengths() {
        // A key.
        var b = B.header(tensors: 0, kvs: 1)
        b.u64(huge)
        b.zeros(20)
        assertGGUFError(b.bytes, .truncated(what: "metadata key", offset: 32, needed: Int(huge), available: 20))
        // A string value.
        b = B.header(tensors: 0, kvs: 1)
        b.string("k")
        b.u32(B.string)
        b.u64(huge)
        b.zeros(8)
        assertGGUFError(b.bytes, .truncated(what: "k", offset: 45, needed: Int(huge), available: 8))
        // UInt64.max is clamped in the report, not trapped on.
        b = B.header(tensors: 0, kvs: 1)
        b.string("k")
        b.u32(B.string)
        b.u64(.max)
        b.zeros(8)
        assertGGUFError(b.bytes, .truncated(what: "k", offset: 45, needed: Int.max, available: 8))
        // A tensor name.
        b = B.header(tensors: 1, kvs: 0)
        b.u64(huge)
        b.zeros(24)
        assertGGUFError(b.bytes, .truncated(what: "tensor name", offset: 32, needed: Int(huge), available: 24))
    }

    func testHugeArrayLengths() {
        for elem in [B.u8, B.string, B.array, B.f64] {
            var b = B.header(tensors: 0, kvs: 1)
            b.string("a")
            b.u32(B.array)
            b.u32(elem)
            b.u64(huge)
            b.zeros(16)
            assertGGUFError(b.bytes, .countTooLarge(what: "array a", count: huge))
        }
        // An inner array's length is checked against what is left, too.
        var b = B.header(tensors: 0, kvs: 1)
        b.string("a")
        b.u32(B.array)
        b.u32(B.array)
        b.u64(1)
        b.u32(B.u32)
        b.u64(.max)
        b.zeros(8)
        assertGGUFError(b.bytes, .countTooLarge(what: "array a", count: .max))
    }

    func testEmptyArrayAndNestedEmptyArrays() throws {
        var b = B.header(tensors: 0, kvs: 2)
        b.string("e")
        b.u32(B.array)
        b.u32(B.i32)
        b.u64(0)
        b.string("n")
        b.u32(B.array)
        b.u32(B.array)
        b.u64(2)
        for _ in 0..<2 { b.u32(B.string); b.u64(0) }
        let h = try parseGGUF(b.bytes)
        XCTAssertEqual(h.metadata["e"], .array([]))
        XCTAssertEqual(h.metadata["n"], .array([.array([]), .array([])]))
    }

    /// `levels` arrays, each holding the next, the innermost holding one u8.
    func nested(levels: Int) -> [UInt8] {
        var b = B.header(tensors: 0, kvs: 1)
        b.string("deep")
        b.u32(B.array)
        for level in 0..<levels {
            b.u32(level < levels - 1 ? B.array : B.u8)
            b.u64(1)
        }
        b.u8(42)
        return b.bytes
    }

    func testNestingDepthLimit() throws {
        var v = try XCTUnwrap(parseGGUF(nested(levels: GGUFParser.maxArrayDepth)).metadata["deep"])
        for _ in 0..<GGUFParser.maxArrayDepth {
            guard case let .array(items) = v, items.count == 1 else { return XCTFail("expected a one-item array") }
            v = items[0]
        }
        XCTAssertEqual(v, .uint8(42))
        assertGGUFError(nested(levels: GGUFParser.maxArrayDepth + 1), .nestingTooDeep(key: "deep"))
        // Far deeper input must not reach deep recursion.
        assertGGUFError(nested(levels: 100_000), .nestingTooDeep(key: "deep"))
    }

    // MARK: types

    func testUnknownValueTypes() {
        for t: UInt32 in [13, 100, .max] {
            var b = B.header(tensors: 0, kvs: 1)
            b.string("k")
            b.u32(t)
            b.zeros(16)
            assertGGUFError(b.bytes, .unknownValueType(key: "k", type: t))
            // As an array's element type.
            b = B.header(tensors: 0, kvs: 1)
            b.string("a")
            b.u32(B.array)
            b.u32(t)
            b.u64(1)
            b.zeros(16)
            assertGGUFError(b.bytes, .unknownValueType(key: "a", type: t))
        }
    }

    func testUnknownTensorTypes() {
        // 4 and 5 were Q4_2/Q4_3 (removed), 16 is IQ2_XXS (not supported), 39 past the end.
        for t: UInt32 in [4, 5, 16, 39, 1000, .max] {
            assertGGUFError(oneTensorFile(type: t), .unknownTensorType(tensor: "t", type: t))
        }
    }

    // MARK: shapes

    func testDimensionCounts() {
        assertGGUFError(oneTensorFile(dims: []), .badTensorShape(tensor: "t", reason: "0 dimensions (1 to 4 allowed)"))
        assertGGUFError(oneTensorFile(dims: [8, 1, 1, 1, 1]), .badTensorShape(tensor: "t", reason: "5 dimensions (1 to 4 allowed)"))
        assertGGUFError(oneTensorFile(dims: [8], nDims: .max),
                        .badTensorShape(tensor: "t", reason: "\(UInt32.max) dimensions (1 to 4 allowed)"))
        XCTAssertNoThrow(try parseGGUF(oneTensorFile(dims: [8, 1, 1, 1])))
    }

    func testHugeDimension() {
        assertGGUFError(oneTensorFile(dims: [1 << 40]), .badTensorShape(tensor: "t", reason: "dimension 1099511627776 is too large"))
        assertGGUFError(oneTensorFile(dims: [8, .max]), .badTensorShape(tensor: "t", reason: "dimension \(UInt64.max) is too large"))
    }

    func testElementCountOverflow() {
        let m = UInt64(Int32.max)
        assertGGUFError(oneTensorFile(dims: [m, m, m, m]), .badTensorShape(tensor: "t", reason: "element count overflows"))
        assertGGUFError(oneTensorFile(dims: [1 << 20, 1 << 20, 1 << 20]),
                        .badTensorShape(tensor: "t", reason: "element count overflows"))
    }

    func testRowLengthNotMultipleOfBlock() {
        assertGGUFError(oneTensorFile(dims: [33], type: GGMLType.q4_0.rawValue),
                        .badTensorShape(tensor: "t", reason: "row length 33 is not a multiple of Q4_0's block of 32"))
        assertGGUFError(oneTensorFile(dims: [128, 2], type: GGMLType.q4_K.rawValue),
                        .badTensorShape(tensor: "t", reason: "row length 128 is not a multiple of Q4_K's block of 256"))
        // Every row must be whole: 2 rows of 16 make 32 elements, still refused.
        assertGGUFError(oneTensorFile(dims: [16, 2], type: GGMLType.q8_0.rawValue),
                        .badTensorShape(tensor: "t", reason: "row length 16 is not a multiple of Q8_0's block of 32"))
    }

    func testZeroSizedTensorIsValid() throws {
        let h = try parseGGUF(oneTensorFile(dims: [32, 0], type: GGMLType.q4_0.rawValue, dataBytes: 0))
        XCTAssertEqual(h.tensors.first?.byteCount, 0)
        XCTAssertEqual(h.tensors.first?.elementCount, 0)
    }

    // MARK: offsets

    func testTensorOffsetBeyondFile() {
        assertGGUFError(oneTensorFile(offset: 1024), .tensorOutOfRange(tensor: "t", offset: 1024, size: 32, dataSize: 32))
        let top = UInt64.max & ~31  // aligned, so only the range check can catch it
        assertGGUFError(oneTensorFile(offset: top), .tensorOutOfRange(tensor: "t", offset: top, size: 32, dataSize: 32))
        // Starts inside, ends outside.
        assertGGUFError(oneTensorFile(dims: [16], offset: 0), .tensorOutOfRange(tensor: "t", offset: 0, size: 64, dataSize: 32))
        assertGGUFError(oneTensorFile(dims: [8], offset: 32), .tensorOutOfRange(tensor: "t", offset: 32, size: 32, dataSize: 32))
        // No data section at all.
        assertGGUFError(oneTensorFile(dataBytes: 0), .tensorOutOfRange(tensor: "t", offset: 0, size: 32, dataSize: 0))
        // Exactly filling the section is fine.
        XCTAssertNoThrow(try parseGGUF(oneTensorFile(dims: [8], offset: 0)))
    }

    func testTensorOffsetNotAligned() throws {
        assertGGUFError(oneTensorFile(offset: 4, dataBytes: 64), .misalignedTensor(tensor: "t", offset: 4, alignment: 32))
        let align64: (inout B) -> Void = { $0.kvU32("general.alignment", 64) }
        assertGGUFError(oneTensorFile(offset: 32, alignment: 64, dataBytes: 128, kvs: [align64]),
                        .misalignedTensor(tensor: "t", offset: 32, alignment: 64))
        // With alignment 1 any offset is aligned.
        let align1: (inout B) -> Void = { $0.kvU32("general.alignment", 1) }
        let h = try parseGGUF(oneTensorFile(offset: 3, alignment: 1, dataBytes: 35, kvs: [align1]))
        XCTAssertEqual(h.tensors.first?.offset, 3)
        XCTAssertEqual(h.alignment, 1)
    }

    // MARK: duplicates and alignment values

    func testDuplicateKey() {
        var b = B.header(tensors: 0, kvs: 2)
        b.kvU32("a", 1)
        b.kvString("a", "again")
        assertGGUFError(b.bytes, .duplicateKey("a"))
    }

    func testDuplicateTensorName() {
        var b = B.header(tensors: 2, kvs: 0)
        b.tensor("w", dims: [8], type: 0, offset: 0)
        b.tensor("w", dims: [8], type: 0, offset: 32)
        b.pad(to: 32)
        b.zeros(64)
        assertGGUFError(b.bytes, .duplicateTensor("w"))
    }

    func testBadAlignmentValues() {
        for a: UInt32 in [0, 3, 48, 131_072, .max] {
            assertGGUFError(oneTensorFile(kvs: [{ $0.kvU32("general.alignment", a) }]), .badAlignment(UInt64(a)))
        }
        // Not a number at all.
        assertGGUFError(oneTensorFile(kvs: [{ $0.kvString("general.alignment", "64") }]), .badAlignment(0))
    }

    func testAlignmentOfOtherIntegerTypes() throws {
        // A u64 alignment (some writers use it) is read as a number too.
        let h = try parseGGUF(oneTensorFile(alignment: 16, dataBytes: 32, kvs: [{
            $0.string("general.alignment")
            $0.u32(B.u64)
            $0.u64(16)
        }]))
        XCTAssertEqual(h.alignment, 16)
        XCTAssertEqual(h.dataOffset % 16, 0)
    }

    // MARK: files

    func testOpeningADirectoryOrAMissingPath() {
        let dir = FileManager.default.temporaryDirectory.path
        XCTAssertThrowsError(try GGUFFile(path: dir)) {
            guard case let .cannotOpen(path, reason) = $0 as? GGUFError else { return XCTFail("\($0)") }
            XCTAssertEqual(path, dir)
            XCTAssertEqual(reason, "not a regular file")
        }
        let missing = dir + "/jeton-no-such-file-\(UUID().uuidString).gguf"
        XCTAssertThrowsError(try GGUFFile(path: missing)) {
            XCTAssertEqual($0 as? GGUFError, .cannotOpen(path: missing, reason: "No such file or directory"))
        }
    }

    func testOpeningAFIFODoesNotHang() throws {
        let path = FileManager.default.temporaryDirectory.path + "/jeton-fifo-\(UUID().uuidString)"
        guard mkfifo(path, 0o600) == 0 else { throw XCTSkip("mkfifo failed") }
        defer { unlink(path) }
        XCTAssertThrowsError(try GGUFFile(path: path)) {
            XCTAssertEqual($0 as? GGUFError, .cannotOpen(path: path, reason: "not a regular file"))
        }
    }

    func testEmptyAndCorruptFilesOnDisk() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("jeton-gguf-\(UUID().uuidString).gguf")
        defer { try? FileManager.default.removeItem(at: url) }
        try Data().write(to: url)
        XCTAssertThrowsError(try GGUFFile(path: url.path)) {
            XCTAssertEqual($0 as? GGUFError, .truncated(what: "magic", offset: 0, needed: 4, available: 0))
        }
        try Data(oneTensorFile(offset: 1024)).write(to: url)
        XCTAssertThrowsError(try GGUFFile(path: url.path)) {
            XCTAssertEqual($0 as? GGUFError, .tensorOutOfRange(tensor: "t", offset: 1024, size: 32, dataSize: 32))
        }
    }

    func testErrorsDescribeTheDefect() {
        XCTAssertEqual(GGUFError.countTooLarge(what: "tensor", count: huge).description,
                       "GGUF tensor count 1152921504606846976 is larger than the file allows")
        XCTAssertEqual(GGUFError.misalignedTensor(tensor: "w", offset: 4, alignment: 32).description,
                       "tensor w starts at offset 4, which is not a multiple of general.alignment 32")
        XCTAssertEqual(GGUFError.unsupportedVersion(0x0300_0000).description,
                       "big-endian GGUF file (version 3); only little-endian files are supported")
        XCTAssertEqual(GGUFError.unsupportedVersion(1).description, "unsupported GGUF version 1 (2 and 3 are supported)")
        XCTAssertTrue(GGUFError.truncated(what: "metadata key", offset: 32, needed: 9, available: 2).description
            .contains("metadata key at byte 32"))
    }
}
