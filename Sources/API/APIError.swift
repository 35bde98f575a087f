import HTTP

/// An error as the OpenAI API reports it: an HTTP status and the envelope
/// `{"error": {"message", "type", "param", "code"}}`. Every failure of a request
/// becomes one of these in one place, so no handler lets an error reach the transport.
/// The status and the envelope's `type` follow from the error's `Kind`, in one mapping.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong, as far as the client is concerned.
    public enum Kind: Sendable, Equatable, CaseIterable {
        case invalidRequest, authentication, permission, notFound, methodNotAllowed, timeout, payloadTooLarge,
             unsupportedMediaType, rateLimited, serverError, unavailable

        /// The one mapping from kind to HTTP status and OpenAI error type.
        public var statusAndType: (status: Int, type: String) {
            switch self {
            case .invalidRequest: return (400, "invalid_request_error")
            case .authentication: return (401, "authentication_error")
            case .permission: return (403, "permission_error")
            case .notFound: return (404, "invalid_request_error")
            case .methodNotAllowed: return (405, "invalid_request_error")
            case .timeout: return (408, "invalid_request_error")
            case .payloadTooLarge: return (413, "invalid_request_error")
            case .unsupportedMediaType: return (415, "invalid_request_error")
            case .rateLimited: return (429, "rate_limit_error")
            case .serverError: return (500, "server_error")
            case .unavailable: return (503, "service_unavailable")
            }
        }

        /// The kind of an error the HTTP layer reports by status (framing, limits, routing).
        public init(status: Int) {
            switch status {
            case 401: self = .authentication
            case 403: self = .permission
            case 404: self = .notFound
            case 405: self = .methodNotAllowed
            case 408: self = .timeout
            case 413: self = .payloadTooLarge
            case 415: self = .unsupportedMediaType
            case 429: self = .rateLimited
            case 503: self = .unavailable
            case 500...: self = .serverError
            default: self = .invalidRequest
            }
        }
    }

    public var kind: Kind
    public var message: String
    public var param: String?
    public var code: String?
    /// Seconds after which a retry may succeed (429, 503): sent as `Retry-After`.
    public var retryAfter: Int?
    /// Set only for an HTTP-layer status that has no kind of its own (e.g. 431), which keeps it.
    private var statusOverride: Int?

    public var status: Int { statusOverride ?? kind.statusAndType.status }
    public var type: String { kind.statusAndType.type }

    public init(_ kind: Kind, message: String, param: String? = nil, code: String? = nil, retryAfter: Int? = nil) {
        self.kind = kind
        self.message = message
        self.param = param
        self.code = code
        self.retryAfter = retryAfter
    }

    public var description: String { "\(status) \(type): \(message)" }

    public static func invalid(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(.invalidRequest, message: message, param: param, code: code)
    }

    /// A request the server ended before it finished, at a drain's deadline: a 503 the client
    /// can retry on another replica. One text for every endpoint, streamed or not.
    public static let serverEnded = APIError.unavailable(
        "The server ended this request before it finished (it is shutting down); retry it on another replica.", retryAfter: 1)

    public static func modelNotFound(_ model: String) -> APIError {
        APIError(.notFound, message: "The model `\(model)` does not exist.", param: "model", code: "model_not_found")
    }

    public static func notFound(_ message: String) -> APIError {
        APIError(.notFound, message: message, code: "not_found")
    }

    public static func unavailable(_ message: String, retryAfter: Int? = nil) -> APIError {
        APIError(.unavailable, message: message, code: "service_unavailable", retryAfter: retryAfter)
    }

    public static func queueFull(_ message: String) -> APIError {
        APIError(.rateLimited, message: message, code: "queue_full", retryAfter: 1)
    }

    public static func `internal`(_ message: String) -> APIError {
        APIError(.serverError, message: message, code: "internal_error")
    }

    public var json: JSON {
        ["error": ["message": .string(message), "type": .string(type), "param": JSON(param), "code": JSON(code)]]
    }

    public var response: HTTPResponse {
        var h = HTTPHeaders()
        h.add(name: "Content-Type", value: "application/json")
        if let r = retryAfter { h.add(name: "Retry-After", value: String(r)) }
        return HTTPResponse(status: HTTPStatus(status), headers: h, body: Array(json.serialized.utf8))
    }

    /// The envelope for an error the HTTP layer reports (framing, limits, routing).
    /// An error of the HTTP layer's in the envelope of the API whose route `path` is under
    /// (Anthropic's under /v1/messages, OpenAI's elsewhere).
    public static func transport(status: HTTPStatus, code: String, message: String, path: String? = nil) -> HTTPResponse {
        let kind = Kind(status: status.code)
        var e = APIError(kind, message: message, code: code)
        if kind.statusAndType.status != status.code { e.statusOverride = status.code }
        return e.response(anthropic: path.map(APIRoute.isAnthropic(path:)) ?? false)
    }
}

/// The chat checks run for the APIs said again as chat requests (Responses, Messages): their
/// errors name chat's fields, which each API names its own way.
extension APIError {
    /// This error with its fields named by `rename`: the param, and every field the message names
    /// in backquotes.
    func renamingFields(_ rename: (String) -> String) -> APIError {
        var out = self
        out.param = param.map(rename)
        let parts = message.split(separator: "`", omittingEmptySubsequences: false)
        out.message = parts.enumerated().map { i, part in i % 2 == 1 ? rename(String(part)) : String(part) }.joined(separator: "`")
        return out
    }
}

extension String {
    /// This field path with its leading field `prefix` (the whole of it, or followed by `.` or `[`)
    /// written as `with`; nil when it does not start with that field.
    func replacingField(_ prefix: String, with: String) -> String? {
        guard self == prefix || hasPrefix(prefix + ".") || hasPrefix(prefix + "[") else { return nil }
        return with + dropFirst(prefix.count)
    }
}
