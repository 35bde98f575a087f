import XCTest
@testable import HTTP

/// The connection's protocol decisions without sockets: ordering of pipelined requests, read
/// pausing, errors and closing, drain, Expect: 100-continue, gzip bodies, bytes that are not HTTP.
final class HTTPConnectionStateMachineTests: XCTestCase {
    static let get = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"

    func testPipelinedRequestsAreDispatchedOneAtATimeInOrder() {
        var c = ConnectionHarness()
        _ = c.start()
        XCTAssertEqual(c.receive("GET /a HTTP/1.1\r\nHost: a\r\n\r\nPOST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiGET /c HTTP/1.1\r\nHost: a\r\n\r\n"),
                       ["dispatch GET /a", "cancelTimer"], "the next request waits for this response")
        XCTAssertEqual(c.receive("GET /d HTTP/1.1\r\nHost: a\r\n\r\n"), [], "more input while responding is only buffered")
        XCTAssertEqual(c.responseCompleted(), ["parseLater", "timer"], "the next one on a later turn of the loop")
        XCTAssertEqual(c.resume(), ["dispatch POST /b", "cancelTimer"])
        XCTAssertEqual(c.dispatched.last?.body, Array("hi".utf8))
        XCTAssertEqual(c.answer(), ["timer", "dispatch GET /c", "cancelTimer"], "idle between the two")
        XCTAssertEqual(c.answer(), ["timer", "dispatch GET /d", "cancelTimer"])
        XCTAssertEqual(c.answer(), ["timer"])
        XCTAssertEqual(c.timerKind, .idle)
    }

    /// A client that pipelines requests and reads nothing gets nothing more computed for it once
    /// its unread output passes the limit; what it reads lets the next request go.
    func testPipelinedRequestsWaitWhileTheOutputBeforeThemIsUnread() {
        var c = ConnectionHarness()
        _ = c.start()
        XCTAssertEqual(c.receive(Self.get + Self.get), ["dispatch GET /", "cancelTimer"])
        let big = HTTPConnectionStateMachine.pipelinedOutputLimit + 1
        XCTAssertEqual(c.responseCompleted(pending: big), ["timer"], "no later turn while the output is unread")
        XCTAssertEqual(c.flushed(pending: big, progressed: false), ["timer"], "the write timeout runs")
        XCTAssertEqual(c.timerKind, .write)
        XCTAssertEqual(c.resume(), [], "a stray turn parses nothing either")
        XCTAssertEqual(c.flushed(pending: 1000), ["parseLater"], "most of it was taken")
        XCTAssertEqual(c.resume(), ["dispatch GET /"], "the write timeout of the unread output stays")
        XCTAssertEqual(c.timerKind, .write)
        XCTAssertEqual(c.dispatched.count, 2)
    }

    /// A request that comes while unread output is over the limit waits as a pipelined one does,
    /// and the write timeout keeps running: sending more never keeps a non-reader connected.
    func testRequestsFromAClientThatDoesNotReadWaitAndItsWriteTimeoutRuns() {
        var c = ConnectionHarness()
        _ = c.start()
        _ = c.receive(Self.get)
        let big = HTTPConnectionStateMachine.pipelinedOutputLimit + 1
        _ = c.responseCompleted(pending: big)
        XCTAssertEqual(c.flushed(pending: big, progressed: false), ["timer"])
        for _ in 0..<3 {
            XCTAssertEqual(c.advance(5), [])
            XCTAssertEqual(c.receive(Self.get), [], "buffered, not answered")
        }
        XCTAssertEqual(c.dispatched.count, 1)
        XCTAssertEqual(c.advance(5), ["close"], "20 s without progress")
    }

