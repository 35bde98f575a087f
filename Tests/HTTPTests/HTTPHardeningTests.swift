import XCTest
import Foundation
@testable import HTTP

/// Hostile clients over real sockets: the malformed-request table, timeouts, connection limits, slowloris.
final class HTTPHardeningTests: SocketTestCase {
    func testHostileTableOverSockets() throws {
        try eachDelivery {
            let server = try startServer()
            defer { server.stop(timeout: 1) }
            for c in HostileRequests.cases {
                let client = try XCTUnwrap(TestClient(port: server.port))
                client.send(c.raw)
                let response = client.readResponse()
                XCTAssertEqual(response?.status, c.status, c.name)
                if c.closes {
                    XCTAssertTrue(client.isClosedByPeer(), "\(c.name): connection must close")
                } else {
                    client.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                    XCTAssertEqual(client.readResponse()?.status, 200, "\(c.name): connection must stay usable")
                }
                if let response, response.status >= 400 {
                    XCTAssertEqual(response.header("Content-Type"), "application/json", c.name)
                    XCTAssertNotNil(response.header("X-Request-Id"), c.name)
                }
                // The server stays healthy after each one.
                let good = try XCTUnwrap(TestClient(port: server.port))
                good.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                XCTAssertEqual(good.readResponse()?.text, "hello", "healthy after \(c.name)")
            }
            XCTAssertTrue(eventually { server.connectionCount == 0 }, "no connection leaks")
        }
    }

    func testUnsupportedContentEncodingIs415() throws {
        try eachDelivery {
            let server = try startServer()
            defer { server.stop(timeout: 1) }
            let client = try XCTUnwrap(TestClient(port: server.port))
            client.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Encoding: br\r\nContent-Length: 3\r\n\r\nabc")
            let response = client.readResponse()
            XCTAssertEqual(response?.status, 415)
            XCTAssertEqual(response?.header("Accept-Encoding"), "gzip")
            XCTAssertTrue(client.isClosedByPeer())
        }
    }

    /// The timeouts themselves are decided by the state machine and tested with a fake clock
    /// (HTTPConnectionTimeoutTests); this checks that the loop's tick really drives them over
    /// sockets, with timeouts short enough to keep the suite fast. No elapsed time is asserted.
    func testLoopTickDrivesTimeouts() throws {
        try eachDelivery {
            let server = try startServer {
                $0.headerTimeout = 0.3
                $0.bodyTimeout = 0.3
                $0.idleTimeout = 0.3
            }
            defer { server.stop(timeout: 1) }
            let partialHead = try XCTUnwrap(TestClient(port: server.port))
            partialHead.send("GET / HTTP/1.1\r\nHost: a\r\n")
            XCTAssertEqual(partialHead.readResponse()?.status, 408, "header block never completed")
            XCTAssertTrue(partialHead.isClosedByPeer())
            let silent = try XCTUnwrap(TestClient(port: server.port))
            XCTAssertTrue(silent.isClosedByPeer(), "a connection that never sends anything is closed without a response")
            let stalledBody = try XCTUnwrap(TestClient(port: server.port))
            stalledBody.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
            XCTAssertEqual(stalledBody.readResponse()?.status, 408, "body stalled")
            XCTAssertTrue(stalledBody.isClosedByPeer())
            let idle = try XCTUnwrap(TestClient(port: server.port))
            idle.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(idle.readResponse()?.status, 200)
            XCTAssertTrue(idle.isClosedByPeer(), "idle keep-alive connection closed")
            for client in [partialHead, stalledBody] { client.hangUp() }  // ends their lingering close
            XCTAssertTrue(eventually { server.connectionCount == 0 })
        }
    }

    /// A TLS ClientHello sent to the plain-HTTP port cannot be a request line: it gets 400 and
    /// a close at once. The header timeout is far longer than the client's receive timeout, so
    /// an answer that waited for the timeout would fail here instead of arriving.
    func testTLSClientHelloOnPlainPortGets400AtOnce() throws {
        try eachDelivery {
            let server = try startServer { $0.headerTimeout = 120; $0.idleTimeout = 120 }
            defer { server.stop(timeout: 1) }
            let client = try XCTUnwrap(TestClient(port: server.port, timeout: 5))
            client.send(HostileRequests.tlsClientHello)
            let response = try XCTUnwrap(client.readResponse())
            XCTAssertEqual(response.status, 400)
            XCTAssertTrue(response.text.contains("not_http"), response.text)
            XCTAssertTrue(client.isClosedByPeer())
            client.hangUp()  // ends the server's lingering close
            XCTAssertTrue(eventually { server.connectionCount == 0 })
        }
    }

