#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Incremental HTTP/1.1 request parser: a value type fed with bytes, returning one event at a time.
/// No sockets, no clock: the connection carries out what it returns, tests drive it directly.
///
/// Lines (request line, header and trailer fields, chunk-size lines) are parsed when their LF
/// arrives; a partial line is kept in a small buffer bounded by the limits, so a slow client
/// costs at most one limit's worth of memory. Framing rules follow RFC 9112 strictly, as nginx
/// does, because lenient framing is what request smuggling feeds on.
public struct HTTPRequestParser {
    public enum Event: Equatable {
        /// The header block is complete and valid (with `bodyTooLarge`, a 413 error follows).
        case head(HTTPRequestHead)
        /// Body bytes (already de-chunked) at these indices of the buffer given to `parse`.
        case body(Range<Int>)
        /// The message is complete; the parser is ready for the next pipelined request.
        case end(trailers: HTTPHeaders)
        /// The request is invalid: answer with `error.status` and close. Sticky.
        case error(HTTPParserError)

        /// Heads compare by request line only (enough for tests and the fuzzer's sticky-error check).
        public static func == (a: Event, b: Event) -> Bool {
            switch (a, b) {
            case let (.head(x), .head(y)): return x.method == y.method && x.target == y.target && x.version == y.version
            case let (.body(x), .body(y)): return x == y
            case let (.end(x), .end(y)): return x.count == y.count
            case let (.error(x), .error(y)): return x == y
            default: return false
            }
        }
    }

    private enum State {
        case requestLine
        case headers
        case endPending  // head emitted for a bodyless message; `.end` comes next
        case lengthBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataCR
        case chunkDataLF
        case trailers
        case failed(HTTPParserError)
    }

    public var limits: HTTPParserLimits
    private var state: State = .requestLine
    private var line: [UInt8] = []  // partial line carried across `parse` calls
    private var lineStarted = false  // some byte of the current message has arrived
    private var emptyLines = 0

    // Pieces of the message being parsed.
    private var method = ""
    private var target = ""
    private var version = HTTPVersion.http1_1
    private var headers = HTTPHeaders()
    private var blockBytes = 0  // header or trailer block size so far
    private var bodyBytes = 0

    public init(limits: HTTPParserLimits = HTTPParserLimits()) {
        self.limits = limits
        line.reserveCapacity(256)
    }

    /// The header fields read so far of the message being parsed (an error raised inside its head
    /// still answers with what they ask for, e.g. CORS headers for its Origin).
    public var fieldsSoFar: HTTPHeaders { headers }

    /// The request target of the message being parsed, once its request line is read (an error
    /// raised inside its head answers in the envelope of the API its path is under).
    public var targetSoFar: String? { target.isEmpty ? nil : target }

    /// The method the message being parsed starts with, once its request line has ended or passed
    /// its length limit, or once the part of the line received so far holds it (a 408 for a request
    /// line that stalls), else "" (an error answer to a HEAD request then has no content).
    public var requestMethod: String {
        if !method.isEmpty { return method }
        guard case .requestLine = state else { return "" }
        return line.withUnsafeBytes { Self.methodToken($0) } ?? ""
    }

    /// True between messages: no byte of the next request has arrived (for idle vs header timeouts).
    public var isIdle: Bool {
        if case .requestLine = state { return !lineStarted }
        return false
    }

    /// True once the head was returned and until `.end` (the body is being read).
    public var isReadingBody: Bool {
        switch state {
        case .lengthBody, .chunkSize, .chunkData, .chunkDataCR, .chunkDataLF, .trailers, .endPending: return true
        default: return false
        }
    }