    /// Requests followed by the peer's FIN (`printf '…' | nc -N`) are all answered, then the
    /// connection ends.
    func testPipelinedRequestsBeforeAFINAreAnsweredThenTheConnectionEnds() {
        var c = ConnectionHarness()
        _ = c.start()
        XCTAssertEqual(c.receive("GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n"),
                       ["dispatch GET /a", "cancelTimer"])
        XCTAssertEqual(c.answer(), ["timer", "dispatch GET /b", "cancelTimer"])
        XCTAssertEqual(c.responseCompleted(pending: 100), ["timer"], "nothing buffered: idle")
        // The FIN arrives after the second request was dispatched: as before, a busy exchange
        // is cancelled; so send both with the FIN before either is answered.
        var d = ConnectionHarness()
        _ = d.start()
        _ = d.receive("GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\nGET /c HTTP/1.1\r\n")
        XCTAssertEqual(d.responseCompleted(pending: 200), ["parseLater", "timer"])
        XCTAssertEqual(d.peerClosed(), ["pause"], "its EOF is not read again while /b waits")
        XCTAssertEqual(d.resume(), ["dispatch GET /b", "cancelTimer"])
        XCTAssertEqual(d.responseCompleted(pending: 400), ["parseLater", "timer"], "a partial /c is still buffered")
        XCTAssertEqual(d.resume(), ["cancelTimer"], "/c never completes: the connection ends after /b")
        XCTAssertTrue(d.machine.readPaused, "the EOF is not read again before the half-close")
        XCTAssertEqual(d.flushed(pending: 0), ["shutdownWrite", "resume", "timer"])
        XCTAssertEqual(d.dispatched.map(\.head.target), ["/a", "/b"])
    }

