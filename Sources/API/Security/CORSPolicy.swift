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
            responder.addHeader(name: "Access-Control-Allow-Origin", value: allowOrigin)
            responder.addHeader(name: "Access-Control-Expose-Headers", value: "X-Request-Id, Retry-After")
            responder.addHeader(name: "Vary", value: "Origin")
            next(request, responder)
        }
    }
}
