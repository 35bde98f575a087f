import XCTest
import Foundation
@testable import HTTP

/// Base of the tests that talk to a real server over sockets. Each test wraps its body in
/// `eachDelivery`, which runs it once per event delivery: per-connection DispatchSources, then
/// one epoll set per loop (the production default). A failure names the delivery it happened in.
class SocketTestCase: XCTestCase {
    /// epoll exists on Linux only; elsewhere the server falls back to dispatch sources.
    static var deliveries: [HTTPEventDelivery] {
        #if os(Linux)
        return [.dispatchSources, .epoll]
        #else
        return [.dispatchSources]
        #endif
    }

    /// The delivery the current `eachDelivery` pass uses; nil outside one.
    private(set) var delivery: HTTPEventDelivery?

    func eachDelivery(_ body: () throws -> Void) rethrows {
        for next in Self.deliveries {
            delivery = next
            defer { delivery = nil }
            try body()
        }
    }

    override func recordFailure(withDescription description: String, inFile filePath: String, atLine lineNumber: Int, expected: Bool) {
        let label = delivery.map { "[\($0)] " } ?? ""
        super.recordFailure(withDescription: label + description, inFile: filePath, atLine: lineNumber, expected: expected)
    }

    /// Starts a server on 127.0.0.1 with an ephemeral port, short timeouts and the current pass's
    /// event delivery (dispatch sources outside `eachDelivery`).
    func startServer(host: String = "127.0.0.1", loops: Int = 2, _ configure: (inout HTTPServerConfiguration) -> Void = { _ in },
                     routes: (Router) -> Void = { _ in }, file: StaticString = #filePath, line: UInt = #line) throws -> HTTPServer {
        var configuration = HTTPServerConfiguration(host: host, port: 0)
        configuration.loopCount = loops
        configuration.headerTimeout = 2
        configuration.bodyTimeout = 2
        configuration.idleTimeout = 5
        configuration.eventDelivery = delivery ?? .dispatchSources
        configure(&configuration)
        let router = Router()
        router.get("/") { _, r in r.respond(HTTPResponse(contentType: "text/plain", body: "hello")) }
        router.post("/") { request, r in
            r.respond(HTTPResponse(status: .ok, headers: ["Content-Type": "application/octet-stream"], body: request.body))
        }
        routes(router)
        let server = HTTPServer(configuration: configuration, router: router)
        try server.start()
        // The pass must really use the delivery it is named after (epoll falls back silently).
        XCTAssertEqual(server.eventDeliveryInUse, configuration.eventDelivery, "event delivery in use", file: file, line: line)
        return server
    }
}

/// Waits until `condition` holds or `timeout` passes; returns whether it held.
func eventually(timeout: Double = 5, _ condition: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

/// A value shared between a handler thread and the test.
final class Box<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ value: T) { self.value = value }
    func get() -> T { lock.lock(); defer { lock.unlock() }; return value }
    func set(_ new: T) { lock.lock(); value = new; lock.unlock() }
    func update(_ body: (inout T) -> Void) { lock.lock(); body(&value); lock.unlock() }
}
