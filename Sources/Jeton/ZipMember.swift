import CZlib
import Foundation

/// A deflated member of a zip archive that was split into pieces (`x.zip.001`, …),
/// of which only the pieces holding the member are fetched. The member is found by
/// the offset of its local file header counted from the start of the first fetched
/// piece, so neither the central directory (in the last piece) nor the pieces
/// before it are needed.
struct ZipMember: Sendable, Codable, Equatable {
    /// The member's path inside the archive, checked against the local header.
    let name: String
    /// Offset of the local file header from the start of the first part's piece.
    let headerOffset: Int
    let compressedBytes: Int
    /// CRC-32 of the uncompressed bytes, as the zip records it (lowercase hex).
    let crc32: String

    enum CodingKeys: String, CodingKey {
        case name
        case headerOffset = "header_offset"
        case compressedBytes = "compressed_bytes"
        case crc32
    }

    typealias Failure = ModelStore.Failure

    /// Inflates the member out of `pieces` (read in order as one stream) into `out`,
    /// passing every uncompressed chunk to `sink`. Returns the uncompressed size.
    func extract(pieces: [String], sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        let reader = try PieceReader(pieces)
        defer { reader.close() }
        try reader.skip(headerOffset)
        let header = try reader.read(30)
        func u16(_ o: Int) -> Int { Int(header[o]) | Int(header[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        guard u32(0) == 0x0403_4B50 else {
            throw Failure(description: "no zip local file header at offset \(headerOffset) of the downloaded pieces")
        }
        guard u16(8) == 8 else { throw Failure(description: "zip member \(name) is not deflated (method \(u16(8)))") }
        let nameBytes = try reader.read(u16(26))
        guard String(decoding: nameBytes, as: UTF8.self) == name else {
            throw Failure(description: "the zip member at offset \(headerOffset) is \(String(decoding: nameBytes, as: UTF8.self)), expected \(name)")
        }
        try reader.skip(u16(28))  // extra field

        var stream = z_stream()
        guard inflateInit2_(&stream, -15, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure(description: "zlib could not start inflating")
        }
        defer { inflateEnd(&stream) }
        var input = [UInt8](repeating: 0, count: 1 << 20)
        var output = [UInt8](repeating: 0, count: 1 << 20)
        var remaining = compressedBytes
        var total = 0
        var crc: UInt = crc32_z(0, nil, 0)
        var ended = false
        while !ended {
            let n = remaining > 0 ? try reader.read(into: &input, max: min(remaining, input.count)) : 0
            guard n > 0 || remaining == 0 else {
                throw Failure(description: "the downloaded pieces end inside zip member \(name)")
            }
            remaining -= n
            try input.withUnsafeMutableBufferPointer { inp in
                stream.next_in = inp.baseAddress
                stream.avail_in = UInt32(n)
                repeat {
                    let status: Int32 = output.withUnsafeMutableBufferPointer { o in
                        stream.next_out = o.baseAddress
                        stream.avail_out = UInt32(o.count)
                        return inflate(&stream, Z_NO_FLUSH)
                    }
                    let produced = output.count - Int(stream.avail_out)
                    if produced > 0 {
                        try output.withUnsafeBytes { o in
                            let chunk = UnsafeRawBufferPointer(rebasing: o[0..<produced])
                            crc = crc32_z(crc, chunk.bindMemory(to: UInt8.self).baseAddress, produced)
                            try sink(chunk)
                        }
                        total += produced
                    }
                    if status == Z_STREAM_END { ended = true; break }
                    guard status == Z_OK || (status == Z_BUF_ERROR && n == 0 && remaining == 0) else {
                        throw Failure(description: "zip member \(name) is corrupt (zlib status \(status))")
                    }
                    if status == Z_BUF_ERROR { throw Failure(description: "zip member \(name) is truncated") }
                } while stream.avail_out == 0 || stream.avail_in > 0
            }
        }
        let got = String(format: "%08x", UInt32(truncatingIfNeeded: crc))
        guard got == crc32.lowercased() else {
            throw Failure(description: "zip member \(name) has CRC-32 \(got), expected \(crc32)")
        }
        return total
    }

    /// The pieces as one sequential stream of bytes.
    private final class PieceReader {
        private var files: [UnsafeMutablePointer<FILE>] = []
        private var index = 0

        init(_ paths: [String]) throws {
            for p in paths {
                guard let f = fopen(p, "rb") else { close(); throw Failure(description: "cannot read the piece \(p)") }
                files.append(f)
            }
        }

        func close() {
            for f in files { fclose(f) }
            files = []
        }

        /// Reads up to `max` bytes (fewer only at the end of the last piece).
        func read(into buf: inout [UInt8], max: Int) throws -> Int {
            var got = 0
            while got < max && index < files.count {
                let f = files[index]
                let n = buf.withUnsafeMutableBytes { b -> Int in
                    guard let base = b.baseAddress else { return 0 }
                    return fread(base + got, 1, max - got, f)
                }
                if n == 0 {
                    guard ferror(files[index]) == 0 else { throw Failure(description: "cannot read a downloaded piece") }
                    index += 1
                }
                got += n
            }
            return got
        }

        func read(_ count: Int) throws -> [UInt8] {
            var buf = [UInt8](repeating: 0, count: count)
            guard try read(into: &buf, max: count) == count else {
                throw Failure(description: "the downloaded pieces end inside a zip header")
            }
            return buf
        }

        func skip(_ count: Int) throws {
            var left = count
            var buf = [UInt8](repeating: 0, count: 1 << 20)
            while left > 0 {
                let n = try read(into: &buf, max: min(left, buf.count))
                guard n > 0 else { throw Failure(description: "the downloaded pieces are shorter than the zip offset \(count)") }
                left -= n
            }
        }
    }
}
