/// A complete request as handlers see it: body already de-chunked and, if it was sent
/// with `Content-Encoding: gzip`, inflated (within the inflated-size limit).
public struct HTTPRequest: Sendable {
    public var method: String
    /// The request-target as sent, e.g. `/v1/models/x?verbose=1`.
    public var target: String
    /// The path part of the target (no query), normalized as RFC 3986 §6.2.2 compares paths
    /// (escaped unreserved characters decoded, `.` and `..` segments removed), other escapes
    /// kept. `*` for `OPTIONS *`.
    public var path: String
    /// The raw query string after `?`, or nil.
    public var query: String?
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    public var body: [UInt8]
    public var trailers: HTTPHeaders
    /// Peer address as text, e.g. `127.0.0.1:53412` or `[::1]:53412`.
    public var remoteAddress: String
    /// The client's `X-Request-Id` if sane, else a generated one; echoed in the response.
    public var requestID: String
    /// Values captured by a pattern route, e.g. `["id": "smollm2"]` for `/v1/models/{id}`.
    public var pathParameters: [String: String] = [:]

    public init(method: String, target: String, version: HTTPVersion = .http1_1, headers: HTTPHeaders = HTTPHeaders(),
                body: [UInt8] = [], trailers: HTTPHeaders = HTTPHeaders(), remoteAddress: String = "", requestID: String = "") {
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers
        self.body = body
        self.trailers = trailers
        self.remoteAddress = remoteAddress
        self.requestID = requestID
        (self.path, self.query) = Self.splitTarget(target)
    }

    /// The body as UTF-8 text (invalid sequences replaced).
    public var bodyString: String { String(decoding: body, as: UTF8.self) }

    /// Query parameters in order, `+` and percent-escapes decoded.
    public var queryItems: [(name: String, value: String)] {
        guard let query else { return [] }
        return query.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = Self.percentDecode(parts[0])
            let value = parts.count > 1 ? Self.percentDecode(parts[1]) : ""
            return (name: name, value: value)
        }
    }

    /// Splits origin-form or absolute-form targets into path and query.
    static func splitTarget(_ target: String) -> (String, String?) {
        var rest = Substring(target)
        if !rest.hasPrefix("/") && rest != "*", let scheme = rest.range(of: "://") {
            rest = rest[scheme.upperBound...]
            if let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) { rest = rest[slash...] } else { rest = "/" }
            if rest.hasPrefix("?") { rest = "/" + rest }
        }
        if let q = rest.firstIndex(of: "?") {
            return (normalizedPath(rest[..<q]), String(rest[rest.index(after: q)...]))
        }
        return (normalizedPath(rest), nil)
    }

    /// `/v1/%63ompletions`, `/v1/./models/../completions` and `//v1//completions` are
    /// `/v1/completions`, as nginx routes them (slashes merged); `%2F` stays an escape, so it never
    /// becomes a separator. (The parser refuses what nginx refuses: `HTTPRequestParser.pathProblem`.)
    static func normalizedPath(_ path: Substring) -> String {
        guard path.hasPrefix("/"), path.utf8.contains(where: { $0 == 37 || $0 == 46 }) || path.contains("//") else { return String(path) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(path.utf8.count)
        var it = Array(path.utf8)[...]
        while let b = it.popFirst() {
            if b == 37, it.count >= 2,
               let hi = HTTPRequestParser.hexValue(it[it.startIndex]), let lo = HTTPRequestParser.hexValue(it[it.startIndex + 1]) {
                let c = UInt8(hi * 16 + lo)
                let unreserved = (65...90).contains(c) || (97...122).contains(c) || (48...57).contains(c) || c == 45 || c == 46 || c == 95 || c == 126
                if unreserved { bytes.append(c); it = it.dropFirst(2); continue }
            }
            bytes.append(b)
        }
        // RFC 3986 §5.2.4 on segments: `.` goes, `..` takes the one before it (never past the root).
        var segments: [Substring] = []
        let parts = String(decoding: bytes, as: UTF8.self).split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        for (n, part) in parts.enumerated() {
            let last = n == parts.count - 1
            switch part {
            case ".": if last { segments.append("") }
            case "..": if !segments.isEmpty { segments.removeLast() }; if last { segments.append("") }
            case "": if last { segments.append("") }  // `//` merged; a final slash kept
            default: segments.append(part)
            }
        }
        return "/" + segments.joined(separator: "/")
    }

    static func percentDecode(_ s: Substring, plusAsSpace: Bool = true) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(s.utf8.count)
        var it = Array(s.utf8)[...]
        while let b = it.popFirst() {
            if b == 43 && plusAsSpace { bytes.append(32); continue }  // '+' means space only in queries
            if b == 37, it.count >= 2,
               let hi = HTTPRequestParser.hexValue(it[it.startIndex]), let lo = HTTPRequestParser.hexValue(it[it.startIndex + 1]) {
                bytes.append(UInt8(hi * 16 + lo))
                it = it.dropFirst(2)
                continue
            }
            bytes.append(b)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension HTTPRequestHead {
    /// The path as routes see it (`HTTPRequest.path`: no query, normalized), for answers decided
    /// from the head alone. (Here, not in HTTPRequestHead.swift: the parser fuzzer builds that
    /// file without this one.)
    public var path: String { HTTPRequest.splitTarget(target).0 }
}
