/// A whole response. The server adds Date, Server, X-Request-Id, Content-Length and
/// Connection itself; values set here for those fields are ignored.
public struct HTTPResponse: Sendable {
    public var status: HTTPStatus
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(status: HTTPStatus = .ok, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public init(status: HTTPStatus = .ok, contentType: String, body: String) {
        self.init(status: status, headers: ["Content-Type": contentType], body: Array(body.utf8))
    }

    /// The default error body: the OpenAI-style JSON envelope the API layer uses for every 4xx/5xx.
    public static func jsonError(status: HTTPStatus, code: String, message: String) -> HTTPResponse {
        let type = status.code >= 500 ? "server_error" : "invalid_request_error"
        let json = "{\"error\":{\"message\":\(jsonString(message)),\"type\":\"\(type)\",\"param\":null,\"code\":\(jsonString(code))}}"
        return HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: Array(json.utf8))
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// Builds the response for errors the HTTP layer produces itself (framing errors, limits,
/// timeouts, 404/405): status, a short machine code such as `body_too_large`, a message, and the
/// request's path when it was read (so an API can answer in its own envelope under its routes).
public typealias HTTPErrorResponder = @Sendable (_ status: HTTPStatus, _ code: String, _ message: String, _ path: String?) -> HTTPResponse
