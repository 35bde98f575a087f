import XCTest
import Foundation
@testable import HTTP

/// Streamed responses: chunk-by-chunk flushing, backpressure, cancellation on disconnect.
final class HTTPStreamingTests: SocketTestCase {
    func testChunksAreFlushedOneByOne() throws {
        try eachDelivery {
            let next = DispatchSemaphore(value: 0)
            let server = try startServer { _ in } routes: { router in
                router.get("/events") { _, r in
                    r.startStream(headers: ["Content-Type": "text/event-stream"])
                    DispatchQueue.global().async {
                        for i in 0..<3 {
                            r.write("data: \(i)\n\n")
                            // The next chunk is produced only once the test has seen this one.
                            if next.wait(timeout: .now() + 5) == .timedOut { return }
                        }
                        r.end()
                    }
                }
            }
            defer { server.stop(timeout: 1) }
            let client = try XCTUnwrap(TestClient(port: server.port))
            client.send("GET /events HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n")
            var head = ""
            while !head.hasSuffix("\r\n\r\n") {
                guard let byte = client.readRaw(count: 1) else { return XCTFail("no head") }
                head += String(decoding: byte, as: UTF8.self)
            }
            XCTAssertTrue(head.contains("Transfer-Encoding: chunked"))
            XCTAssertFalse(head.contains("Content-Encoding"), "event streams are never gzipped")
            for i in 0..<3 {
                let expected = "9\r\ndata: \(i)\n\n\r\n"
                let got = client.readRaw(count: expected.utf8.count).map { String(decoding: $0, as: UTF8.self) }
                XCTAssertEqual(got, expected, "chunk \(i) must arrive before the next one is produced")
                next.signal()
            }
            XCTAssertEqual(client.readRaw(count: 5).map { String(decoding: $0, as: UTF8.self) }, "0\r\n\r\n")
            client.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(client.readResponse()?.text, "hello", "keep-alive after a stream")
        }
    }

    func testSlowReaderGetsBoundedBufferAndProducerWaits() throws {
        try eachDelivery {
            let limit = 64 * 1024, chunk = 16 * 1024, total = 32 * 1024 * 1024
            let maxBuffered = Box(0)
            let producedAtFirstWait = Box(-1)
            let finished = DispatchSemaphore(value: 0)
            let server = try startServer { $0.maxResponseBufferBytes = limit } routes: { router in
                router.get("/big") { _, r in
                    r.startStream(headers: ["Content-Type": "application/octet-stream"])
                    Thread.detachNewThread {
                        var produced = 0
                        while produced < total && !r.isCancelled {
                            let bytes = [UInt8](repeating: UInt8(truncatingIfNeeded: produced / chunk), count: chunk)
                            let mayContinue = r.write(bytes)
                            produced += chunk
                            maxBuffered.update { $0 = max($0, r.bufferedBytes) }
                            if !mayContinue {
                                if producedAtFirstWait.get() < 0 { producedAtFirstWait.set(produced) }
                                let ready = DispatchSemaphore(value: 0)
                                r.onWritable { ready.signal() }
                                ready.wait()
                            }
                        }
                        r.end()
                        finished.signal()
                    }
                }
            }
            defer { server.stop(timeout: 1) }
            let client = try XCTUnwrap(TestClient(port: server.port, timeout: 10))
            client.setReceiveBuffer(32 * 1024)
            client.send("GET /big HTTP/1.1\r\nHost: a\r\n\r\n")
            // Do not read for a while: the producer must be told to wait long before it is done.
            XCTAssertTrue(eventually(timeout: 5) { producedAtFirstWait.get() > 0 })
            usleep(300_000)
            XCTAssertLessThan(producedAtFirstWait.get(), total / 2)
            let response = try XCTUnwrap(client.readResponse())
            XCTAssertEqual(response.body.count, total)
            XCTAssertEqual(response.body[total - 1], UInt8(truncatingIfNeeded: (total - 1) / chunk))
            XCTAssertEqual(finished.wait(timeout: .now() + 5), .success)
            // The limit, plus the chunk that crossed it, plus that chunk's framing ("4000\r\n...\r\n").
            XCTAssertLessThanOrEqual(maxBuffered.get(), limit + chunk + 8, "buffered bytes stay bounded")
        }
    }

