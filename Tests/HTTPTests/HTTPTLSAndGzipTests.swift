import XCTest
import Foundation
@testable import HTTP

/// HTTPS through OpenSSL (checked with the curl CLI) and gzip in both directions
/// (checked with the gzip CLI, an implementation independent of ours).
final class HTTPTLSAndGzipTests: SocketTestCase {
    static let curl = "/usr/bin/curl", openssl = "/usr/bin/openssl", gzip = "/bin/gzip"

    private func makeCertificate() throws -> (dir: URL, cert: String, key: String) {
        guard FileManager.default.isExecutableFile(atPath: Self.openssl), FileManager.default.isExecutableFile(atPath: Self.curl) else {
            throw XCTSkip("openssl or curl CLI missing")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("jeton-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let cert = dir.appendingPathComponent("cert.pem").path, key = dir.appendingPathComponent("key.pem").path
        let result = runTool(Self.openssl, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                            "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                                            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        XCTAssertEqual(result?.status, 0, "openssl req")
        return (dir, cert, key)
    }

    func testHTTPSWithCurl() throws {
        try eachDelivery {
            let (dir, cert, key) = try makeCertificate()
            defer { try? FileManager.default.removeItem(at: dir) }
            let server = try startServer({ $0.tlsCertificatePath = cert; $0.tlsKeyPath = key }) { router in
                router.get("/stream") { _, r in
                    r.startStream(headers: ["Content-Type": "text/event-stream"])
                    DispatchQueue.global().async {
                        for i in 0..<50 { r.write("data: \(i)\n\n") }
                        r.end()
                    }
                }
            }
            defer { server.stop(timeout: 1) }
            let base = "https://127.0.0.1:\(server.port)"
            let plain = try XCTUnwrap(runTool(Self.curl, ["-sS", "--cacert", cert, "\(base)/"]))
            XCTAssertEqual(plain.status, 0)
            XCTAssertEqual(String(decoding: plain.output, as: UTF8.self), "hello")
            let streamed = try XCTUnwrap(runTool(Self.curl, ["-sSN", "--cacert", cert, "\(base)/stream"]))
            XCTAssertEqual(streamed.status, 0)
            let text = String(decoding: streamed.output, as: UTF8.self)
            XCTAssertTrue(text.hasPrefix("data: 0\n\n") && text.hasSuffix("data: 49\n\n"), text)
            let upload = try XCTUnwrap(runTool(Self.curl, ["-sS", "--cacert", cert, "--data-binary", "@-", "\(base)/"], stdin: Data(repeating: 65, count: 100_000)))
            XCTAssertEqual(upload.output.count, 100_000, "a body larger than one TLS record comes back whole")
            // TLS 1.1 is refused, and so are TLS 1.2 suites without forward secrecy or AEAD.
            let old = try XCTUnwrap(runTool(Self.curl, ["-sS", "--cacert", cert, "--tlsv1.1", "--tls-max", "1.1", "\(base)/"]))
            XCTAssertNotEqual(old.status, 0)
            for cipher in ["ECDHE-ECDSA-AES128-SHA", "AES128-GCM-SHA256"] {
                let weak = try XCTUnwrap(runTool(Self.curl, ["-sS", "--cacert", cert, "--tls-max", "1.2", "--ciphers", cipher, "\(base)/"]))
                XCTAssertNotEqual(weak.status, 0, cipher)
            }
            let strong = try XCTUnwrap(runTool(Self.curl, ["-sS", "--cacert", cert, "--tls-max", "1.2", "--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256", "\(base)/"]))
            XCTAssertEqual(String(decoding: strong.output, as: UTF8.self), "hello")
            // Plain HTTP to the TLS port is told so in plain HTTP (as nginx does), then closed.
            let garbage = try XCTUnwrap(TestClient(port: server.port))
            garbage.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            let told = try XCTUnwrap(garbage.readResponse())
            XCTAssertEqual(told.status, 400)
            XCTAssertTrue(String(decoding: told.body, as: UTF8.self).contains("https://"))
            XCTAssertTrue(garbage.isClosedByPeer())
            let again = try XCTUnwrap(runTool(Self.curl, ["-sS", "--cacert", cert, "\(base)/"]))
            XCTAssertEqual(String(decoding: again.output, as: UTF8.self), "hello", "a bad handshake affects only its connection")
            // Keep-alive over TLS: two requests on one connection.
            let two = try XCTUnwrap(runTool(Self.curl, ["-sS", "--cacert", cert, "\(base)/", "\(base)/"]))
            XCTAssertEqual(String(decoding: two.output, as: UTF8.self), "hellohello")
        }
    }

    /// A rotated certificate (new files at the same paths) is taken by `reloadTLS` for new
    /// connections; files that do not load leave the one in use.
    func testRotatedCertificateIsReloaded() throws {
        let (dir, cert, key) = try makeCertificate()
        defer { try? FileManager.default.removeItem(at: dir) }
        let first = dir.appendingPathComponent("first.pem").path
        try FileManager.default.copyItem(atPath: cert, toPath: first)
        let server = try startServer({ $0.tlsCertificatePath = cert; $0.tlsKeyPath = key })
        defer { server.stop(timeout: 1) }
        let base = "https://127.0.0.1:\(server.port)/"
        func hello(trusting ca: String) -> Bool {
            runTool(Self.curl, ["-sS", "--cacert", ca, base]).map { $0.status == 0 && $0.output == Data("hello".utf8) } ?? false
        }
        XCTAssertTrue(hello(trusting: first))
        // A new key pair written over the files, as cert-manager rotates them.
        try FileManager.default.removeItem(atPath: cert)
        try FileManager.default.removeItem(atPath: key)
        XCTAssertEqual(runTool(Self.openssl, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                              "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                                              "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])?.status, 0)
        XCTAssertTrue(hello(trusting: first), "until the reload the old one serves")
        try server.reloadTLS()
        XCTAssertTrue(hello(trusting: cert))
        XCTAssertFalse(hello(trusting: first))
        let second = dir.appendingPathComponent("second.pem").path
        try FileManager.default.copyItem(atPath: cert, toPath: second)
        try Data("not a certificate".utf8).write(to: URL(fileURLWithPath: cert))
        XCTAssertThrowsError(try server.reloadTLS())
        XCTAssertTrue(hello(trusting: second), "a failed reload keeps the certificate in use")
    }

    /// A passphrase-protected key stops start-up with a message saying so; it never waits for a
    /// passphrase on the terminal.
    func testEncryptedKeyIsRefusedWithoutAPrompt() throws {
        let (dir, cert, key) = try makeCertificate()
        defer { try? FileManager.default.removeItem(at: dir) }
        let locked = dir.appendingPathComponent("locked.pem").path
        XCTAssertEqual(runTool(Self.openssl, ["pkey", "-in", key, "-aes256", "-passout", "pass:secret", "-out", locked])?.status, 0)
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.tlsCertificatePath = cert
        configuration.tlsKeyPath = locked
        XCTAssertThrowsError(try HTTPServer(configuration: configuration, handler: { _, _ in }).start()) { e in
            XCTAssertTrue("\(e)".contains("encrypted"), "\(e)")
        }
    }

    func testBadCertificatePathFailsStart() {
        var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: 0)
        configuration.tlsCertificatePath = "/nonexistent/cert.pem"
        configuration.tlsKeyPath = "/nonexistent/key.pem"
        XCTAssertThrowsError(try HTTPServer(configuration: configuration, handler: { _, _ in }).start())
    }

    func testGzipResponses() throws {
        try eachDelivery {
            guard FileManager.default.isExecutableFile(atPath: Self.gzip) else { throw XCTSkip("gzip CLI missing") }
            let big = String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 100)
            let server = try startServer { _ in } routes: { router in
                router.get("/big") { _, r in r.respond(HTTPResponse(contentType: "text/plain", body: big)) }
                router.get("/sse") { _, r in r.respond(HTTPResponse(contentType: "text/event-stream", body: big)) }
            }
            defer { server.stop(timeout: 1) }
            let client = try XCTUnwrap(TestClient(port: server.port))
            client.send("GET /big HTTP/1.1\r\nHost: a\r\nAccept-Encoding: deflate, gzip;q=0.8\r\n\r\n")
            let zipped = try XCTUnwrap(client.readResponse())
            XCTAssertEqual(zipped.header("Content-Encoding"), "gzip")
            XCTAssertEqual(zipped.header("Vary"), "Accept-Encoding")
            XCTAssertLessThan(zipped.body.count, big.utf8.count)
            let inflated = try XCTUnwrap(runTool(Self.gzip, ["-dc"], stdin: Data(zipped.body)))
            XCTAssertEqual(String(decoding: inflated.output, as: UTF8.self), big)
            for request in ["GET /big HTTP/1.1\r\nHost: a\r\n\r\n",
                            "GET /big HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip;q=0\r\n\r\n",
                            "GET / HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n",
                            "GET /sse HTTP/1.1\r\nHost: a\r\nAccept-Encoding: gzip\r\n\r\n"] {
                client.send(request)
                let response = try XCTUnwrap(client.readResponse())
                XCTAssertNil(response.header("Content-Encoding"), request)
                // The big body varies by Accept-Encoding even when sent plain, so caches keep both forms apart.
                XCTAssertEqual(response.header("Vary"), request.hasPrefix("GET /big") ? "Accept-Encoding" : nil, request)
            }
        }
    }

