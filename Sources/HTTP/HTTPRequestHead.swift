/// The part of a request the parser hands over once the header block is complete and valid.
public struct HTTPRequestHead: Sendable {
    /// How the body is delimited (RFC 9112 §6.3), decided once from the headers.
    public enum BodyFraming: Equatable, Sendable {
        case none
        case length(Int)
        case chunked
    }

    public var method: String
    /// The request-target exactly as sent (origin-form, absolute-form or `*`).
    public var target: String
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    public var framing: BodyFraming
    /// Keep-alive per RFC 9112 §9.3: default in 1.1 unless `close`, opt-in in 1.0.
    public var keepAlive: Bool
    /// `Expect: 100-continue` on a 1.1 request that has a body.
    public var expectContinue: Bool
    /// A Content-Length over the body limit: the parser's next event is the 413, after this head,
    /// so the server can answer a refusal decided from the head (a missing API key) instead.
    public var bodyTooLarge = false
}