    func testConnectionLimitAnswers503() throws {
        try eachDelivery {
            let server = try startServer { $0.maxConnections = 2 }
            defer { server.stop(timeout: 1) }
            var held: [TestClient] = []
            for _ in 0..<2 {
                let client = try XCTUnwrap(TestClient(port: server.port))
                client.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                XCTAssertEqual(client.readResponse()?.status, 200)
                held.append(client)
            }
            let third = try XCTUnwrap(TestClient(port: server.port))
            third.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(third.readResponse()?.status, 503)
            XCTAssertTrue(third.isClosedByPeer())
            held.removeAll()  // frees both slots
            XCTAssertTrue(eventually { server.connectionCount == 0 })
            let fourth = try XCTUnwrap(TestClient(port: server.port))
            fourth.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(fourth.readResponse()?.status, 200)
        }
    }

    /// 500 connections trickle their headers a byte at a time; a normal request on a new
    /// connection is still answered (within the client's receive timeout, a hang guard only),
    /// and the slow clients are neither answered nor dropped.
    func testSlowlorisDoesNotStarveNewClients() throws {
        try eachDelivery {
            let slow = 500
            var limit = rlimit()
            getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            if limit.rlim_cur < rlim_t(2 * slow + 100) {
                limit.rlim_cur = min(limit.rlim_max, rlim_t(2 * slow + 200))
                setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
            }
            guard limit.rlim_cur >= rlim_t(2 * slow + 100) else { throw XCTSkip("fd limit \(limit.rlim_cur) too low") }
            let server = try startServer { $0.headerTimeout = 30 }
            defer { server.stop(timeout: 1) }
            var clients: [TestClient] = []
            for _ in 0..<slow {
                guard let client = TestClient(port: server.port) else { return XCTFail("connect failed at \(clients.count)") }
                clients.append(client)
            }
            let request = Array("GET / HTTP/1.1\r\nHost: a\r\n".utf8)
            for round in 0..<3 {
                for client in clients { client.send([request[round]]) }
                let fresh = try XCTUnwrap(TestClient(port: server.port))
                fresh.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                XCTAssertEqual(fresh.readResponse()?.status, 200, "round \(round): answered beside \(slow) slow clients")
                usleep(200_000)
            }
            XCTAssertGreaterThanOrEqual(server.connectionCount, slow, "slow clients are still connected, not dropped")
        }
    }

    /// A request with the client's FIN right behind it gets its answer, then the close at once:
    /// epoll can report the data and the FIN in one edge, and the loop used to stop at the short
    /// read and keep the socket until the idle timeout.
    func testHalfClosedClientGetsItsAnswerThenTheClose() throws {
        try eachDelivery {
            let server = try startServer { $0.idleTimeout = 30 }
            defer { server.stop(timeout: 1) }
            for round in 0..<5 {
                let client = try XCTUnwrap(TestClient(port: server.port, timeout: 5))
                client.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
                client.finishSending()
                XCTAssertEqual(client.readResponse()?.text, "hello", "round \(round)")
                XCTAssertTrue(client.isClosedByPeer(), "round \(round): closed at once, not at the idle timeout")
            }
        }
    }

    /// An error the HTTP layer answers itself has no content when the request was HEAD (RFC 9110 §9.3.2).
    func testErrorAnswerToHeadHasNoBody() throws {
        try eachDelivery {
            let server = try startServer()
            defer { server.stop(timeout: 1) }
            let client = try XCTUnwrap(TestClient(port: server.port))
            client.send("HEAD / HTTP/1.1\r\nHost: a\r\nExpect: foo\r\n\r\n")
            let answer = try XCTUnwrap(client.readResponse(head: true))
            XCTAssertEqual(answer.status, 417)
            XCTAssertNotEqual(answer.header("Content-Length"), "0", "the length is the GET answer's")
            XCTAssertTrue(client.isClosedByPeer(), "no content after the head")
        }
    }

    /// The same when the error is in the request line itself (too long, a version, a target).
    func testErrorInTheRequestLineOfAHeadHasNoBody() throws {
        let long = "HEAD /" + String(repeating: "a", count: 9000) + " HTTP/1.1\r\nHost: a\r\n\r\n"
        let cases: [(String, Int)] = [(long, 414), ("HEAD / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
                                      ("HEAD /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400), ("HEAD / HTTP/1.1\nHost: a\n\n", 400)]
        let server = try startServer()
        defer { server.stop(timeout: 1) }
        for (request, status) in cases {
            let client = try XCTUnwrap(TestClient(port: server.port))
            client.send(request)
            let answer = try XCTUnwrap(client.readResponse(head: true))
            XCTAssertEqual(answer.status, status)
            XCTAssertTrue(client.isClosedByPeer(), "no content after the head (\(status))")
        }
    }
}
