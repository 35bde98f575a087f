import XCTest
@testable import HTTP

/// Drives the parser without sockets.
final class HTTPRequestParserTests: XCTestCase {
    /// What a whole run of the parser produced, with body bytes resolved.
    struct Outcome: Equatable {
        var heads: [String] = []  // "METHOD target"
        var bodies: [[UInt8]] = []
        var ends = 0
        var error: HTTPParserError?
    }

    /// Feeds `bytes` in pieces of `step` bytes (0 = all at once), as a connection would.
    static func run(_ bytes: [UInt8], step: Int = 0, limits: HTTPParserLimits = HTTPParserLimits(),
                    heads: inout [HTTPRequestHead]) -> Outcome {
        var parser = HTTPRequestParser(limits: limits)
        var outcome = Outcome()
        var pending: [UInt8] = []
        var fed = 0
        var currentBody: [UInt8] = []
        while true {
            if fed < bytes.count {
                let n = step == 0 ? bytes.count : min(step, bytes.count - fed)
                pending.append(contentsOf: bytes[fed..<(fed + n)])
                fed += n
            }
            // Parse what is buffered until the parser needs more.
            while true {
                let (consumed, event) = pending.withUnsafeBytes { parser.parse($0) }
                var drop = consumed
                switch event {
                case nil:
                    drop = consumed
                case .head(let h)?:
                    outcome.heads.append("\(h.method) \(h.target)")
                    heads.append(h)
                    currentBody = []
                case .body(let r)?:
                    currentBody.append(contentsOf: pending[r])
                case .end?:
                    outcome.bodies.append(currentBody)
                    outcome.ends += 1
                case .error(let e)?:
                    outcome.error = e
                    return outcome
                }
                pending.removeFirst(drop)
                if event == nil { break }
            }
            if fed >= bytes.count { return outcome }
        }
    }

    static func run(_ text: String, step: Int = 0) -> Outcome {
        var heads: [HTTPRequestHead] = []
        return run(Array(text.utf8), step: step, heads: &heads)
    }

    func testSimpleGet() {
        var heads: [HTTPRequestHead] = []
        let outcome = Self.run(Array("GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Multi: 1\r\nx-multi: 2\r\n\r\n".utf8), heads: &heads)
        XCTAssertNil(outcome.error)
        XCTAssertEqual(outcome.heads, ["GET /a?b=1"])
        XCTAssertEqual(outcome.ends, 1)
        let head = try! XCTUnwrap(heads.first)
        XCTAssertEqual(head.version, .http1_1)
        XCTAssertTrue(head.keepAlive)
        XCTAssertEqual(head.headers["HOST"], "x")
        XCTAssertEqual(head.headers.values(name: "X-MULTI"), ["1", "2"])
        XCTAssertEqual(head.framing, .none)
    }

    func testKeepAliveRules() {
        var heads: [HTTPRequestHead] = []
        _ = Self.run(Array("GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n".utf8), heads: &heads)
        XCTAssertEqual(heads.map(\.keepAlive), [false, true, false])
    }

    func testContentLengthBodyAndPipelining() {
        let text = "POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /y HTTP/1.1\r\nHost: a\r\n\r\nPOST /z HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"
        for step in [0, 1, 2, 7, 64] {
            let outcome = Self.run(text, step: step)
            XCTAssertNil(outcome.error, "step \(step)")
            XCTAssertEqual(outcome.heads, ["POST /x", "GET /y", "POST /z"], "step \(step)")
            XCTAssertEqual(outcome.bodies, [Array("hello".utf8), [], Array("hi".utf8)], "step \(step)")
        }
    }

    func testChunkedBodyWithTrailers() {
        let text = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;name=value\r\nhello\r\n0A\r\n, world!!!\r\n0\r\nX-Checksum: 42\r\nContent-Length: 999\r\n\r\n"
        for step in [0, 1, 3, 11] {
            var parser = HTTPRequestParser()
            var pending: [UInt8] = []
            var body: [UInt8] = []
            var trailers: HTTPHeaders?
            var fed = 0
            let bytes = Array(text.utf8)
            while trailers == nil && fed <= bytes.count {
                let n = step == 0 ? bytes.count : min(step, bytes.count - fed)
                pending.append(contentsOf: bytes[fed..<(fed + n)])
                fed += max(n, 1)
                while true {
                    let (consumed, event) = pending.withUnsafeBytes { parser.parse($0) }
                    if case .body(let r)? = event { body.append(contentsOf: pending[r]) }
                    if case .end(let t)? = event { trailers = t }
                    if case .error(let e)? = event { XCTFail("\(e)"); return }
                    pending.removeFirst(consumed)
                    if event == nil || trailers != nil { break }
                }
            }
            XCTAssertEqual(String(decoding: body, as: UTF8.self), "hello, world!!!", "step \(step)")
            XCTAssertEqual(trailers?["x-checksum"], "42")
            XCTAssertNil(trailers?["content-length"], "framing fields are dropped from trailers")
        }
    }

    func testExpectContinue() {
        var heads: [HTTPRequestHead] = []
        _ = Self.run(Array("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\nx".utf8), heads: &heads)
        XCTAssertEqual(heads.first?.expectContinue, true)
    }

    func testIdleStateTracksFirstByte() {
        var parser = HTTPRequestParser()
        XCTAssertTrue(parser.isIdle)
        let partial = Array("GE".utf8)
        _ = partial.withUnsafeBytes { parser.parse($0) }
        XCTAssertFalse(parser.isIdle)
    }

