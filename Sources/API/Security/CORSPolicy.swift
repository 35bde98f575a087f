import HTTP

/// Cross-origin access for browser clients: allowed origins from the config
/// (none by default), preflight `OPTIONS` answered here, before authentication,
/// since browsers send no credentials on a preflight.
public struct CORSPolicy: Sendable {
    public var allowedOrigins: [String]     // exact origins, or "*"
    public var maxAge = 600

    public init(allowedOrigins: [String], maxAge: Int = 600) {
        self.allowedOrigins = allowedOrigins
        self.maxAge = maxAge
    }

    func allows(_ origin: String) -> Bool { allowedOrigins.contains("*") || allowedOrigins.contains(origin) }

    /// The headers an answer to a (non-preflight) request from `origin` carries; none for an
    /// origin that is not allowed. Also for answers given before the middleware runs.
    public func answerHeaders(origin: String?) -> [(name: String, value: String)] {
        guard !allowedOrigins.isEmpty, let origin, allows(origin) else { return [] }
        return [("Access-Control-Allow-Origin", allowedOrigins.contains("*") ? "*" : origin),
                ("Access-Control-Expose-Headers", "X-Request-Id, Retry-After"), ("Vary", "Origin")]
    }

    public var middleware: HTTPMiddleware {
        { request, responder, next in
            guard !allowedOrigins.isEmpty, let origin = request.headers["Origin"], allows(origin) else {
                return next(request, responder)
            }
            let allowOrigin = allowedOrigins.contains("*") ? "*" : origin
            if request.method == "OPTIONS", request.headers["Access-Control-Request-Method"] != nil {
                var h = HTTPHeaders()
                h.add(name: "Access-Control-Allow-Origin", value: allowOrigin)
                h.add(name: "Access-Control-Allow-Methods", value: "GET, POST, OPTIONS")
                let asked = request.headers["Access-Control-Request-Headers"] ?? ""
                h.add(name: "Access-Control-Allow-Headers", value: asked.isEmpty ? "Authorization, Content-Type" : asked)
                h.add(name: "Access-Control-Max-Age", value: String(maxAge))
                h.add(name: "Vary", value: "Origin")
                return responder.respond(HTTPResponse(status: .noContent, headers: h))
            }
            for h in answerHeaders(origin: origin) { responder.addHeader(name: h.name, value: h.value) }
            next(request, responder)
        }
    }
}