    /// One chunk larger than the overflow bound, into a buffer under the limit, then a burst of
    /// small ones (an echo's prompt logprobs and the tokens of the same step): all of it goes out.
    /// The big chunk alone cut such streams (a user's 2,000-token echo with logprobs: 1.2 MB).
    /// A producer that goes on writing while far over the limit is still cut.
    func testOneLargeChunkGoesOutAndAFloodIsCut() throws {
        try eachDelivery {
            let limit = 16 * 1024, big = 16 * 1024 * 1024, small = 1024, burst = 40
            let floodCut = DispatchSemaphore(value: 0)
            let floodWrites = Box(0)
            let server = try startServer { $0.maxResponseBufferBytes = limit } routes: { router in
                router.get("/one") { _, r in
                    r.startStream(headers: ["Content-Type": "application/octet-stream"])
                    _ = r.write([UInt8](repeating: 1, count: big))
                    for _ in 0..<burst { _ = r.write([UInt8](repeating: 2, count: small)) }
                    r.end()
                }
                router.get("/flood") { _, r in
                    r.startStream(headers: ["Content-Type": "application/octet-stream"])
                    Thread.detachNewThread {
                        // Ignores backpressure: keeps writing whatever `write` answers.
                        while !r.isCancelled && floodWrites.get() < 100_000 {
                            _ = r.write([UInt8](repeating: 3, count: 64 * 1024))
                            floodWrites.update { $0 += 1 }
                        }
                        if r.isCancelled { floodCut.signal() }
                    }
                }
            }
            defer { server.stop(timeout: 1) }
            let client = try XCTUnwrap(TestClient(port: server.port, timeout: 20))
            client.setReceiveBuffer(32 * 1024)
            client.send("GET /one HTTP/1.1\r\nHost: a\r\n\r\n")
            usleep(300_000)  // everything is written before the client reads
            let response = try XCTUnwrap(client.readResponse())
            XCTAssertEqual(response.body.count, big + burst * small)
            XCTAssertEqual(response.body.last, 2)
            let flood = try XCTUnwrap(TestClient(port: server.port, timeout: 20))
            flood.setReceiveBuffer(32 * 1024)
            flood.send("GET /flood HTTP/1.1\r\nHost: a\r\n\r\n")
            XCTAssertEqual(floodCut.wait(timeout: .now() + 10), .success, "a producer ignoring backpressure is cut")
            XCTAssertLessThan(floodWrites.get(), 100_000)
        }
    }

    func testClientDisconnectCancelsProducer() throws {
        try eachDelivery {
            for reset in [false, true] {
                let cancelled = DispatchSemaphore(value: 0)
                let writesAfterCancel = Box(0)
                let server = try startServer { _ in } routes: { router in
                    router.get("/tokens") { _, r in
                        r.onCancel { cancelled.signal() }
                        r.startStream(headers: ["Content-Type": "text/event-stream"])
                        Thread.detachNewThread {
                            for i in 0..<2000 {
                                if !r.write("data: token \(i)\n\n") && r.isCancelled {
                                    writesAfterCancel.update { $0 += 1 }
                                    return
                                }
                                usleep(5_000)
                            }
                            r.end()
                        }
                    }
                }
                defer { server.stop(timeout: 1) }
                var client: TestClient? = try XCTUnwrap(TestClient(port: server.port))
                client?.send("GET /tokens HTTP/1.1\r\nHost: a\r\n\r\n")
                XCTAssertNotNil(client?.readRaw(count: 20))
                if reset, let fd = client?.fd {
                    var option = linger(l_onoff: 1, l_linger: 0)  // close with RST
                    setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
                }
                client = nil  // closes the socket
                XCTAssertEqual(cancelled.wait(timeout: .now() + 3), .success, "onCancel fires on disconnect (reset: \(reset))")
                XCTAssertTrue(eventually { writesAfterCancel.get() == 1 }, "the producer sees it must stop")
                XCTAssertTrue(eventually { server.connectionCount == 0 })
            }
        }
    }

    func testHTTP10StreamIsDelimitedByClose() throws {
        try eachDelivery {
            let server = try startServer { _ in } routes: { router in
                router.get("/s") { _, r in
                    r.startStream(headers: ["Content-Type": "text/plain"])
                    r.write("one,")
                    r.write("two")
                    r.end()
                }
            }
            defer { server.stop(timeout: 1) }
            let client = try XCTUnwrap(TestClient(port: server.port))
            client.send("GET /s HTTP/1.0\r\n\r\n")
            let response = try XCTUnwrap(client.readResponse())
            XCTAssertNil(response.header("Transfer-Encoding"))
            XCTAssertEqual(response.text, "one,two")
        }
    }

    func testWriteAndWaitFromAsyncProducer() throws {
        try eachDelivery {
            let server = try startServer { $0.maxResponseBufferBytes = 1024 } routes: { router in
                router.get("/async") { _, r in
                    r.startStream()
                    Task {
                        for i in 0..<200 { guard await r.writeAndWait(Array("line \(i)\n".utf8)) else { return } }
                        r.end()
                    }
                }
            }
            defer { server.stop(timeout: 1) }
            let client = try XCTUnwrap(TestClient(port: server.port))
            client.send("GET /async HTTP/1.1\r\nHost: a\r\n\r\n")
            let response = try XCTUnwrap(client.readResponse())
            XCTAssertTrue(response.text.hasPrefix("line 0\nline 1\n"))
            XCTAssertTrue(response.text.hasSuffix("line 199\n"))
        }
    }
}
