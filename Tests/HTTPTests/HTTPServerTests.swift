import XCTest
import Foundation
@testable import HTTP

/// Exchanges over real sockets: framing, keep-alive, routing, standard headers, stop.
final class HTTPServerTests: SocketTestCase {
    func testStandardHeadersAndKeepAlive() throws {
        try eachDelivery {
            let server = try startServer()
            defer { server.stop(timeout: 1) }
            let client = try XCTUnwrap(TestClient(port: server.port))
            client.send("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: abc-123\r\n\r\n")
            let first = try XCTUnwrap(client.readResponse())
            XCTAssertEqual(first.status, 200)
            XCTAssertEqual(first.text, "hello")
            XCTAssertEqual(first.header("Server"), "jeton")
            XCTAssertNotNil(first.header("Date"))
            XCTAssertEqual(first.header("X-Request-Id"), "abc-123", "a sane client id is echoed")
            XCTAssertNil(first.header("Connection"))
            // Same connection, an insane id is replaced by a generated one.
            client.send("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id: bad id with spaces\r\n\r\n")
            let second = try XCTUnwrap(client.readResponse())
            XCTAssertEqual(second.status, 200)
            let generated = try XCTUnwrap(second.header("X-Request-Id"))
            XCTAssertFalse(generated.contains(" "))
            XCTAssertFalse(generated.isEmpty)
            // HTTP/1.0 keep-alive is opt-in.
            client.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            let third = try XCTUnwrap(client.readResponse())
            XCTAssertEqual(third.header("Connection")?.lowercased(), "keep-alive")
            client.send("GET / HTTP/1.0\r\n\r\n")
            XCTAssertEqual(client.readResponse()?.header("Connection"), "close")
            XCTAssertTrue(client.isClosedByPeer())
        }
    }

    func testPipelinedRequestsAnsweredInOrder() throws {
        try eachDelivery {
            let server = try startServer { _ in } routes: { router in
                // The first answer comes late from another thread; order must still hold.
                router.get("/slow") { _, r in
                    DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(200)) {
                        r.respond(HTTPResponse(contentType: "text/plain", body: "slow"))
                    }
                }
            }
            defer { server.stop(timeout: 1) }
            let client = try XCTUnwrap(TestClient(port: server.port))
            client.send("GET /slow HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(client.readResponse()?.text, "slow")
            XCTAssertEqual(client.readResponse()?.text, "abc")
            XCTAssertEqual(client.readResponse()?.text, "hello")
        }
    }

    func testChunkedUploadWithTrailers() throws {
        try eachDelivery {
            let trailer = Box<String?>(nil)
            let server = try startServer { _ in } routes: { router in
                router.post("/t") { request, r in
                    trailer.set(request.trailers["x-sum"])
                    r.respond(HTTPResponse(status: .ok, body: request.body))
                }
            }
            defer { server.stop(timeout: 1) }
            let client = try XCTUnwrap(TestClient(port: server.port))
            client.send("POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n")
            usleep(50_000)
            client.send("5;ext=1\r\npedia\r\n0\r\nX-Sum: 9\r\n\r\n")
            let response = try XCTUnwrap(client.readResponse())
            XCTAssertEqual(response.text, "Wikipedia")
            XCTAssertEqual(trailer.get(), "9")
        }
    }

