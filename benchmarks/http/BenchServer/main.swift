// A trivial server for the wrk benchmark (benchmarks/http/run.sh): GET / answers "ok".
// Usage: http-bench-server [port] [loops]
#if !HTTP_SINGLE_MODULE
import HTTP  // run.sh may compile this file together with Sources/HTTP as one module instead
#endif
import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

let arguments = CommandLine.arguments
var configuration = HTTPServerConfiguration(host: "127.0.0.1", port: arguments.count > 1 ? Int(arguments[1]) ?? 8089 : 8089)
if arguments.count > 2, let loops = Int(arguments[2]) { configuration.loopCount = loops }
// JETON_HTTP_EVENTS=epoll selects the per-loop epoll delivery (Linux).
if ProcessInfo.processInfo.environment["JETON_HTTP_EVENTS"] == "epoll" { configuration.eventDelivery = .epoll }
configuration.tlsCertificatePath = arguments.count > 4 ? arguments[3] : nil
configuration.tlsKeyPath = arguments.count > 4 ? arguments[4] : nil
let body: [UInt8] = Array("ok".utf8)
let router = Router()
router.get("/") { _, responder in
    responder.respond(HTTPResponse(status: .ok, headers: ["Content-Type": "text/plain"], body: body))
}
router.get("/stream") { _, responder in
    responder.startStream(headers: ["Content-Type": "text/event-stream"])
    for i in 0..<5 { responder.write("data: \(i)\n\n") }
    responder.end()
}
let server = HTTPServer(configuration: configuration, router: router)
do {
    try server.start()
} catch {
    print("start failed: \(error)")
    exit(1)
}
print("listening on 127.0.0.1:\(server.port) with \(configuration.loopCount) loops, \(server.eventDeliveryInUse)")
let stopSignal = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .main)
signal(SIGTERM, SIG_IGN)
stopSignal.setEventHandler {
    server.stop(timeout: 2)
    exit(0)
}
stopSignal.resume()
dispatchMain()
