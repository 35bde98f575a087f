/// Why a request was rejected. Every parser error is fatal for the connection:
/// the server answers with `status`, closes, and never parses what follows.
public struct HTTPParserError: Error, Equatable, Sendable, CustomStringConvertible {
    public let status: HTTPStatus
    /// A short machine-readable code (used as `code` in the JSON error envelope).
    public let code: String
    public let message: String

    public init(_ status: HTTPStatus, _ code: String, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    public var description: String { "\(status.code) \(code): \(message)" }

    static func bad(_ code: String, _ message: String) -> HTTPParserError { .init(.badRequest, code, message) }
    static let notHTTP = HTTPParserError(.badRequest, "not_http", "Not an HTTP/1.x request (TLS sent to a plain-HTTP port?).")
    static let requestLineTooLong = HTTPParserError(.uriTooLong, "request_line_too_long", "Request line is too long.")
    static let headersTooLarge = HTTPParserError(.headerFieldsTooLarge, "headers_too_large", "Request header block is too large.")
    static let tooManyHeaders = HTTPParserError(.headerFieldsTooLarge, "too_many_headers", "Too many request header fields.")
    static let bodyTooLarge = HTTPParserError(.payloadTooLarge, "body_too_large", "Request body is too large.")
    static let versionNotSupported = HTTPParserError(.versionNotSupported, "version_not_supported", "HTTP version not supported.")
    static let unsupportedTransferCoding = HTTPParserError(.notImplemented, "unsupported_transfer_encoding", "Transfer coding not implemented.")
    static let expectationFailed = HTTPParserError(.expectationFailed, "expectation_failed", "Unsupported expectation.")
}

/// Size limits enforced while parsing, and the methods recognized; all configurable through
/// `HTTPServerConfiguration`.
public struct HTTPParserLimits: Sendable {
    /// The methods the server recognizes: any other is refused with 501 (RFC 9110 §15.6.2: not
    /// implemented for any resource; names are case-sensitive, §9.1). A recognized method no route
    /// answers still reaches the router for its 404 or 405 (a 5xx there would make clients such
    /// as the OpenAI SDKs retry a DELETE they cannot get).
    public var methods: Set<String> = Self.standardMethods
    /// RFC 9110 §9's methods and PATCH (RFC 5789).
    public static let standardMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]
    /// Longest request line (method, target, version) → 414.
    public var maxRequestLineLength = 8 * 1024
    /// Whole header block (and, separately, the trailer block) → 431.
    public var maxHeaderBytes = 32 * 1024
    /// Number of header fields (and trailer fields) → 431.
    public var maxHeaderCount = 100
    /// Body bytes on the wire, de-chunked → 413.
    public var maxBodyBytes = 4 * 1024 * 1024
    /// A chunk-size line with its extensions → 400.
    public var maxChunkLineLength = 4 * 1024

    public init() {}
}
