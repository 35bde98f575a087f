/// One malformed, hostile or merely unusual request with the outcome RFC 9112 (and nginx) expect.
struct HostileCase {
    let name: String
    let raw: [UInt8]
    /// Status the server answers with (200/204 for requests that must be accepted).
    let status: Int
    /// Whether the connection must be closed after the answer.
    let closes: Bool

    init(_ name: String, _ raw: String, _ status: Int, closes: Bool? = nil) {
        self.init(name, Array(raw.utf8), status, closes: closes)
    }

    init(_ name: String, _ raw: [UInt8], _ status: Int, closes: Bool? = nil) {
        self.name = name
        self.raw = raw
        self.status = status
        self.closes = closes ?? (status >= 400)
    }
}

/// Requests drawn from RFC 9112, and from the kinds of cases llhttp's and picohttpparser's
/// suites check (smuggling via framing, header syntax, chunk syntax, limits).
/// Routes assumed: GET and POST on `/` answer 200.
enum HostileRequests {
    static let h = "Host: a\r\n"

    /// A minimal TLS ClientHello, as a client sends it to an https:// URL on the plain port:
    /// record header (handshake 0x16, TLS 1.0 record version, length), handshake header
    /// (ClientHello, length), TLS 1.2 version, 32 random bytes, no session id, one cipher suite
    /// (TLS_AES_128_GCM_SHA256), null compression.
    static let tlsClientHello: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0x2d, 0x01, 0x00, 0x00, 0x29, 0x03, 0x03]
        + [UInt8](repeating: 0x5a, count: 32) + [0x00, 0x00, 0x02, 0x13, 0x01, 0x01, 0x00]

    static let cases: [HostileCase] = [
        // Framing: Content-Length / Transfer-Encoding (request smuggling vectors).
        HostileCase("CL and TE together", "POST / HTTP/1.1\r\n\(h)Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        HostileCase("TE and CL together", "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n", 400),
        HostileCase("duplicate identical CL", "POST / HTTP/1.1\r\n\(h)Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400),
        HostileCase("duplicate different CL", "POST / HTTP/1.1\r\n\(h)Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        HostileCase("CL list", "POST / HTTP/1.1\r\n\(h)Content-Length: 3, 3\r\n\r\nabc", 400),
        HostileCase("CL with plus sign", "POST / HTTP/1.1\r\n\(h)Content-Length: +3\r\n\r\nabc", 400),
        HostileCase("negative CL", "POST / HTTP/1.1\r\n\(h)Content-Length: -1\r\n\r\n", 400),
        HostileCase("CL not a number", "POST / HTTP/1.1\r\n\(h)Content-Length: abc\r\n\r\n", 400),
        HostileCase("CL hex", "POST / HTTP/1.1\r\n\(h)Content-Length: 0x10\r\n\r\n", 400),
        HostileCase("CL overflow", "POST / HTTP/1.1\r\n\(h)Content-Length: 99999999999999999999999\r\n\r\n", 400),
        HostileCase("CL empty", "POST / HTTP/1.1\r\n\(h)Content-Length:\r\n\r\n", 400),
        HostileCase("TE gzip", "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: gzip\r\n\r\n", 501),
        HostileCase("TE identity", "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: identity\r\n\r\n", 501),
        // Methods: one the server does not recognize is not implemented for any resource (RFC 9110
        // §15.6.2); method names are case-sensitive (§9.1).
        HostileCase("unknown method", "BREW / HTTP/1.1\r\n\(h)Content-Length: 0\r\n\r\n", 501),
        HostileCase("lowercase method", "get / HTTP/1.1\r\n\(h)\r\n", 501),
        HostileCase("TE gzip then chunked", "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
        HostileCase("TE chunked not final", "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
        HostileCase("TE chunked twice", "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        HostileCase("TE empty", "POST / HTTP/1.1\r\n\(h)Transfer-Encoding:\r\n\r\n", 400),
        HostileCase("TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        HostileCase("TE with trailing garbage token", "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunkedx\r\n\r\n", 501),
        // Chunk syntax.
        HostileCase("chunk size not hex", "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400),
        HostileCase("chunk size overflow", "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\nffffffffffffffffffff\r\nabc\r\n0\r\n\r\n", 400),
        HostileCase("chunk size 0x prefix", "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n", 400),
        HostileCase("negative chunk size", "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\n-3\r\nabc\r\n0\r\n\r\n", 400),
        HostileCase("empty chunk size", "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\n\r\nabc\r\n0\r\n\r\n", 400),
        HostileCase("space after chunk size", "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n", 400),
        HostileCase("chunk data longer than size", "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n", 400),
        HostileCase("chunk size bare LF", "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 400),
        HostileCase("NUL in chunk extension", Array("POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\n3;a=".utf8) + [0] + Array("\r\nabc\r\n0\r\n\r\n".utf8), 400),
        HostileCase("bare CR in chunk extension", "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\n3;a\rb\r\nabc\r\n0\r\n\r\n", 400),
        // Header syntax.
        HostileCase("obs-fold", "GET / HTTP/1.1\r\n\(h)X-A: 1\r\n  continued\r\n\r\n", 400),
        HostileCase("whitespace before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
        HostileCase("tab before colon", "GET / HTTP/1.1\r\n\(h)X-A\t: 1\r\n\r\n", 400),
        HostileCase("space inside name", "GET / HTTP/1.1\r\n\(h)X A: 1\r\n\r\n", 400),
        HostileCase("empty header name", "GET / HTTP/1.1\r\n\(h): value\r\n\r\n", 400),
        HostileCase("header without colon", "GET / HTTP/1.1\r\n\(h)NoColonHere\r\n\r\n", 400),
        HostileCase("NUL in header value", Array("GET / HTTP/1.1\r\n\(h)X-A: a".utf8) + [0] + Array("b\r\n\r\n".utf8), 400),
        HostileCase("NUL in header name", Array("GET / HTTP/1.1\r\n\(h)X-".utf8) + [0] + Array("A: b\r\n\r\n".utf8), 400),
        HostileCase("control char in value", Array("GET / HTTP/1.1\r\n\(h)X-A: a".utf8) + [1] + Array("b\r\n\r\n".utf8), 400),
        HostileCase("DEL in value", Array("GET / HTTP/1.1\r\n\(h)X-A: a".utf8) + [127] + Array("b\r\n\r\n".utf8), 400),
        HostileCase("bare CR in value", "GET / HTTP/1.1\r\n\(h)X-A: a\rb\r\n\r\n", 400),
        HostileCase("bare LF line endings", "GET / HTTP/1.1\nHost: a\n\n", 400),
        HostileCase("missing Host in 1.1", "GET / HTTP/1.1\r\n\r\n", 400),
        HostileCase("duplicate Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        HostileCase("Host with slash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
        HostileCase("Host with userinfo", "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400),
        HostileCase("unsupported expectation", "POST / HTTP/1.1\r\n\(h)Expect: 200-ok\r\nContent-Length: 1\r\n\r\na", 417),
        // Request line.
        HostileCase("version HTTP/2.0", "GET / HTTP/2.0\r\n\(h)\r\n", 505),
        HostileCase("version HTTP/3.0", "GET / HTTP/3.0\r\n\(h)\r\n", 505),
        HostileCase("version HTTP/0.9 form", "GET /\r\n\r\n", 400),
        HostileCase("version malformed", "GET / HTTP/1.x\r\n\(h)\r\n", 400),
        HostileCase("version lowercase", "GET / http/1.1\r\n\(h)\r\n", 400),
        HostileCase("version two digits", "GET / HTTP/11.1\r\n\(h)\r\n", 400),
        HostileCase("double space in request line", "GET  / HTTP/1.1\r\n\(h)\r\n", 400),
        HostileCase("space in target", "GET /a b HTTP/1.1\r\n\(h)\r\n", 400),
        HostileCase("tab in target", "GET /a\tb HTTP/1.1\r\n\(h)\r\n", 400),
        HostileCase("high byte in target", Array("GET /a".utf8) + [0xC3, 0xA9] + Array(" HTTP/1.1\r\n\(h)\r\n".utf8), 400),
        HostileCase("bad method character", "G(ET / HTTP/1.1\r\n\(h)\r\n", 400),
        HostileCase("target not origin-form", "GET foo HTTP/1.1\r\n\(h)\r\n", 400),
        HostileCase("fragment in target", "GET /#top HTTP/1.1\r\n\(h)\r\n", 400),
        // What nginx refuses in a path: bad escapes, an encoded NUL, a climb above the root.
        HostileCase("bad percent escape", "GET /%zzhealth HTTP/1.1\r\n\(h)\r\n", 400),
        HostileCase("lone percent", "GET /v1/models/% HTTP/1.1\r\n\(h)\r\n", 400),
        HostileCase("encoded NUL", "GET /health%00 HTTP/1.1\r\n\(h)\r\n", 400),
        HostileCase("climb above the root", "GET /../../health HTTP/1.1\r\n\(h)\r\n", 400),
        HostileCase("encoded climb", "GET /a/%2e%2E/../health HTTP/1.1\r\n\(h)\r\n", 400),
        HostileCase("absolute-form climb", "GET http://x/../health HTTP/1.1\r\n\(h)\r\n", 400),
        HostileCase("climb within the path", "GET /v1/.. HTTP/1.1\r\n\(h)\r\n", 200),
        HostileCase("merged slashes", "GET // HTTP/1.1\r\n\(h)\r\n", 200),
        HostileCase("escape in the query only", "GET /?a=%zz HTTP/1.1\r\n\(h)\r\n", 200),
        HostileCase("absolute form, a query without a path", "GET http://h?x=/../a%zz HTTP/1.1\r\n\(h)\r\n", 200),
        HostileCase("asterisk outside OPTIONS", "GET * HTTP/1.1\r\n\(h)\r\n", 400),
        HostileCase("too many empty lines first", "\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n\(h)\r\n", 400),
        // Bytes that cannot start a request line: refused on the first byte.
        HostileCase("TLS ClientHello on the plain port", tlsClientHello, 400),
        HostileCase("NUL first", [0] + Array("GET / HTTP/1.1\r\n\(h)\r\n".utf8), 400),
        HostileCase("space before method", " GET / HTTP/1.1\r\n\(h)\r\n", 400),
        // Limits.
        HostileCase("request line over 8 KiB", "GET /\(String(repeating: "a", count: 9000)) HTTP/1.1\r\n\(h)\r\n", 414),
        HostileCase("header block over 32 KiB", "GET / HTTP/1.1\r\n\(h)X-Big: \(String(repeating: "b", count: 33 * 1024))\r\n\r\n", 431),
        HostileCase("more than 100 fields", "GET / HTTP/1.1\r\n\(h)" + (0..<101).map { "X-\($0): v\r\n" }.joined() + "\r\n", 431),
        HostileCase("CL over 4 MiB", "POST / HTTP/1.1\r\n\(h)Content-Length: 5000000\r\n\r\n", 413),
        HostileCase("chunk over 4 MiB", "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\n500000\r\n", 413),
        // Unusual but valid: must be accepted, connection kept open.
        HostileCase("leading empty line", "\r\nGET / HTTP/1.1\r\n\(h)\r\n", 200),
        HostileCase("HTTP/1.2 answered as 1.1", "GET / HTTP/1.2\r\n\(h)\r\n", 200),
        HostileCase("empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", 200),
        HostileCase("mixed-case chunked with extension and trailer", "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: Chunked\r\n\r\n3;ext=\"v\"\r\nabc\r\n0\r\nX-T: 1\r\n\r\n", 200),
        HostileCase("blanks before a chunk extension", "POST / HTTP/1.1\r\n\(h)Transfer-Encoding: chunked\r\n\r\n3 \t;a=b\r\nabc\r\n0 ;z\r\n\r\n", 200),
        HostileCase("absolute-form target", "GET http://a/ HTTP/1.1\r\n\(h)\r\n", 200),
        HostileCase("absolute-form target, scheme in capitals", "GET HTTP://a/ HTTP/1.1\r\n\(h)\r\n", 200),
        HostileCase("OPTIONS asterisk", "OPTIONS * HTTP/1.1\r\n\(h)\r\n", 204),
        HostileCase("HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", 200, closes: true),
    ]
}