    func testGzipRequestBodiesAndBomb() throws {
        try eachDelivery {
            guard FileManager.default.isExecutableFile(atPath: Self.gzip) else { throw XCTSkip("gzip CLI missing") }
            let server = try startServer { $0.maxInflatedBodyBytes = 4 * 1024 * 1024 }
            defer { server.stop(timeout: 1) }
            let original = Data((0..<50_000).map { UInt8(truncatingIfNeeded: $0 * 7 % 251) })
            let compressed = try XCTUnwrap(runTool(Self.gzip, ["-c"], stdin: original)).output
            let client = try XCTUnwrap(TestClient(port: server.port))
            client.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Encoding: gzip\r\nContent-Length: \(compressed.count)\r\n\r\n")
            client.send([UInt8](compressed))
            let echoed = try XCTUnwrap(client.readResponse())
            XCTAssertEqual(echoed.status, 200)
            XCTAssertEqual(Data(echoed.body), original)

            // 10 MB of zeros is about 10 KB of gzip: refused with 413, not inflated into memory.
            let bomb = try XCTUnwrap(runTool(Self.gzip, ["-c"], stdin: Data(count: 10_000_000))).output
            XCTAssertLessThan(bomb.count, 100_000)
            let bomber = try XCTUnwrap(TestClient(port: server.port))
            bomber.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Encoding: gzip\r\nContent-Length: \(bomb.count)\r\n\r\n")
            bomber.send([UInt8](bomb))
            XCTAssertEqual(bomber.readResponse()?.status, 413)

            let corrupt = try XCTUnwrap(TestClient(port: server.port))
            corrupt.send("POST / HTTP/1.1\r\nHost: a\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\nhello")
            XCTAssertEqual(corrupt.readResponse()?.status, 400)
        }
    }