    /// A drain that starts while a pipelined request waits for its turn still answers it (with
    /// `Connection: close`), then ends the connection.
    func testDrainAnswersAPipelinedRequestThatWaitsForItsTurn() {
        var c = ConnectionHarness()
        _ = c.start()
        _ = c.receive("GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(c.responseCompleted(pending: 0), ["parseLater", "timer"])
        XCTAssertEqual(c.beginDrain(), [], "a whole request is still buffered")
        XCTAssertEqual(c.resume(), ["dispatch GET /b", "cancelTimer"])
        XCTAssertFalse(c.machine.responseKeepsAlive, "its answer says Connection: close")
        XCTAssertEqual(c.responseCompleted(pending: 0), [])
        XCTAssertEqual(c.flushed(pending: 0), ["shutdownWrite", "timer"])
        // Without anything buffered after it, the turn ends the connection.
        var d = ConnectionHarness()
        _ = d.start()
        _ = d.receive(Self.get + "GET /b HTTP/1.1\r\n")
        _ = d.responseCompleted(pending: 0)
        _ = d.beginDrain()
        XCTAssertEqual(d.resume(), ["timer"], "a partial request on its way is waited for, as beginDrain does")
        XCTAssertEqual(d.timerKind, .header)
        XCTAssertEqual(d.receive("Host: a\r\n\r\n"), ["dispatch GET /b", "cancelTimer"])
        XCTAssertFalse(d.machine.responseKeepsAlive)
    }

    /// A drain that begins after a response's head said the connection stays open (a stream
    /// under way) still answers what the client pipelined behind it, with `Connection: close`;
    /// one whose head said close drops it (the client was told).
    func testDrainAnswersRequestsPipelinedBehindAResponseThatPromisedKeepAlive() {
        var c = ConnectionHarness()
        _ = c.start()
        _ = c.receive(Self.get + "GET /b HTTP/1.1\r\nHost: a\r\n\r\n")
        c.machine.headWritten()
        XCTAssertTrue(c.machine.headPromisedKeepAlive)
        XCTAssertEqual(c.beginDrain(), [])
        XCTAssertEqual(c.responseCompleted(pending: 0), ["parseLater"])
        XCTAssertEqual(c.resume(), ["dispatch GET /b"])
        c.machine.headWritten()
        XCTAssertFalse(c.machine.headPromisedKeepAlive, "its answer says Connection: close")
        XCTAssertEqual(c.responseCompleted(pending: 0), [])
        XCTAssertEqual(c.flushed(pending: 0), ["shutdownWrite", "timer"])
        XCTAssertEqual(c.dispatched.count, 2)
    }

    /// At the start of a drain (the server still accepts) a connection that has not sent its first
    /// request keeps it; one that has answered and is idle closes.
    func testDrainLeavesAnUnusedConnectionItsRequest() {
        var fresh = ConnectionHarness()
        _ = fresh.start()
        XCTAssertEqual(fresh.beginDrain(closeUnused: false), [])
        XCTAssertEqual(fresh.receive(Self.get), ["dispatch GET /", "cancelTimer"])
        XCTAssertFalse(fresh.machine.responseKeepsAlive)
        var used = ConnectionHarness()
        _ = used.start()
        _ = used.receive(Self.get)
        _ = used.answer()
        XCTAssertEqual(used.beginDrain(closeUnused: false), ["close"])
        var stopping = ConnectionHarness()
        _ = stopping.start()
        XCTAssertEqual(stopping.beginDrain(), ["close"], "when the server stops, unused connections close too")
    }

    /// A request with a body that arrives while earlier output is unread does not restart that
    /// output's write timeout.
    func testARequestBodyKeepsTheWriteTimeoutOfUnreadOutput() {
        var c = ConnectionHarness()
        _ = c.start()
        _ = c.receive(Self.get)
        _ = c.responseCompleted(pending: 1000)
        XCTAssertEqual(c.flushed(pending: 1000, progressed: false), ["timer"])
        let deadline = c.deadline
        XCTAssertEqual(c.advance(15), [])
        _ = c.receive("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nh")
        XCTAssertEqual(c.timerKind, .write)
        XCTAssertEqual(c.deadline, deadline)
        _ = c.receive("i")
        XCTAssertEqual(c.dispatched.count, 2)
        XCTAssertEqual(c.deadline, deadline)
        XCTAssertEqual(c.advance(5), ["close"])
    }

    /// RFC 9112 §2.2: an empty line where a request line is due is ignored, so a stray CRLF after
    /// a body leaves the connection idle (it closes silently later) instead of owing a 408.
    func testAStrayCRLFAfterARequestLeavesTheConnectionIdle() {
        var c = ConnectionHarness()
        _ = c.start()
        XCTAssertEqual(c.receive("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi\r\n"),
                       ["dispatch POST /", "cancelTimer"])
        XCTAssertEqual(c.answer(), ["timer"])
        XCTAssertEqual(c.timerKind, .idle)
        XCTAssertEqual(c.advance(30), ["close"])
        XCTAssertTrue(c.errors.isEmpty, "no 408")
        var d = ConnectionHarness()
        _ = d.start()
        _ = d.receive(Self.get)
        _ = d.answer()
        XCTAssertEqual(d.receive("\r\n"), [], "an empty line alone starts no request")
        XCTAssertEqual(d.timerKind, .idle)
        XCTAssertEqual(d.receive(Self.get), ["dispatch GET /", "cancelTimer"], "and the next request is read as usual")
        // A CR then a request line in the same read has started a request (its header timeout runs).
        var e = ConnectionHarness()
        _ = e.start()
        _ = e.receive(Self.get)
        _ = e.answer()
        XCTAssertEqual(e.receive("\rGET / HTTP/1.1"), ["timer"])
        XCTAssertEqual(e.timerKind, .header)
    }

    func testNotHTTPBytesGet400AtOnceAndNoReadTimeout() {
        var c = ConnectionHarness()
        XCTAssertEqual(c.start(), ["timer"])
        XCTAssertEqual(c.receive(Array(HostileRequests.tlsClientHello.prefix(5))), ["error 400 not_http", "cancelTimer"],
                       "a TLS record header is enough to know")
        XCTAssertNil(c.timerKind, "nothing waits for the header timeout")
        XCTAssertEqual(c.receive(Array(HostileRequests.tlsClientHello.dropFirst(5))), [], "the rest of the hello is discarded")
        XCTAssertEqual(c.flushed(pending: 0), ["shutdownWrite", "timer"], "the 400 went out: half-close at once")
        XCTAssertEqual(c.timerKind, .linger)
    }

    func testParseErrorAnswersOnceAndNeverParsesWhatFollows() {
        var c = ConnectionHarness()
        _ = c.start()
        XCTAssertEqual(c.receive("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxGET / HTTP/1.1\r\n"),
                       ["error 400 bad_content_length", "cancelTimer"])
        XCTAssertEqual(c.receive(Self.get), [])
        XCTAssertFalse(c.machine.responseKeepsAlive)
        XCTAssertTrue(c.dispatched.isEmpty)
    }

    func testOverTheConnectionLimitAnswers503AndCloses() {
        var c = ConnectionHarness()
        XCTAssertEqual(c.start(overConnectionLimit: true), ["error 503 too_many_connections"])
        XCTAssertEqual(c.receive(Self.get), [], "its requests are never served")
        XCTAssertEqual(c.flushed(pending: 0), ["shutdownWrite", "timer"])
    }

    /// With paths answered at the limit (`/health`): a probe over the limit is served and its
    /// connection closes after it; anything else on such a connection gets the 503.
    func testOverTheConnectionLimitAHealthProbeIsStillAnswered() {
        var c = ConnectionHarness { $0.pathsAnsweredAtLimit = ["/health"] }
        XCTAssertEqual(c.start(overConnectionLimit: true), ["timer"], "it waits for the request head")
        XCTAssertEqual(c.receive("GET /health HTTP/1.1\r\nHost: a\r\n\r\n" + Self.get), ["dispatch GET /health", "cancelTimer"])
        c.machine.beginResponse(keepAlive: true)
        XCTAssertFalse(c.machine.responseKeepsAlive, "closed after the probe, as when draining")
        for request in ["POST /health HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}",
                        "GET /v1/models HTTP/1.1\r\nHost: a\r\n\r\n", "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"] {
            var d = ConnectionHarness { $0.pathsAnsweredAtLimit = ["/health"] }
            _ = d.start(overConnectionLimit: true)
            XCTAssertEqual(d.receive(request).first, "error 503 too_many_connections", request)
            XCTAssertTrue(d.dispatched.isEmpty)
        }
        // It has 2 s (not the 10 s header timeout) to show its head, and only a few may wait at once.
        var slow = ConnectionHarness { $0.pathsAnsweredAtLimit = ["/health"] }
        _ = slow.start(overConnectionLimit: true)
        XCTAssertEqual(slow.advance(1.5), [])
        XCTAssertEqual(slow.advance(1), ["close"], "silent for 2 s: closed")
        var full = ConnectionHarness { $0.pathsAnsweredAtLimit = ["/health"] }
        XCTAssertEqual(full.start(overConnectionLimit: true, mayBeProbe: false), ["error 503 too_many_connections"])
        var e = ConnectionHarness { $0.pathsAnsweredAtLimit = ["/health"] }
        _ = e.start(overConnectionLimit: false)
        XCTAssertEqual(e.receive("GET /v1/models HTTP/1.1\r\nHost: a\r\n\r\n").first, "dispatch GET /v1/models", "under the limit: all")
    }

    /// A client that pipelines far more than it reads: reading pauses while its requests queue
    /// behind a busy response, and resumes once they are answered.
    func testPipelinedFloodPausesReadingUntilAnswered() {
        var c = ConnectionHarness()
        _ = c.start()
        XCTAssertEqual(c.receive(Self.get), ["dispatch GET /", "cancelTimer"])
        let limit = c.machine.inputLimit
        let flood = String(repeating: Self.get, count: limit / Self.get.utf8.count + 2)
        XCTAssertEqual(c.receive(flood), ["pause"])
        XCTAssertTrue(c.machine.readPaused)
        var answered = 0
        while c.machine.readPaused && answered < 10_000 {
            let actions = c.answer()
            XCTAssertEqual(actions.filter { $0.hasPrefix("dispatch") }, ["dispatch GET /"], "one request per completed response")
            answered += 1
            if actions.contains("resume") { break }
        }
        XCTAssertFalse(c.machine.readPaused, "reading resumed")
        XCTAssertLessThan(answered, 10_000)
    }

    func testFloodThenFinalResponseResumesReadingToDiscard() {
        var c = ConnectionHarness()
        _ = c.start()
        _ = c.receive("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        XCTAssertEqual(c.receive(String(repeating: "x", count: c.machine.inputLimit + 1)), ["pause"])
        XCTAssertEqual(c.responseCompleted(), ["resume"], "nothing after a final response is parsed, so reading may go on")
        XCTAssertEqual(c.flushed(pending: 0), ["shutdownWrite", "timer"])
    }

    func testPeerCloseWithAResponseGoingOutFinishesItFirst() {
        var c = ConnectionHarness()
        _ = c.start()
        _ = c.receive(Self.get)
        _ = c.responseCompleted()
        XCTAssertEqual(c.flushed(pending: 500), ["timer"])
        XCTAssertEqual(c.peerClosed(), ["pause"], "a half-closing client still gets its response; its EOF is not read again")
        XCTAssertEqual(c.flushed(pending: 0), ["shutdownWrite", "resume", "timer"], "lingering reads the EOF at once")
        XCTAssertEqual(c.peerClosed(), ["close"])
        // With a handler at work, the client leaving closes at once (the handler is cancelled).
        var busy = ConnectionHarness()
        _ = busy.start()
        _ = busy.receive(Self.get)
        XCTAssertEqual(busy.peerClosed(), ["close"])
        XCTAssertEqual(busy.responseCompleted(), [], "a late response is ignored")
    }

    func testDrainClosesIdleConnectionsAndEndsBusyOnesAfterTheirResponse() {
        var idle = ConnectionHarness()
        _ = idle.start()
        XCTAssertEqual(idle.beginDrain(), ["close"])

        var idleWithOutput = ConnectionHarness()
        _ = idleWithOutput.start()
        _ = idleWithOutput.receive(Self.get)
        _ = idleWithOutput.responseCompleted()
        _ = idleWithOutput.flushed(pending: 100)
        XCTAssertEqual(idleWithOutput.beginDrain(), [], "its last response is still going out")
        XCTAssertEqual(idleWithOutput.flushed(pending: 0), ["shutdownWrite", "timer"])

        var busy = ConnectionHarness()
        _ = busy.start()
        _ = busy.receive(Self.get + Self.get)
        XCTAssertTrue(busy.machine.responseKeepsAlive)
        XCTAssertEqual(busy.beginDrain(), [])
        XCTAssertFalse(busy.machine.responseKeepsAlive, "its response says Connection: close")
        XCTAssertEqual(busy.responseCompleted(), [], "the pipelined request is not served while draining")
        XCTAssertEqual(busy.dispatched.count, 1)
        XCTAssertEqual(busy.flushed(pending: 0), ["shutdownWrite", "timer"])

        var reading = ConnectionHarness()
        _ = reading.start()
        _ = reading.receive("GET / HTTP/1.1\r\n")
        XCTAssertEqual(reading.beginDrain(), [], "a request on its way is still answered")
        XCTAssertEqual(reading.receive("Host: a\r\n\r\n"), ["dispatch GET /", "cancelTimer"])
        XCTAssertFalse(reading.machine.responseKeepsAlive)
    }

    func testHTTP10StreamEndsWithTheConnection() {
        var c = ConnectionHarness()
        _ = c.start()
        _ = c.receive("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        XCTAssertTrue(c.machine.responseKeepsAlive)
        c.machine.responseEndsWithClose()
        XCTAssertFalse(c.machine.responseKeepsAlive)
        XCTAssertEqual(c.responseCompleted(), [])
        XCTAssertEqual(c.flushed(pending: 0), ["shutdownWrite", "timer"])
    }

    func testExpectContinueIsAnsweredOnlyWhenTheBodyIsNotThereYet() {
        var waiting = ConnectionHarness()
        _ = waiting.start()
        XCTAssertEqual(waiting.receive("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"),
                       ["write HTTP/1.1 100 Continue", "timer"])
        XCTAssertEqual(waiting.receive("data"), ["dispatch POST /", "cancelTimer"])
        XCTAssertEqual(waiting.dispatched.first?.body, Array("data".utf8))

        var eager = ConnectionHarness()
        _ = eager.start()
        XCTAssertEqual(eager.receive("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\ndata"),
                       ["dispatch POST /", "cancelTimer"], "the body came along: no interim response")
    }

    func testGzipBodiesAreInflatedWithinTheLimit() throws {
        let plain = Array(String(repeating: "jeton ", count: 200).utf8)
        let zipped = try XCTUnwrap(Gzip.compress(plain))
        let request = Array("POST / HTTP/1.1\r\nHost: a\r\nContent-Encoding: gzip\r\nContent-Length: \(zipped.count)\r\n\r\n".utf8) + zipped
        var c = ConnectionHarness()
        _ = c.start()
        XCTAssertEqual(c.receive(request), ["dispatch POST /", "cancelTimer"])
        XCTAssertEqual(c.dispatched.first?.body, plain)
        XCTAssertNil(c.dispatched.first?.head.headers["content-encoding"], "the handler sees a plain body")

        // A new connection's actions for one request.
        func answer(_ harness: ConnectionHarness, _ bytes: [UInt8]) -> [String] {
            var h = harness
            _ = h.start()
            return h.receive(bytes)
        }
        XCTAssertEqual(answer(ConnectionHarness { $0.maxInflatedBodyBytes = plain.count - 1 }, request),
                       ["error 413 body_too_large", "cancelTimer"])
        let brotli = Array("POST / HTTP/1.1\r\nHost: a\r\nContent-Encoding: br\r\nContent-Length: 3\r\n\r\nabc".utf8)
        XCTAssertEqual(answer(ConnectionHarness(), brotli), ["error 415 unsupported_content_encoding", "cancelTimer"])

        // Without a key, the refusal comes before any inflating: no 413 for a bomb, no 400 for bad bytes.
        let keyed = ConnectionHarness {
            $0.maxInflatedBodyBytes = plain.count - 1
            $0.refuseEarly = { $0.headers["authorization"] == nil ? HTTPResponse(status: .unauthorized, body: []) : nil }
        }
        XCTAssertEqual(answer(keyed, request), ["refuse 401", "cancelTimer"])
        let badGzip = Array("POST / HTTP/1.1\r\nHost: a\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nabc".utf8)
        XCTAssertEqual(answer(keyed, badGzip), ["refuse 401", "cancelTimer"])
        let withKey = Array("POST / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer k\r\nContent-Encoding: gzip\r\nContent-Length: \(zipped.count)\r\n\r\n".utf8) + zipped
        XCTAssertEqual(answer(keyed, withKey), ["error 413 body_too_large", "cancelTimer"])
    }

    /// x-gzip is gzip (RFC 9110 §8.4.1.3); gzip twice is refused alike in one field line or two
    /// (§5.3), where two lines used to inflate once and pass gzip bytes on.
    func testContentCodingsAreReadFromEveryFieldLine() throws {
        let plain = Array(String(repeating: "jeton ", count: 200).utf8)
        let zipped = try XCTUnwrap(Gzip.compress(plain))
        func post(_ codings: [String], _ body: [UInt8]) -> (harness: ConnectionHarness, actions: [String]) {
            let lines = codings.map { "Content-Encoding: \($0)\r\n" }.joined()
            var c = ConnectionHarness()
            _ = c.start()
            let actions = c.receive(Array("POST / HTTP/1.1\r\nHost: a\r\n\(lines)Content-Length: \(body.count)\r\n\r\n".utf8) + body)
            return (c, actions)
        }
        XCTAssertEqual(post(["x-gzip"], zipped).harness.dispatched.first?.body, plain)
        XCTAssertEqual(post(["identity, gzip"], zipped).harness.dispatched.first?.body, plain)
        XCTAssertEqual(post(["identity"], plain).harness.dispatched.first?.body, plain)
        let twice = try XCTUnwrap(Gzip.compress(zipped))
        for codings in [["gzip", "gzip"], ["gzip, gzip"], ["gzip", "br"], [""]] {
            let (c, actions) = post(codings, twice)
            XCTAssertTrue(c.dispatched.isEmpty, "\(codings)")
            XCTAssertEqual(actions.first, "error 415 unsupported_content_encoding", "\(codings)")
        }
    }

    /// `refuseEarly` answers from the head, before `100 Continue` or the body: asked for requests
    /// that wait for the go-ahead, are chunked or declare a large body; small ones go to the handlers.
    func testRefusalBeforeTheBody() {
        func harness() -> ConnectionHarness {
            ConnectionHarness {
                $0.earlyCheckBytes = 1000
                $0.refuseEarly = { head in
                    head.headers["authorization"] == nil ? HTTPResponse(status: .unauthorized, body: Array("no key".utf8)) : nil
                }
            }
        }
        let h = "POST / HTTP/1.1\r\nHost: a\r\n"
        var waiting = harness()
        _ = waiting.start()
        XCTAssertEqual(waiting.receive(h + "Expect: 100-continue\r\nContent-Length: 5\r\n\r\n"), ["refuse 401", "cancelTimer"],
                       "refused before any 100 Continue")
        XCTAssertEqual(waiting.refused.first?.answer.body, Array("no key".utf8))
        XCTAssertTrue(waiting.dispatched.isEmpty)

        var keyed = harness()
        _ = keyed.start()
        XCTAssertEqual(keyed.receive(h + "Authorization: Bearer k\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"),
                       ["write HTTP/1.1 100 Continue", "timer"])
        XCTAssertEqual(keyed.receive("hello"), ["dispatch POST /", "cancelTimer"])

        var large = harness()
        _ = large.start()
        XCTAssertEqual(large.receive(h + "Content-Length: 5000\r\n\r\n"), ["refuse 401", "cancelTimer"], "refused before 5,000 bytes")
        var chunked = harness()
        _ = chunked.start()
        XCTAssertEqual(chunked.receive(h + "Transfer-Encoding: chunked\r\n\r\n"), ["refuse 401", "cancelTimer"])

        var small = harness()
        _ = small.start()
        XCTAssertEqual(small.receive(h + "Content-Length: 5\r\n\r\nhello"), ["dispatch POST /", "cancelTimer"],
                       "a small body goes on to the handlers, which answer it themselves")
        XCTAssertTrue(small.refused.isEmpty)
    }

    /// A body over the limit: without a key the refusal (401) comes first (the client learns no limit);
    /// with one, the 413. Either way the body is never read.
    func testRefusalBeforeBodyTooLarge() {
        func harness() -> ConnectionHarness {
            ConnectionHarness {
                $0.limits.maxBodyBytes = 4096
                $0.refuseEarly = { head in
                    head.headers["authorization"] == nil ? HTTPResponse(status: .unauthorized, body: []) : nil
                }
            }
        }
        let h = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999\r\n"
        var anonymous = harness()
        _ = anonymous.start()
        XCTAssertEqual(anonymous.receive(h + "\r\n"), ["refuse 401", "cancelTimer"])
        var keyed = harness()
        _ = keyed.start()
        XCTAssertEqual(keyed.receive(h + "Authorization: Bearer k\r\n\r\n"), ["error 413 body_too_large", "cancelTimer"])
        var plain = ConnectionHarness { $0.limits.maxBodyBytes = 4096 }
        _ = plain.start()
        XCTAssertEqual(plain.receive(h + "\r\n" + String(repeating: "x", count: 100)), ["error 413 body_too_large", "cancelTimer"])
        XCTAssertTrue(anonymous.dispatched.isEmpty && keyed.dispatched.isEmpty && plain.dispatched.isEmpty)
        // Never a 100 Continue for it; an unsupported coding is refused first, as for any body, but
        // after the refusal of a client without a key (which learns nothing of what the server takes).
        var waiting = harness()
        _ = waiting.start()
        XCTAssertEqual(waiting.receive(h + "Authorization: Bearer k\r\nExpect: 100-continue\r\n\r\n"),
                       ["error 413 body_too_large", "cancelTimer"])
        var coded = harness()
        _ = coded.start()
        XCTAssertEqual(coded.receive(h + "Authorization: Bearer k\r\nContent-Encoding: br\r\n\r\n"),
                       ["error 415 unsupported_content_encoding", "cancelTimer"])
        var anonymousCoded = harness()
        _ = anonymousCoded.start()
        XCTAssertEqual(anonymousCoded.receive("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Encoding: br\r\n\r\nhello"),
                       ["refuse 401", "cancelTimer"])
    }
}
