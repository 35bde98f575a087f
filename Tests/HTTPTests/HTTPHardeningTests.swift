import XCTest
import Foundation
@testable import HTTP

/// Hostile clients over real sockets: the malformed-request table, timeouts, connection limits, slowloris.
final class HTTPHardeningTests: XCTestCase {
    func testHostileTableOverSockets() throws {
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

    func testUnsupportedContentEncodingIs415() throws {
        let server = try startServer()
        defer { server.stop(timeout: 1) }
        let client = try XCTUnwrap(TestClient(port: server.port))
        client.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Encoding: br\r\nContent-Length: 3\r\n\r\nabc")
        XCTAssertEqual(client.readResponse()?.status, 415)
        XCTAssertTrue(client.isClosedByPeer())
    }

    func testHeaderTimeoutIs408() throws {
        let server = try startServer { $0.headerTimeout = 1 }
        defer { server.stop(timeout: 1) }
        let client = try XCTUnwrap(TestClient(port: server.port))
        client.send("GET / HTTP/1.1\r\nHost: a\r\n")
        let response = try XCTUnwrap(client.readResponse())
        XCTAssertEqual(response.status, 408)
        XCTAssertTrue(client.isClosedByPeer())
        // A connection that never sends anything is closed without a response.
        let silent = try XCTUnwrap(TestClient(port: server.port))
        XCTAssertTrue(silent.isClosedByPeer())
    }

    func testStalledBodyIs408() throws {
        let server = try startServer { $0.bodyTimeout = 1 }
        defer { server.stop(timeout: 1) }
        let client = try XCTUnwrap(TestClient(port: server.port))
        client.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
        XCTAssertEqual(client.readResponse()?.status, 408)
        XCTAssertTrue(client.isClosedByPeer())
    }

    func testIdleKeepAliveIsClosed() throws {
        let server = try startServer { $0.idleTimeout = 1 }
        defer { server.stop(timeout: 1) }
        let client = try XCTUnwrap(TestClient(port: server.port))
        client.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertEqual(client.readResponse()?.status, 200)
        let start = Date()
        XCTAssertTrue(client.isClosedByPeer())
        XCTAssertGreaterThan(Date().timeIntervalSince(start), 0.5, "not before the idle timeout")
    }

    func testConnectionLimitAnswers503() throws {
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

    /// 500 connections trickle their headers one byte per second; a normal request on a new
    /// connection is still answered in under a second (a generous bound: it takes milliseconds).
    func testSlowlorisDoesNotStarveNewClients() throws {
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
            let start = Date()
            let fresh = try XCTUnwrap(TestClient(port: server.port))
            fresh.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(fresh.readResponse()?.status, 200)
            let elapsed = Date().timeIntervalSince(start)
            XCTAssertLessThan(elapsed, 1.0, "round \(round): answered in \(elapsed) s beside \(slow) slow clients")
            sleep(1)
        }
        XCTAssertGreaterThanOrEqual(server.connectionCount, slow, "slow clients are still connected, not dropped")
    }
}
