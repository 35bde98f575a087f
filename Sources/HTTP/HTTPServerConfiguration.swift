import Foundation

/// Everything the server can be tuned with. Defaults follow nginx where nginx has one.
public struct HTTPServerConfiguration: Sendable {
    /// Address to bind: `0.0.0.0`, `127.0.0.1`, `::1`, or `::` (IPv6 and IPv4, dual-stack).
    public var host = "0.0.0.0"
    /// 0 picks an ephemeral port; read the real one from `HTTPServer.port` after `start()`.
    public var port = 8080
    public var backlog: Int32 = 1024
    /// Serial queues that run connections; default one per active core.
    public var loopCount = ProcessInfo.processInfo.activeProcessorCount
    /// How loops learn that sockets are ready; see `HTTPEventDelivery`.
    public var eventDelivery = HTTPEventDelivery.dispatchSources
    /// Open connections beyond this get `503` and are closed.
    public var maxConnections = 4096
    /// Paths a connection over `maxConnections` is still answered on (GET or HEAD, then closed):
    /// health probes, so a replica at its limit is busy, not dead. Others get the 503.
    public var pathsAnsweredAtLimit: Set<String> = []

    /// Request line, header block, header count, body size (on the wire).
    public var limits = HTTPParserLimits()
    /// Limit on a gzip request body once inflated (a decompression bomb gets 413).
    public var maxInflatedBodyBytes = 4 * 1024 * 1024

    /// From the first byte of a request (or from accept) to the end of its header block → 408.
    public var headerTimeout: Double = 10
    /// Keep-alive connection with no request in progress is closed after this.
    public var idleTimeout: Double = 75
    /// Longest time without any body byte while a body is expected → 408.
    public var bodyTimeout: Double = 10
    /// Longest time a pending response makes no write progress before the connection is dropped.
    public var writeTimeout: Double = 60
    /// After the last byte of a closing response: how long the half-closed connection keeps
    /// draining what the peer still sends before it is closed (nginx's `lingering_timeout`).
    public var lingerTimeout: Double = 5
    /// The longest a lingering close lasts however the peer keeps sending (nginx's `lingering_time`):
    /// each read while lingering allows `lingerTimeout` more, up to this from its start.
    public var lingerTotal: Double = 30

    /// Bytes a streaming response may buffer before `write` returns false (producer must wait).
    public var maxResponseBufferBytes = 256 * 1024

    public var gzipEnabled = true
    /// Whole responses at least this long are gzipped when the client accepts gzip.
    public var gzipMinimumLength = 1024

    /// PEM files; when both are set the listener speaks TLS 1.2/1.3 only.
    public var tlsCertificatePath: String?
    public var tlsKeyPath: String?

    public var serverName = "jeton"

    /// An answer decided from a request's head alone, before its body is read or `100 Continue`
    /// is sent (RFC 9110 §10.1.1), for requests refused whatever their body says (no valid API
    /// key): it is sent and the connection closed, the body unread. Asked only for requests that
    /// send `Expect: 100-continue`, are chunked, or declare more than `earlyCheckBytes` (or more
    /// than the body limit, before its 413), so an unauthenticated client cannot make the server
    /// hold large bodies nor learn its limit; smaller ones go on to the handlers (and their logs
    /// and metrics) as before.
    public var refuseEarly: (@Sendable (HTTPRequestHead) -> HTTPResponse?)?
    public var earlyCheckBytes = 64 * 1024
    /// Told of each `refuseEarly` answer once it is sent, with the request ID it carried, so
    /// the access log has a line for it as for any answered request.
    public var refusalSent: (@Sendable (HTTPRequestHead, _ requestID: String, HTTPStatus) -> Void)?
    /// Told of each error the HTTP layer answers itself (a 400 on framing, 408, 413, 414, 415, 431,
    /// 501, 505, the 503 at the connection limit) once it is sent: the method and path as far as
    /// they were read (nil before them), the request ID the answer carried, its status and code.
    public var errorSent: (@Sendable (_ method: String?, _ path: String?, _ requestID: String, HTTPStatus, _ code: String) -> Void)?

    /// Fields added to the HTTP layer's own answers (its errors and `refuseEarly`'s), from the
    /// request's header fields as far as they were read (e.g. CORS headers for its Origin).
    public var errorHeaders: (@Sendable (HTTPHeaders) -> [(name: String, value: String)])?

    /// Body for errors raised by the HTTP layer itself; default is the OpenAI JSON error envelope.
    public var errorResponse: HTTPErrorResponder = { status, code, message, _ in
        HTTPResponse.jsonError(status: status, code: code, message: message)
    }

    public init() {}

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}

/// How an event loop learns that its sockets are ready.
public enum HTTPEventDelivery: Sendable {
    /// One read and one write `DispatchSource` per connection (portable). On Linux, libdispatch
    /// re-arms a source through its manager thread after every event, which costs a thread
    /// wake-up per request.
    case dispatchSources
    /// Linux: one edge-triggered epoll set per loop, watched by a single `DispatchSource`, so one
    /// wake-up serves every ready socket of the loop. Falls back to `dispatchSources` elsewhere.
    case epoll
}
