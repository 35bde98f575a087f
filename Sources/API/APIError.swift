import HTTP

/// An error as the OpenAI API reports it: an HTTP status and the envelope
/// `{"error": {"message", "type", "param", "code"}}`. Every failure of a request
/// becomes one of these in one place, so no handler lets an error reach the transport.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
    public var status: Int
    public var type: String
    public var message: String
    public var param: String?
    public var code: String?
    /// Seconds after which a retry may succeed (429, 503): sent as `Retry-After`.
    public var retryAfter: Int?

    public init(status: Int, type: String, message: String, param: String? = nil, code: String? = nil,
                retryAfter: Int? = nil) {
        self.status = status
        self.type = type
        self.message = message
        self.param = param
        self.code = code
        self.retryAfter = retryAfter
    }

    public var description: String { "\(status) \(type): \(message)" }

    public static func invalid(_ message: String, param: String? = nil, code: String? = nil) -> APIError {
        APIError(status: 400, type: "invalid_request_error", message: message, param: param, code: code)
    }

    public static func modelNotFound(_ model: String) -> APIError {
        APIError(status: 404, type: "invalid_request_error",
                 message: "The model `\(model)` does not exist.", param: "model", code: "model_not_found")
    }

    public static func notFound(_ message: String) -> APIError {
        APIError(status: 404, type: "invalid_request_error", message: message, code: "not_found")
    }

    public static func unavailable(_ message: String, retryAfter: Int? = nil) -> APIError {
        APIError(status: 503, type: "service_unavailable", message: message, code: "service_unavailable",
                 retryAfter: retryAfter)
    }

    public static func `internal`(_ message: String) -> APIError {
        APIError(status: 500, type: "server_error", message: message, code: "internal_error")
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
    public static func transport(status: HTTPStatus, code: String, message: String) -> HTTPResponse {
        let type: String
        switch status.code {
        case 401: type = "authentication_error"
        case 404, 405: type = "invalid_request_error"
        case 429: type = "rate_limit_error"
        case 500...: type = "server_error"
        default: type = "invalid_request_error"
        }
        return APIError(status: status.code, type: type, message: message, code: code).response
    }
}
