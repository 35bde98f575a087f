import HTTP

/// Cross-origin access for browser clients: allowed origins from the config
/// (none by default), preflight `OPTIONS` answered here, before authentication,
/// since browsers send no credentials on a preflight.
public struct CORSPolicy: Sendable {
    public var allowedOrigins: [String]     // normalized origins, or "*"
    public var maxAge = 600

    public struct InvalidOrigin: Error, CustomStringConvertible {
        public let value: String
        public var description: String {
            "cors.allowed_origins: \"\(value)\" is not an origin (scheme://host[:port], e.g. https://app.example.com) or *"
        }
    }

    /// Origins are compared as browsers send them: scheme and host in lower case, no default
    /// port, no path; a trailing slash is forgiven. Anything else is refused, so a typo cannot
    /// silently turn CORS off.
    public init(allowedOrigins: [String], maxAge: Int = 600) throws {
        self.allowedOrigins = try allowedOrigins.map { o in
            if o == "*" { return o }
            guard let n = Self.normalized(o.hasSuffix("/") ? String(o.dropLast()) : o) else { throw InvalidOrigin(value: o) }
            return n
        }
        self.maxAge = maxAge
    }

    /// `scheme://host[:port]` in the form browsers send it, or nil if `origin` is not one.
    static func normalized(_ origin: String) -> String? {
        guard let sep = origin.range(of: "://") else { return nil }
        let scheme = origin[..<sep.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { return nil }
        var authority = origin[sep.upperBound...].lowercased()
        guard !authority.isEmpty, !authority.contains(where: { "/?#@ \t".contains($0) }) else { return nil }
        if authority.hasSuffix(scheme == "https" ? ":443" : ":80") { authority = String(authority.dropLast(scheme == "https" ? 4 : 3)) }
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            guard let port = Int(authority[authority.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        }
        return "\(scheme)://\(authority)"
    }

    private var wildcard: Bool { allowedOrigins.contains("*") }

    func allows(_ origin: String) -> Bool {
        wildcard || Self.normalized(origin).map(allowedOrigins.contains) == true
    }

    /// The headers an answer to a (non-preflight) request from `origin` carries: for an allowed
    /// origin, the CORS headers; for any other request, while the list names origins, only
    /// `Vary: Origin`, so a shared cache never hands one origin's answer to another. Also for
    /// answers given before the middleware runs (early refusals, the HTTP layer's errors).
    public func answerHeaders(origin: String?) -> [(name: String, value: String)] {
        guard !allowedOrigins.isEmpty else { return [] }
        guard let origin, allows(origin) else { return wildcard ? [] : [("Vary", "Origin")] }
        return [("Access-Control-Allow-Origin", wildcard ? "*" : origin),
                ("Access-Control-Expose-Headers", "X-Request-Id, Retry-After")] + (wildcard ? [] : [("Vary", "Origin")])
    }

    public var middleware: HTTPMiddleware {
        { request, responder, next in
            guard !allowedOrigins.isEmpty else { return next(request, responder) }
            let origin = request.headers["Origin"]
            if let origin, allows(origin), request.method == "OPTIONS", request.headers["Access-Control-Request-Method"] != nil {
                var h = HTTPHeaders()
                h.add(name: "Access-Control-Allow-Origin", value: wildcard ? "*" : origin)
                h.add(name: "Access-Control-Allow-Methods", value: "GET, POST, DELETE, OPTIONS")
                let asked = request.headers["Access-Control-Request-Headers"] ?? ""
                h.add(name: "Access-Control-Allow-Headers", value: asked.isEmpty ? "Authorization, Content-Type, x-api-key, anthropic-version" : asked)
                h.add(name: "Access-Control-Max-Age", value: String(maxAge))
                if !wildcard { h.add(name: "Vary", value: "Origin") }
                return responder.respond(HTTPResponse(status: .noContent, headers: h))
            }
            for h in answerHeaders(origin: origin) { responder.addHeader(name: h.name, value: h.value) }
            next(request, responder)
        }
    }
}
