import CZlib

/// gzip through zlib, for response bodies and `Content-Encoding: gzip` request bodies.
enum Gzip {
    enum Failure: Error, Equatable {
        case tooLarge  // inflated size over the limit → 413
        case corrupt  // not valid gzip → 400
    }

    /// Compresses a whole body as one gzip member. Nil only if zlib itself fails.
    static func compress(_ input: [UInt8], level: Int32 = 5) -> [UInt8]? {
        var stream = z_stream()
        // windowBits 15 + 16 selects the gzip wrapper.
        guard deflateInit2_(&stream, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                            zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))) + 32)
        let produced: Int? = input.withUnsafeBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                stream.next_in = UnsafeMutablePointer(mutating: inBuffer.baseAddress)
                stream.avail_in = UInt32(inBuffer.count)
                stream.next_out = outBuffer.baseAddress
                stream.avail_out = UInt32(outBuffer.count)
                guard deflate(&stream, Z_FINISH) == Z_STREAM_END else { return nil }
                return outBuffer.count - Int(stream.avail_out)
            }
        }
        guard let produced else { return nil }
        output.removeSubrange(produced...)
        return output
    }

    /// Inflates a gzip body (one member or several in a row), refusing to produce more than `limit` bytes, so a small bomb
    /// costs at most `limit` of memory.
    static func decompress(_ input: [UInt8], limit: Int) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw Failure.corrupt
        }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var finished = false
        try input.withUnsafeBufferPointer { inBuffer in
            stream.next_in = UnsafeMutablePointer(mutating: inBuffer.baseAddress)
            stream.avail_in = UInt32(inBuffer.count)
            while !finished {
                let (status, produced) = chunk.withUnsafeMutableBufferPointer { outBuffer -> (Int32, Int) in
                    stream.next_out = outBuffer.baseAddress
                    stream.avail_out = UInt32(outBuffer.count)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    return (status, outBuffer.count - Int(stream.avail_out))
                }
                switch status {
                case Z_OK, Z_STREAM_END, Z_BUF_ERROR:
                    if output.count + produced > limit { throw Failure.tooLarge }
                    output.append(contentsOf: chunk[0..<produced])
                    if status == Z_STREAM_END {
                        // Another member may follow (RFC 1952 §2.2: a gzip file is a series of
                        // members, which inflate to their concatenation); anything else is garbage.
                        let rest = Int(stream.avail_in)
                        if rest >= 2, let next = stream.next_in, next[0] == 0x1F, next[1] == 0x8B {
                            guard inflateReset(&stream) == Z_OK else { throw Failure.corrupt }
                        } else {
                            finished = true
                        }
                    } else if produced == 0 {
                        throw Failure.corrupt  // truncated input: no progress possible
                    }
                default:
                    throw Failure.corrupt
                }
            }
            if stream.avail_in != 0 { throw Failure.corrupt }  // trailing garbage after the member
        }
        return output
    }

    /// Whether `Accept-Encoding` allows gzip (RFC 9110 §12.5.3: `gzip` or `*` with q > 0).
    static func accepts(_ headers: HTTPHeaders) -> Bool {
        var gzip: Bool?, star: Bool?
        for token in headers.tokens(name: "accept-encoding") {
            let parts = token.split(separator: ";")
            guard let name = parts.first.map({ HTTPHeaders.trimOWS($0) }) else { continue }
            var allowed = true
            for parameter in parts.dropFirst() {
                let p = HTTPHeaders.trimOWS(parameter)
                if p.hasPrefix("q=") { allowed = (Double(p.dropFirst(2)) ?? 1) > 0 }
            }
            if name == "gzip" || name == "x-gzip" { gzip = allowed } else if name == "*" { star = allowed }
        }
        return gzip ?? star ?? false
    }
}
