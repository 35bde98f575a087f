import Foundation

/// llama-perplexity's `--kl-divergence-base` file (tools/perplexity/perplexity.cpp), all little-endian:
///
///     "_logits_"                      8 bytes
///     n_ctx    UInt32                 tokens per chunk
///     n_vocab  Int32
///     n_chunk  Int32
///     tokens   Int32 × n_ctx·n_chunk  the text's tokens as tokenized (BOS not substituted)
///     then per chunk, for each scored position (n_ctx − 1 − n_ctx/2 of them, the second half
///     but the last): one LogProbRow of 2·⌈n_vocab/2⌉ + 4 UInt16.
///
/// Reading checks the header and the file's length before anything is allocated by its
/// numbers, so a truncated or foreign file is refused with a sentence, never a crash.
struct LogitsFile {
    static let magic = Array("_logits_".utf8)
    static let headerBytes = 20

    let nCtx: Int
    let nVocab: Int
    let nChunk: Int
    let tokens: [Int32]  // [nChunk · nCtx]

    var rowLength: Int { LogProbRow.length(vocab: nVocab) }
    var scoredPerChunk: Int { PerplexityChunks.scored(nCtx: nCtx) }
    var chunkBytes: Int { scoredPerChunk * rowLength * 2 }

    struct Failure: Error, CustomStringConvertible { let description: String }

    /// The file's bytes before the first row.
    func header() -> [UInt8] {
        var out = Self.magic
        func put(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        put(UInt32(nCtx))
        put(UInt32(bitPattern: Int32(nVocab)))
        put(UInt32(bitPattern: Int32(nChunk)))
        out.reserveCapacity(out.count + 4 * tokens.count)
        for t in tokens { put(UInt32(bitPattern: t)) }
        return out
    }

    /// Opens `path`, checks it, and returns its header with the handle positioned at the first row.
    static func open(_ path: String) throws -> (LogitsFile, FileHandle) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
              let h = FileHandle(forReadingAtPath: path) else {
            throw Failure(description: "cannot read \(path)")
        }
        do {
            return (try read(h, path), h)
        } catch let e as Failure {
            throw e
        } catch {
            throw Failure(description: "cannot read \(path): \(error)")
        }
    }

    private static func read(_ h: FileHandle, _ path: String) throws -> LogitsFile {
        let size = try h.seekToEnd()
        try h.seek(toOffset: 0)
        let head = [UInt8](try h.read(upToCount: headerBytes) ?? Data())
        guard head.count == headerBytes, Array(head[0..<8]) == magic else {
            throw Failure(description: "\(path) is not a llama-perplexity log-probability file (no \"_logits_\" header)")
        }
        func word(_ i: Int) -> UInt32 {
            UInt32(head[i]) | UInt32(head[i + 1]) << 8 | UInt32(head[i + 2]) << 16 | UInt32(head[i + 3]) << 24
        }
        let nCtx = Int(word(8)), nVocab = Int(Int32(bitPattern: word(12))), nChunk = Int(Int32(bitPattern: word(16)))
        // The size the header announces, with every product checked: a hostile header must not overflow.
        func mul(_ xs: Int64...) -> Int64? {
            var p: Int64 = 1
            for x in xs {
                let r = p.multipliedReportingOverflow(by: x)
                if r.overflow { return nil }
                p = r.partialValue
            }
            return p
        }
        let tokenCount = Int64(nCtx) * Int64(nChunk)  // < 2^63 from 32-bit fields
        guard nCtx >= PerplexityChunks.minimumContext, nVocab > 0, nChunk > 0,
              let tokenBytes = mul(4, tokenCount),
              let rowBytes = mul(Int64(nChunk), Int64(PerplexityChunks.scored(nCtx: nCtx)), Int64(LogProbRow.length(vocab: nVocab)), 2),
              case let (expected, false) = (Int64(headerBytes) + tokenBytes).addingReportingOverflow(rowBytes) else {
            throw Failure(description: "\(path) has an impossible header (n_ctx \(nCtx), n_vocab \(nVocab), n_chunk \(nChunk))")
        }
        guard Int64(size) == expected else {
            let what = Int64(size) < expected ? "is truncated" : "has \(Int64(size) - expected) bytes too many"
            throw Failure(description: "\(path) \(what): \(size) bytes where n_ctx \(nCtx), n_vocab \(nVocab) and n_chunk \(nChunk) make \(expected)")
        }
        let data = try h.read(upToCount: Int(4 * tokenCount)) ?? Data()
        guard data.count == Int(4 * tokenCount) else { throw Failure(description: "\(path): cannot read its tokens") }
        let tokens = data.withUnsafeBytes { raw in
            (0..<Int(tokenCount)).map { Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
        }
        if let bad = tokens.firstIndex(where: { $0 < 0 || Int($0) >= nVocab }) {
            throw Failure(description: "\(path): token \(tokens[bad]) at position \(bad) is outside its vocabulary of \(nVocab)")
        }
        return LogitsFile(nCtx: nCtx, nVocab: nVocab, nChunk: nChunk, tokens: tokens)
    }

    /// The next chunk's rows, [scoredPerChunk, rowLength].
    func readChunk(_ h: FileHandle) throws -> [UInt16] {
        let data: Data
        do { data = try h.read(upToCount: chunkBytes) ?? Data() } catch {
            throw Failure(description: "cannot read the log-probability file: \(error)")
        }
        guard data.count == chunkBytes else { throw Failure(description: "the log-probability file ends early") }
        var rows = [UInt16](repeating: 0, count: chunkBytes / 2)
        rows.withUnsafeMutableBytes { _ = data.copyBytes(to: $0) }
        if UInt16(1).littleEndian != 1 { for i in rows.indices { rows[i] = UInt16(littleEndian: rows[i]) } }
        return rows
    }

    /// Creates `path` and writes the header; rows follow with `append`.
    func create(_ path: String) throws -> FileHandle {
        guard FileManager.default.createFile(atPath: path, contents: Data(header())),
              let h = FileHandle(forWritingAtPath: path) else {
            throw Failure(description: "cannot write \(path)")
        }
        try h.seekToEnd()
        return h
    }

    /// Appends one chunk's rows ([scoredPerChunk, rowLength]).
    func append(_ rows: [UInt16], to h: FileHandle) throws {
        precondition(rows.count * 2 == chunkBytes)
        let bytes = rows.withUnsafeBufferPointer { p -> Data in
            if UInt16(1).littleEndian == 1 { return Data(buffer: p) }
            return Data(p.flatMap { [UInt8(truncatingIfNeeded: $0), UInt8(truncatingIfNeeded: $0 >> 8)] })
        }
        do { try h.write(contentsOf: bytes) } catch {
            throw Failure(description: "cannot write the log-probability file (disk full?): \(error)")
        }
    }
}