    /// Consumes a prefix of `input` and returns at most one event.
    /// A nil event means every byte was consumed and more input is needed.
    public mutating func parse(_ input: UnsafeRawBufferPointer) -> (consumed: Int, event: Event?) {
        var pos = 0
        let count = input.count
        while true {
            switch state {
            case .failed(let error):
                return (0, .error(error))

            case .endPending:
                let trailers = headers
                reset()
                return (pos, .end(trailers: trailers))

            case .lengthBody(let remaining):
                if remaining == 0 {
                    state = .endPending
                    continue
                }
                guard pos < count else { return (pos, nil) }
                let n = min(remaining, count - pos)
                state = .lengthBody(remaining: remaining - n)
                if remaining - n == 0 { state = .endPending }
                return (pos + n, .body(pos..<(pos + n)))

            case .chunkData(let remaining):
                guard pos < count else { return (pos, nil) }
                let n = min(remaining, count - pos)
                state = remaining - n == 0 ? .chunkDataCR : .chunkData(remaining: remaining - n)
                return (pos + n, .body(pos..<(pos + n)))

            case .chunkDataCR, .chunkDataLF:
                guard pos < count else { return (pos, nil) }
                let byte = input[pos]
                pos += 1
                if case .chunkDataCR = state {
                    guard byte == 13 else { return fail(.bad("bad_chunk", "Chunk data not followed by CRLF.")) }
                    state = .chunkDataLF
                } else {
                    guard byte == 10 else { return fail(.bad("bad_chunk", "Chunk data not followed by CRLF.")) }
                    state = .chunkSize
                }

            case .requestLine, .headers, .chunkSize, .trailers:
                guard pos < count else { return (pos, nil) }
                if case .requestLine = state, line.isEmpty, !Self.mayStartRequestLine(input[pos]) {
                    // Refused on its first byte rather than when a line end that may never come
                    // arrives: a TLS ClientHello (0x16 0x03 ...) on the plain port gets 400 at once.
                    return fail(.notHTTP)
                }
                let rest = UnsafeRawBufferPointer(rebasing: input[pos..<count])
                let lf = memchr(rest.baseAddress!, 10, rest.count)
                if !lineStarted {
                    // Empty lines before a request line (ignored, RFC 9112 §2.2) do not start a
                    // request: a stray CRLF after a body leaves the connection idle, not mid-header.
                    if case .requestLine = state {
                        let upTo = lf.map { rest.baseAddress!.distance(to: UnsafeRawPointer($0)) } ?? rest.count
                        lineStarted = rest[0..<upTo].contains { $0 != 13 && $0 != 10 }
                    } else {
                        lineStarted = true
                    }
                }
                guard let lfPointer = lf else {
                    line.append(contentsOf: rest)
                    if let error = partialLineError() {
                        if case .requestLine = state { let start = line; start.withUnsafeBytes { noteMethod($0) } }
                        return fail(error)
                    }
                    return (count, nil)
                }
                let lineLength = rest.baseAddress!.distance(to: UnsafeRawPointer(lfPointer))
                let event: Event?
                if line.isEmpty {
                    event = completeLine(UnsafeRawBufferPointer(rebasing: rest[0..<lineLength]))
                } else {
                    line.append(contentsOf: rest[0..<lineLength])
                    let joined = line
                    line.removeAll(keepingCapacity: true)
                    event = joined.withUnsafeBytes { completeLine($0) }
                }
                pos += lineLength + 1
                if let event { return (pos, event) }
            }
        }
    }

    // MARK: - Lines

    /// Checks the limit that applies to a line still waiting for its LF.
    private func partialLineError() -> HTTPParserError? {
        switch state {
        case .requestLine: return line.count > limits.maxRequestLineLength + 1 ? .requestLineTooLong : nil
        case .headers, .trailers: return blockBytes + line.count > limits.maxHeaderBytes ? .headersTooLarge : nil
        case .chunkSize: return line.count > limits.maxChunkLineLength ? .bad("bad_chunk", "Chunk size line too long.") : nil
        default: return nil
        }
    }

    /// Handles one line (without its LF). Returns an event when one is due.
    private mutating func completeLine(_ raw: UnsafeRawBufferPointer) -> Event? {
        var isRequestLine = false
        if case .requestLine = state { isRequestLine = true }
        let event = readLine(raw)
        // Only a refused request line is read for its method here (parseRequestLine takes it otherwise).
        if isRequestLine, case .error? = event, method.isEmpty { noteMethod(raw) }
        return event
    }