    func testErrorIsStickyAndConsumesNothing() {
        var parser = HTTPRequestParser()
        let bad = Array("GET / HTTP/9.9\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8)
        let (_, first) = bad.withUnsafeBytes { parser.parse($0) }
        guard case .error(let e)? = first else { return XCTFail("expected error") }
        XCTAssertEqual(e.status, .versionNotSupported)
        let (consumed, again) = bad.withUnsafeBytes { parser.parse($0) }
        XCTAssertEqual(consumed, 0)
        XCTAssertEqual(again, .error(e))
    }

    /// A request line starts with a method; anything else is refused on its first byte, without
    /// waiting for a line end (a TLS ClientHello has none to wait for).
    func testBytesThatCannotStartARequestLineFailOnTheFirstByte() {
        for first: UInt8 in [0x16, 0x00, 0x80, 0x20, 0x7B] {
            var parser = HTTPRequestParser()
            let (consumed, event) = [first].withUnsafeBytes { parser.parse($0) }
            XCTAssertEqual(consumed, 0, "byte \(first)")
            XCTAssertEqual(event, .error(.notHTTP), "byte \(first)")
        }
        // Empty lines before a request stay allowed (RFC 9112 §2.2), and so does a normal method.
        for start in ["\r", "\r\n", "G", "m-search"] {
            var parser = HTTPRequestParser()
            let (_, event) = Array(start.utf8).withUnsafeBytes { parser.parse($0) }
            XCTAssertNil(event, start.debugDescription)
        }
        // The same refusal after a keep-alive request, at any split.
        let text = Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8) + HostileRequests.tlsClientHello
        for step in [0, 1, 3] {
            var heads: [HTTPRequestHead] = []
            let outcome = Self.run(text, step: step, heads: &heads)
            XCTAssertEqual(outcome.ends, 1, "step \(step)")
            XCTAssertEqual(outcome.error, .notHTTP, "step \(step)")
        }
    }

    func testPartialLinesAreBoundedByLimits() {
        var limits = HTTPParserLimits()
        limits.maxRequestLineLength = 100
        var parser = HTTPRequestParser(limits: limits)
        let chunk = [UInt8](repeating: 97, count: 60)
        var status: HTTPStatus?
        for _ in 0..<3 {
            let (_, event) = (Array("GET /".utf8) + chunk).withUnsafeBytes { parser.parse($0) }
            if case .error(let e)? = event { status = e.status; break }
        }
        XCTAssertEqual(status, .uriTooLong, "a request line that never ends must hit the limit")
    }

    /// Chunk extensions count against the body limit: one-byte chunks with long extensions
    /// cannot stretch a body past it.
    func testChunkExtensionsCountAgainstTheBodyLimit() {
        var limits = HTTPParserLimits()
        limits.maxBodyBytes = 1000
        let ext = ";x=" + String(repeating: "e", count: 97)
        var heads: [HTTPRequestHead] = []
        let padded = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            + String(repeating: "1\(ext)\r\na\r\n", count: 12) + "0\r\n\r\n"
        XCTAssertEqual(Self.run(Array(padded.utf8), limits: limits, heads: &heads).error?.status, .payloadTooLarge)
        let fits = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            + String(repeating: "1\(ext)\r\na\r\n", count: 8) + "0\r\n\r\n"
        let outcome = Self.run(Array(fits.utf8), limits: limits, heads: &heads)
        XCTAssertNil(outcome.error)
        XCTAssertEqual(outcome.bodies, [Array("aaaaaaaa".utf8)])
    }

    /// Paths compare as RFC 3986 §6.2.2 normalizes them; `%2F` is never a separator.
    func testPathsAreNormalized() {
        let cases = [("/v1/%63ompletions", "/v1/completions"), ("/v1/./models/../completions", "/v1/completions"),
                     ("/%2e%2E/health", "/health"), ("/../../health", "/health"), ("/v1/models/a%2Fb", "/v1/models/a%2Fb"),
                     ("/v1/models/.", "/v1/models/"), ("/a/..", "/"), ("/v1/models/qwen2.5-1.5b", "/v1/models/qwen2.5-1.5b"),
                     ("/x%7E?q=%2e", "/x~"), ("http://h/%76%31/models?a=b", "/v1/models"),
                     ("//health", "/health"), ("/v1//models/", "/v1/models/"), ("/v1/models//", "/v1/models/")]
        for (target, path) in cases {
            XCTAssertEqual(HTTPRequest(method: "GET", target: target).path, path, target)
        }
        XCTAssertEqual(HTTPRequest(method: "GET", target: "/x%7E?q=%2e").query, "q=%2e")
    }

    /// The hostile table against the bare parser, fed at once and byte by byte.
    func testHostileTable() {
        XCTAssertGreaterThanOrEqual(HostileRequests.cases.filter { $0.status >= 400 }.count, 40)
        for c in HostileRequests.cases {
            for step in [0, 1] {
                var heads: [HTTPRequestHead] = []
                let outcome = Self.run(c.raw, step: step, heads: &heads)
                if c.status >= 400 {
                    XCTAssertEqual(outcome.error?.status.code, c.status, "\(c.name) (step \(step))")
                } else {
                    XCTAssertNil(outcome.error, "\(c.name) (step \(step))")
                    XCTAssertEqual(outcome.ends, 1, "\(c.name) (step \(step))")
                    XCTAssertEqual(heads.first?.keepAlive, !c.closes, "\(c.name) (step \(step))")
                }
            }
        }
    }
}
