import XCTest
import Foundation
@testable import HTTP

/// Starts a server on 127.0.0.1 with an ephemeral port and short timeouts for tests.
func startServer(host: String = "127.0.0.1", loops: Int = 2, _ configure: (inout HTTPServerConfiguration) -> Void = { _ in },
                 routes: (Router) -> Void = { _ in }) throws -> HTTPServer {
    var configuration = HTTPServerConfiguration(host: host, port: 0)
    configuration.loopCount = loops
    configuration.headerTimeout = 2
    configuration.bodyTimeout = 2
    configuration.idleTimeout = 5
    // JETON_HTTP_EVENTS=epoll runs the whole suite with the epoll delivery.
    if ProcessInfo.processInfo.environment["JETON_HTTP_EVENTS"] == "epoll" { configuration.eventDelivery = .epoll }
    configure(&configuration)
    let router = Router()
    router.get("/") { _, r in r.respond(HTTPResponse(contentType: "text/plain", body: "hello")) }
    router.post("/") { request, r in
        r.respond(HTTPResponse(status: .ok, headers: ["Content-Type": "application/octet-stream"], body: request.body))
    }
    routes(router)
    let server = HTTPServer(configuration: configuration, router: router)
    try server.start()
    return server
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
