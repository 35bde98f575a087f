import HTTP

/// Errors on Anthropic's Messages API routes, in Anthropic's envelope
/// `{"type": "error", "error": {"type", "message"}}`: same status, same message (its fields in
/// backquotes name the request's), the type Anthropic gives that status.
extension APIError {
    /// Anthropic's error type for this error's status.
    var anthropicType: String {
        switch status {
        case 401: return "authentication_error"
        case 403: return "permission_error"
        case 404: return "not_found_error"
        case 413: return "request_too_large"
        case 429: return "rate_limit_error"
        case 503, 529: return "overloaded_error"
        case 500...: return "api_error"
        default: return "invalid_request_error"
        }
    }

    var anthropicJSON: JSON {
        ["type": "error", "error": ["type": .string(anthropicType), "message": .string(message)]]
    }

    /// The response in the envelope of the API the route belongs to.
    public func response(anthropic: Bool) -> HTTPResponse {
        guard anthropic else { return response }
        var r = response
        r.body = Array(anthropicJSON.serialized.utf8)
        return r
    }
}