    private mutating func readLine(_ raw: UnsafeRawBufferPointer) -> Event? {
        // Limits first, with the same measure as for a partial line, so the outcome does not
        // depend on how the bytes were split across reads.
        switch state {
        case .requestLine where raw.count > limits.maxRequestLineLength + 1: return failEvent(.requestLineTooLong)
        case .headers where blockBytes + raw.count + 1 > limits.maxHeaderBytes,
             .trailers where blockBytes + raw.count + 1 > limits.maxHeaderBytes: return failEvent(.headersTooLarge)
        case .chunkSize where raw.count > limits.maxChunkLineLength: return failEvent(.bad("bad_chunk", "Chunk size line too long."))
        default: break
        }
        // Every line must end in CRLF; a bare LF or a CR elsewhere is a framing error.
        guard raw.count >= 1, raw[raw.count - 1] == 13 else {
            return failEvent(.bad("bare_lf", "Line not terminated by CRLF."))
        }
        let text = UnsafeRawBufferPointer(rebasing: raw[0..<(raw.count - 1)])
        switch state {
        case .requestLine:
            if text.isEmpty {
                // RFC 9112 §2.2: ignore a few empty lines before a request.
                emptyLines += 1
                if emptyLines > 4 { return failEvent(.bad("bad_request_line", "Too many empty lines.")) }
                return nil
            }
            if let error = parseRequestLine(text) { return failEvent(error) }
            state = .headers
            return nil
        case .headers, .trailers:
            blockBytes += raw.count + 1
            if text.isEmpty {
                if case .trailers = state {
                    state = .endPending
                    return nil
                }
                return finishHead()
            }
            if let error = parseField(text) { return failEvent(error) }
            return nil
        case .chunkSize:
            return parseChunkSize(text)
        default:
            return nil
        }
    }

    private mutating func parseRequestLine(_ text: UnsafeRawBufferPointer) -> HTTPParserError? {
        // method SP request-target SP HTTP-version, single spaces, no control bytes.
        guard let sp1 = text.firstIndex(of: 32) else { return .bad("bad_request_line", "Malformed request line.") }
        let afterMethod = sp1 + 1
        guard let sp2rel = text[afterMethod...].firstIndex(of: 32) else {
            return .bad("bad_request_line", "Malformed request line.")
        }
        let sp2 = sp2rel
        guard sp1 > 0, sp2 > afterMethod else { return .bad("bad_request_line", "Malformed request line.") }
        for i in 0..<sp1 where !Self.isTokenChar(text[i]) {
            return .bad("bad_method", "Invalid method.")
        }
        for i in afterMethod..<sp2 {
            let b = text[i]
            // A fragment is the client's own business (RFC 9112 §3.2): `#` never reaches a server.
            if b <= 32 || b >= 127 || b == 35 { return .bad("bad_target", "Invalid request target.") }
        }
        let versionBytes = UnsafeRawBufferPointer(rebasing: text[(sp2 + 1)...])
        guard versionBytes.count == 8,
              versionBytes[0] == 72, versionBytes[1] == 84, versionBytes[2] == 84, versionBytes[3] == 80,
              versionBytes[4] == 47, versionBytes[6] == 46,
              (48...57).contains(versionBytes[5]), (48...57).contains(versionBytes[7])
        else { return .bad("bad_version", "Malformed HTTP version.") }
        let major = Int(versionBytes[5] - 48), minor = Int(versionBytes[7] - 48)
        guard major == 1 else { return .versionNotSupported }
        // RFC 9110 §6.2: a higher 1.x minor is answered as 1.1.
        version = HTTPVersion(major: 1, minor: min(minor, 1))
        method = String(decoding: UnsafeRawBufferPointer(rebasing: text[0..<sp1]), as: UTF8.self)
        guard limits.methods.contains(method) else {
            return HTTPParserError(.notImplemented, "method_not_implemented", "Method \(method) is not implemented by this server.")
        }
        target = String(decoding: UnsafeRawBufferPointer(rebasing: text[afterMethod..<sp2]), as: UTF8.self)
        let first = text[afterMethod]
        if first != 47 {  // not origin-form
            if target == "*" {
                if method != "OPTIONS" { return .bad("bad_target", "Asterisk target outside OPTIONS.") }
            } else if !Self.isAbsoluteForm(target) {
                return .bad("bad_target", "Unsupported request-target form.")
            }
        }
        if let why = Self.pathProblem(target) { return .bad("bad_target", why) }
        return nil
    }