    func testExpectContinue() throws {
        try eachDelivery {
            let server = try startServer()
            defer { server.stop(timeout: 1) }
            let client = try XCTUnwrap(TestClient(port: server.port))
            client.send("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
            let interim = try XCTUnwrap(client.readResponse())
            XCTAssertEqual(interim.status, 100, "the client must be told to go on before it sends the body")
            client.send("data")
            let final = try XCTUnwrap(client.readResponse())
            XCTAssertEqual(final.status, 200)
            XCTAssertEqual(final.text, "data")
            // Too large: refused at once from Content-Length, without a 100.
            client.send("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 99999999\r\n\r\n")
            XCTAssertEqual(client.readResponse()?.status, 413)
            XCTAssertTrue(client.isClosedByPeer())
        }
    }

    func testRouterStatusesHeadAndOptions() throws {
        try eachDelivery {
            let server = try startServer { _ in } routes: { router in
                router.get("/v1/models/{id}") { request, r in
                    r.respond(HTTPResponse(contentType: "text/plain", body: "model=\(request.pathParameters["id"] ?? "")"))
                }
                router.delete("/v1/items/:id") { request, r in
                    r.respond(HTTPResponse(status: .noContent))
                }
                router.get("/files/*") { request, r in
                    r.respond(HTTPResponse(contentType: "text/plain", body: "rest=\(request.pathParameters["*"] ?? "")"))
                }
                router.get("/v2/models/{id...}") { request, r in
                    r.respond(HTTPResponse(contentType: "text/plain", body: "id=\(request.pathParameters["id"] ?? "")"))
                }
            }
            defer { server.stop(timeout: 1) }
            let client = try XCTUnwrap(TestClient(port: server.port))
            client.send("GET /v1/models/smol%20lm HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(client.readResponse()?.text, "model=smol lm")
            client.send("GET /files/a/b.txt?x=1 HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(client.readResponse()?.text, "rest=a/b.txt")
            // `{id...}`: an id with slashes, unencoded or encoded, each segment decoded.
            client.send("GET /v2/models/org/smol%20lm HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(client.readResponse()?.text, "id=org/smol lm")
            client.send("GET /v2/models/org%2Fx HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(client.readResponse()?.text, "id=org/x")
            client.send("GET /v2/models/ HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(client.readResponse()?.status, 404)
            client.send("GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n")
            let missing = try XCTUnwrap(client.readResponse())
            XCTAssertEqual(missing.status, 404)
            XCTAssertEqual(missing.header("Content-Type"), "application/json")
            XCTAssertTrue(missing.text.contains("\"error\":{\"message\":"))
            XCTAssertTrue(missing.text.contains("\"type\":\"invalid_request_error\""))
            client.send("POST /v1/models/x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
            let wrong = try XCTUnwrap(client.readResponse())
            XCTAssertEqual(wrong.status, 405)
            XCTAssertEqual(wrong.header("Allow"), "GET, HEAD, OPTIONS")
            client.send("HEAD /v1/models/x HTTP/1.1\r\nHost: a\r\n\r\n")
            let head = try XCTUnwrap(client.readResponse(head: true))
            XCTAssertEqual(head.status, 200)
            XCTAssertEqual(head.header("Content-Length"), "7", "HEAD carries the GET length but no body")
            client.send("OPTIONS /v1/items/3 HTTP/1.1\r\nHost: a\r\n\r\n")
            let options = try XCTUnwrap(client.readResponse())
            XCTAssertEqual(options.status, 204)
            XCTAssertEqual(options.header("Allow"), "DELETE, OPTIONS")
            client.send("DELETE /v1/items/3 HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(client.readResponse()?.status, 204, "the connection is still in sync after HEAD and 204")
            // A standard method no route answers: the route's 405 (the OpenAI SDKs retry a 5xx).
            client.send("PUT /v1/models/x HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n")
            XCTAssertEqual(client.readResponse()?.status, 405)
            client.send("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
            let whole = try XCTUnwrap(client.readResponse())
            XCTAssertEqual(whole.status, 204)
            XCTAssertEqual(whole.header("Allow"), "GET, HEAD, POST, DELETE, OPTIONS", "the methods some route answers, no others")
        }
    }

    func testMiddlewareWrapsEveryRequest() throws {
        try eachDelivery {
            let seen = Box<[Int]>([])
            let server = try startServer { _ in } routes: { router in
                router.use { request, r, next in
                    r.addHeader(name: "Access-Control-Allow-Origin", value: "*")
                    r.onFinish { status in seen.update { $0.append(status.code) } }
                    if request.headers["authorization"] == "Bearer no" {
                        return r.respond(HTTPResponse.jsonError(status: .unauthorized, code: "invalid_api_key", message: "no"))
                    }
                    next(request, r)
                }
            }
            defer { server.stop(timeout: 1) }
            let client = try XCTUnwrap(TestClient(port: server.port))
            client.send("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer no\r\n\r\n")
            let responses = (0..<3).compactMap { _ in client.readResponse() }
            XCTAssertEqual(responses.map(\.status), [200, 404, 401])
            XCTAssertEqual(responses.compactMap { $0.header("Access-Control-Allow-Origin") }.count, 3)
            XCTAssertTrue(eventually { seen.get() == [200, 404, 401] })
        }
    }

    func testFallbackAnswersUnknownPaths() throws {
        try eachDelivery {
            let server = try startServer { _ in } routes: { router in
                router.fallback = { request, r in r.respond(HTTPResponse(status: 404, contentType: "text/plain", body: "custom \(request.path)")) }
            }
            defer { server.stop(timeout: 1) }
            let client = try XCTUnwrap(TestClient(port: server.port))
            client.send("GET /missing HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(client.readResponse()?.text, "custom /missing")
            XCTAssertEqual(client.readResponse()?.text, "hello", "known routes are unaffected")
        }
    }

    func testHandlerHeadersCannotSplitResponse() throws {
        try eachDelivery {
            let server = try startServer { _ in } routes: { router in
                router.get("/inject") { _, r in
                    r.respond(HTTPResponse(status: .ok, headers: ["X-Bad": "a\r\nSet-Cookie: x=1", "Content-Length": "999", "X-Good": "1"], body: Array("ok".utf8)))
                }
            }
            defer { server.stop(timeout: 1) }
            let client = try XCTUnwrap(TestClient(port: server.port))
            client.send("GET /inject HTTP/1.1\r\nHost: a\r\n\r\n")
            let response = try XCTUnwrap(client.readResponse())
            XCTAssertEqual(response.text, "ok")
            XCTAssertNil(response.header("Set-Cookie"))
            XCTAssertNil(response.header("X-Bad"))
            XCTAssertEqual(response.header("X-Good"), "1")
            XCTAssertEqual(response.header("Content-Length"), "2")
        }
    }

    func testGracefulStopFinishesInFlightAndClosesIdle() throws {
        try eachDelivery {
            let handling = DispatchSemaphore(value: 0)
            let server = try startServer { _ in } routes: { router in
                router.get("/wait") { _, r in
                    handling.signal()
                    DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(300)) {
                        r.respond(HTTPResponse(contentType: "text/plain", body: "done"))
                    }
                }
            }
            let idle = try XCTUnwrap(TestClient(port: server.port))
            idle.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(idle.readResponse()?.status, 200)
            let busy = try XCTUnwrap(TestClient(port: server.port))
            busy.send("GET /wait HTTP/1.1\r\nHost: a\r\n\r\n")
            // In flight means handled: a request still in the kernel's buffer when the drain
            // starts belongs to a connection that looks idle, and is closed like one.
            XCTAssertEqual(handling.wait(timeout: .now() + 5), .success)
            XCTAssertEqual(server.connectionCount, 2)
            let stopped = Box(false)
            DispatchQueue.global().async {
                server.stop(timeout: 5)
                stopped.set(true)
            }
            XCTAssertTrue(idle.isClosedByPeer(), "idle keep-alive connections close at once")
            let response = try XCTUnwrap(busy.readResponse())
            XCTAssertEqual(response.text, "done", "in-flight requests finish")
            XCTAssertEqual(response.header("Connection"), "close")
            busy.hangUp()  // ends the server's lingering close, which stop waits for
            XCTAssertTrue(eventually { stopped.get() })
            XCTAssertNil(TestClient(port: server.port), "no longer accepting")
        }
    }

    func testStopDeadlineCancelsUnfinishedHandlers() throws {
        try eachDelivery {
            let cancelled = DispatchSemaphore(value: 0), handling = DispatchSemaphore(value: 0)
            let server = try startServer { _ in } routes: { router in
                router.get("/never") { _, r in
                    r.onCancel { cancelled.signal() }
                    handling.signal()
                }
            }
            let client = try XCTUnwrap(TestClient(port: server.port))
            client.send("GET /never HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(handling.wait(timeout: .now() + 5), .success, "the handler is at work before the stop")
            server.stop(timeout: 0.3)
            XCTAssertEqual(cancelled.wait(timeout: .now() + 2), .success, "work past the deadline is cancelled")
            XCTAssertTrue(client.isClosedByPeer())
            XCTAssertEqual(server.connectionCount, 0)
        }
    }

    /// Pipelined, streamed and large exchanges on one connection; the large body is many reads,
    /// which covers draining an edge-triggered socket in epoll mode.
    func testPipelinedStreamedAndLargeExchanges() throws {
        try eachDelivery {
            let server = try startServer { _ in } routes: { router in
                router.get("/s") { _, r in
                    r.startStream()
                    DispatchQueue.global().async {
                        for i in 0..<100 { r.write("\(i),") }
                        r.end()
                    }
                }
            }
            defer { server.stop(timeout: 1) }
            let client = try XCTUnwrap(TestClient(port: server.port))
            client.send("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /s HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok")
            XCTAssertEqual(client.readResponse()?.text, "hello")
            XCTAssertEqual(client.readResponse()?.text, (0..<100).map { "\($0)," }.joined())
            XCTAssertEqual(client.readResponse()?.text, "ok")
            let big = [UInt8](repeating: 7, count: 3 * 1024 * 1024)
            client.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \(big.count)\r\n\r\n")
            client.send(big)
            XCTAssertEqual(client.readResponse()?.body.count, big.count)
        }
    }

    /// A client that half-closes right after its request still gets the whole response (one
    /// too large for the socket buffers, so it is still going out when the EOF is read), then
    /// the server closes.
    func testHalfClosedClientGetsItsWholeResponse() throws {
        try eachDelivery {
            let big = [UInt8](repeating: 42, count: 8 * 1024 * 1024)
            let server = try startServer { _ in } routes: { router in
                router.get("/big") { _, r in r.respond(HTTPResponse(status: .ok, body: big)) }
            }
            defer { server.stop(timeout: 1) }
            let client = try XCTUnwrap(TestClient(port: server.port))
            client.setReceiveBuffer(64 * 1024)
            client.send("GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
            client.finishSending()
            let response = try XCTUnwrap(client.readResponse())
            XCTAssertEqual(response.status, 200)
            XCTAssertEqual(response.body.count, big.count)
            XCTAssertTrue(client.isClosedByPeer())
            XCTAssertTrue(eventually { server.connectionCount == 0 })
        }
    }

    /// Requests pipelined before the client's FIN are all answered, in order, then the server closes.
    func testPipelinedRequestsBeforeAHalfCloseAreAllAnswered() throws {
        try eachDelivery {
            let server = try startServer()
            defer { server.stop(timeout: 1) }
            let client = try XCTUnwrap(TestClient(port: server.port))
            client.send("GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhiGET / HTTP/1.1\r\nHost: a\r\n\r\n")
            client.finishSending()
            XCTAssertEqual(client.readResponse()?.text, "hello")
            XCTAssertEqual(client.readResponse()?.text, "hi")
            XCTAssertEqual(client.readResponse()?.text, "hello")
            XCTAssertTrue(client.isClosedByPeer())
        }
    }

    /// A client that pipelines requests and reads nothing gets only as many answered as the socket
    /// buffers and the pipelining limit hold (it had them all computed and buffered before); once
    /// it reads, the rest are answered.
    func testAClientThatReadsNothingGetsNoMoreAnswersComputed() throws {
        try eachDelivery {
            let body = [UInt8](repeating: 1, count: 512 * 1024)
            let handled = Box(0)
            let server = try startServer { _ in } routes: { router in
                router.get("/big") { _, r in
                    handled.update { $0 += 1 }
                    r.respond(HTTPResponse(status: .ok, body: body))
                }
            }
            defer { server.stop(timeout: 1) }
            let client = try XCTUnwrap(TestClient(port: server.port))
            client.setReceiveBuffer(16 * 1024)
            let count = 64
            client.send(String(repeating: "GET /big HTTP/1.1\r\nHost: a\r\n\r\n", count: count))
            XCTAssertTrue(eventually { handled.get() > 0 })
            Thread.sleep(forTimeInterval: 1)  // time to answer everything, were nothing holding it back
            XCTAssertLessThan(handled.get(), count / 2, "kernel buffers (a few MB) and one response's worth of slack")
            for i in 0..<count {
                XCTAssertEqual(client.readResponse()?.body.count, body.count, "response \(i)")
            }
            XCTAssertEqual(handled.get(), count)
        }
    }

    /// At the start of a drain an idle keep-alive connection closes, a connection that has not sent
    /// its request yet gets it answered (with `Connection: close`), and so does one accepted later.
    func testBeginDrainClosesIdleConnectionsAndAnswersThoseOnTheirWay() throws {
        try eachDelivery {
            let server = try startServer()
            defer { server.stop(timeout: 1) }
            let idle = try XCTUnwrap(TestClient(port: server.port))
            idle.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertNil(idle.readResponse()?.header("Connection"))
            let fresh = try XCTUnwrap(TestClient(port: server.port))
            XCTAssertTrue(eventually { server.connectionCount == 2 })
            server.beginDrain()
            XCTAssertTrue(idle.isClosedByPeer())
            fresh.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            let answer = try XCTUnwrap(fresh.readResponse())
            XCTAssertEqual(answer.text, "hello")
            XCTAssertEqual(answer.header("Connection"), "close")
            XCTAssertTrue(fresh.isClosedByPeer())
            let later = try XCTUnwrap(TestClient(port: server.port))
            later.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(later.readResponse()?.header("Connection"), "close")
        }
    }

    func testIPv6Loopback() throws {
        try eachDelivery {
            let server: HTTPServer
            do { server = try startServer(host: "::1") } catch { throw XCTSkip("IPv6 loopback not available: \(error)") }
            defer { server.stop(timeout: 1) }
            let client = try XCTUnwrap(TestClient(port: server.port, host: "::1"))
            client.send("GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n")
            XCTAssertEqual(client.readResponse()?.text, "hello")
        }
    }
}