    func testGzipCodecRoundTripAndLimit() throws {
        let input = Array(String(repeating: "abc", count: 10_000).utf8)
        let compressed = try XCTUnwrap(Gzip.compress(input))
        XCTAssertEqual(try Gzip.decompress(compressed, limit: input.count), input)
        XCTAssertThrowsError(try Gzip.decompress(compressed, limit: input.count - 1)) { XCTAssertEqual($0 as? Gzip.Failure, .tooLarge) }
        XCTAssertThrowsError(try Gzip.decompress(Array(compressed.dropLast(4)), limit: 1 << 20)) { XCTAssertEqual($0 as? Gzip.Failure, .corrupt) }
        // Members in a row inflate to their concatenation (RFC 1952 §2.2); other trailing bytes are garbage.
        let second = Array("and more".utf8)
        let two = compressed + (try XCTUnwrap(Gzip.compress(second)))
        XCTAssertEqual(try Gzip.decompress(two, limit: 1 << 20), input + second)
        XCTAssertThrowsError(try Gzip.decompress(two, limit: input.count + second.count - 1)) { XCTAssertEqual($0 as? Gzip.Failure, .tooLarge) }
        XCTAssertThrowsError(try Gzip.decompress(compressed + [0x1F], limit: 1 << 20)) { XCTAssertEqual($0 as? Gzip.Failure, .corrupt) }
        XCTAssertThrowsError(try Gzip.decompress(compressed + Array("junk".utf8), limit: 1 << 20)) { XCTAssertEqual($0 as? Gzip.Failure, .corrupt) }
        XCTAssertTrue(Gzip.accepts(["Accept-Encoding": "br, GZIP"]))
        XCTAssertTrue(Gzip.accepts(["Accept-Encoding": "*"]))
        XCTAssertFalse(Gzip.accepts(["Accept-Encoding": "gzip;q=0, *"]))
        XCTAssertFalse(Gzip.accepts(HTTPHeaders()))
    }
}