    /// What nginx refuses in a target's path with a 400: a `%` not followed by two hex digits, an
    /// encoded NUL, and `..` segments climbing above the root (`/../health`). Escapes of
    /// unreserved characters count as those characters (`%2e%2e` is `..`); empty segments (`//`)
    /// are merged, so they never count.
    static func pathProblem(_ target: String) -> String? {
        var path = Substring(target)
        if !path.hasPrefix("/") {
            // Absolute form (`isAbsoluteForm`): the path starts at the first `/` after `scheme://`,
            // unless a `?` comes first (no path: the query is no path to check).
            guard let colon = path.firstIndex(of: ":") else { return nil }
            let rest = path[colon...].dropFirst(3)
            guard let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }), rest[slash] == "/" else { return nil }
            path = rest[slash...]
        }
        if let q = path.firstIndex(of: "?") { path = path[..<q] }
        var depth = 0, segment: [UInt8] = []
        func close() -> Bool {
            switch segment {
            case [46]: break
            case [46, 46]: depth -= 1
            case []: break
            default: depth += 1
            }
            segment = []
            return depth >= 0
        }
        var it = Array(path.utf8.dropFirst())[...]
        while let b = it.popFirst() {
            if b == 47 {
                guard close() else { return "The path climbs above the root." }
                continue
            }
            guard b == 37 else { segment.append(b); continue }
            guard it.count >= 2, let hi = hexValue(it[it.startIndex]), let lo = hexValue(it[it.startIndex + 1]) else {
                return "Invalid percent-encoding in the path."
            }
            it = it.dropFirst(2)
            let c = UInt8(hi * 16 + lo)
            guard c != 0 else { return "An encoded NUL in the path." }
            segment.append(c == 46 ? 46 : 37)  // only dots matter here
        }
        return close() ? nil : "The path climbs above the root."
    }

    /// `http://…` or `https://…`, the scheme in any case (RFC 3986 §3.1).
    static func isAbsoluteForm(_ target: String) -> Bool {
        let scheme = target.prefix(8).lowercased()
        return scheme.hasPrefix("http://") || scheme.hasPrefix("https://")
    }

    private mutating func parseField(_ text: UnsafeRawBufferPointer) -> HTTPParserError? {
        let first = text[0]
        if first == 32 || first == 9 { return .bad("obs_fold", "Obsolete line folding is not accepted.") }
        guard let colon = text.firstIndex(of: 58), colon > 0 else {
            return .bad("bad_header", "Malformed header field.")
        }
        for i in 0..<colon where !Self.isTokenChar(text[i]) {
            return .bad("bad_header_name", "Invalid character in header name.")
        }
        var start = colon + 1, end = text.count
        while start < end, text[start] == 32 || text[start] == 9 { start += 1 }
        while end > start, text[end - 1] == 32 || text[end - 1] == 9 { end -= 1 }
        for i in start..<end {
            let b = text[i]
            // field-vchar / SP / HTAB / obs-text; rejects NUL, CR, other controls and DEL.
            if (b < 32 && b != 9) || b == 127 { return .bad("bad_header_value", "Invalid character in header value.") }
        }
        let isTrailer: Bool
        if case .trailers = state { isTrailer = true } else { isTrailer = false }
        if headers.count >= limits.maxHeaderCount { return .tooManyHeaders }
        let name = String(decoding: UnsafeRawBufferPointer(rebasing: text[0..<colon]), as: UTF8.self)
        if isTrailer && Self.forbiddenTrailers.contains(where: { HTTPHeaders.equalsIgnoringCase($0, name) }) {
            return nil  // RFC 9110 §6.5.1: framing fields are never taken from trailers.
        }
        headers.add(name: name, value: String(decoding: UnsafeRawBufferPointer(rebasing: text[start..<end]), as: UTF8.self))
        return nil
    }

    private static let forbiddenTrailers = ["content-length", "transfer-encoding", "host", "content-encoding", "content-type", "connection", "expect"]

    /// Validates the header block and decides the body framing (RFC 9112 §6).
    private mutating func finishHead() -> Event? {
        let hosts = headers.values(name: "host")
        if version == .http1_1 && hosts.count != 1 { return failEvent(.bad("bad_host", "Exactly one Host header is required.")) }
        if hosts.count > 1 { return failEvent(.bad("bad_host", "Duplicate Host header.")) }
        if let host = hosts.first, !Self.isValidHost(host) { return failEvent(.bad("bad_host", "Invalid Host header.")) }

        let lengths = headers.values(name: "content-length")
        let codings = headers.tokens(name: "transfer-encoding")
        var framing = HTTPRequestHead.BodyFraming.none, tooLarge = false
        if !codings.isEmpty {
            if !lengths.isEmpty { return failEvent(.bad("ambiguous_framing", "Both Content-Length and Transfer-Encoding.")) }
            if version == .http1_0 { return failEvent(.bad("bad_transfer_encoding", "Transfer-Encoding in HTTP/1.0.")) }
            if codings.contains("") { return failEvent(.bad("bad_transfer_encoding", "Empty transfer coding.")) }
            let chunkedCount = codings.filter { $0 == "chunked" }.count
            if codings == ["chunked"] {
                framing = .chunked
            } else if chunkedCount == 0 || (chunkedCount == 1 && codings.last == "chunked") {
                return failEvent(.unsupportedTransferCoding)  // well framed, but a coding we do not decode
            } else {
                return failEvent(.bad("bad_transfer_encoding", "Chunked must be the final transfer coding, once."))
            }
        } else if !lengths.isEmpty {
            if lengths.count > 1 { return failEvent(.bad("bad_content_length", "Duplicate Content-Length.")) }
            guard let length = Self.parseDecimal(lengths[0]) else {
                return failEvent(.bad("bad_content_length", "Invalid Content-Length."))
            }
            tooLarge = length > limits.maxBodyBytes
            framing = length > 0 ? .length(length) : .none
        }

        let connection = headers.tokens(name: "connection")
        let keepAlive = version == .http1_1 ? !connection.contains("close") : connection.contains("keep-alive") && !connection.contains("close")
        var expectContinue = false
        if let expect = headers["expect"], version == .http1_1 {
            guard expect.lowercased() == "100-continue" else { return failEvent(.expectationFailed) }
            expectContinue = framing != .none && !tooLarge  // a body refused unread is never asked for
        }

        let head = HTTPRequestHead(method: method, target: target, version: version, headers: headers,
                                   framing: framing, keepAlive: keepAlive, expectContinue: expectContinue,
                                   bodyTooLarge: tooLarge)
        headers = HTTPHeaders()
        blockBytes = 0
        switch framing {
        case _ where tooLarge: state = .failed(.bodyTooLarge)  // the 413 follows the head; its body is never read
        case .none: state = .endPending
        case .length(let n): state = .lengthBody(remaining: n)
        case .chunked: state = .chunkSize
        }
        return .head(head)
    }

    private mutating func parseChunkSize(_ text: UnsafeRawBufferPointer) -> Event? {
        var size = 0, digits = 0, i = 0
        while i < text.count, let v = Self.hexValue(text[i]) {
            if digits >= 15 && size > 0 { return failEvent(.bad("bad_chunk", "Chunk size overflows.")) }
            size = size &* 16 &+ v
            if size > 0 { digits += 1 }
            i += 1
        }
        guard i > 0 else { return failEvent(.bad("bad_chunk", "Invalid chunk size.")) }
        var extensionBytes = 0
        if i < text.count {
            // chunk-ext (RFC 9112 §7.1.1): optional blanks, `;`, then token/quoted text; anything
            // but visible text and blanks is refused.
            var j = i
            while j < text.count, text[j] == 32 || text[j] == 9 { j += 1 }
            guard j < text.count, text[j] == 59 else { return failEvent(.bad("bad_chunk", "Invalid chunk size.")) }
            for k in (j + 1)..<text.count {
                let b = text[k]
                if (b < 32 && b != 9) || b == 127 { return failEvent(.bad("bad_chunk", "Invalid chunk extension.")) }
            }
            extensionBytes = text.count - i
        }
        // Extensions count against the body limit too, so tiny chunks with long extensions
        // cannot stretch a body without end.
        if size > limits.maxBodyBytes - bodyBytes - extensionBytes { return failEvent(.bodyTooLarge) }
        bodyBytes += size + extensionBytes
        if size == 0 {
            state = .trailers
            headers = HTTPHeaders()
            blockBytes = 0
        } else {
            state = .chunkData(remaining: size)
        }
        return nil
    }

    // MARK: - Helpers

    /// The method a request line starts with, before the rest is checked: an error about the rest
    /// of the line (414, 505, a bad target) to a HEAD request still goes without content.
    private mutating func noteMethod(_ line: UnsafeRawBufferPointer) {
        if let token = Self.methodToken(line) { method = token }
    }

    /// The token before a line's first space (within its first 32 bytes), if it is one.
    private static func methodToken(_ line: UnsafeRawBufferPointer) -> String? {
        guard let sp = line.prefix(32).firstIndex(of: 32), sp > 0,
              line[..<sp].allSatisfy(Self.isTokenChar) else { return nil }
        return String(decoding: UnsafeRawBufferPointer(rebasing: line[0..<sp]), as: UTF8.self)
    }

    private mutating func reset() {
        state = .requestLine
        method = ""
        target = ""
        line.removeAll(keepingCapacity: true)
        lineStarted = false
        emptyLines = 0
        headers = HTTPHeaders()
        blockBytes = 0
        bodyBytes = 0
    }

    private mutating func fail(_ error: HTTPParserError) -> (consumed: Int, event: Event?) {
        state = .failed(error)
        line = []
        return (0, .error(error))
    }

    private mutating func failEvent(_ error: HTTPParserError) -> Event {
        state = .failed(error)
        line = []
        return .error(error)
    }

    /// A request line starts with a method (tchars); CR and LF start the empty lines RFC 9112 §2.2
    /// lets a client send first (a bare LF is refused later, as `bare_lf`).
    @inline(__always)
    static func mayStartRequestLine(_ b: UInt8) -> Bool {
        b == 13 || b == 10 || isTokenChar(b)
    }

    /// tchar from RFC 9110 §5.6.2.
    @inline(__always)
    static func isTokenChar(_ b: UInt8) -> Bool {
        switch b {
        case 48...57, 65...90, 97...122: return true
        case 33, 35, 36, 37, 38, 39, 42, 43, 45, 46, 94, 95, 96, 124, 126: return true
        default: return false
        }
    }

    @inline(__always)
    static func hexValue(_ b: UInt8) -> Int? {
        switch b {
        case 48...57: return Int(b - 48)
        case 65...70: return Int(b - 55)
        case 97...102: return Int(b - 87)
        default: return nil
        }
    }

    /// 1*DIGIT with overflow check; no sign, blanks, or lists.
    static func parseDecimal(_ s: String) -> Int? {
        guard !s.isEmpty, s.utf8.count <= 18 else { return nil }
        var value = 0
        for b in s.utf8 {
            guard b >= 48 && b <= 57 else { return nil }
            value = value * 10 + Int(b - 48)
        }
        return value
    }

    /// host [":" port] with no characters that could change how the target is read.
    static func isValidHost(_ s: String) -> Bool {
        for b in s.utf8 {
            switch b {
            case 47, 92, 64, 32, 9, 0..<32, 127, 35, 63: return false  // / \ @ blanks controls # ?
            default: continue
            }
        }
        return true
    }
}
