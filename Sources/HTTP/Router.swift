/// A handler answers through the responder, now or later, from any thread.
public typealias HTTPHandler = @Sendable (HTTPRequest, HTTPResponder) -> Void

/// Wraps every request (routed, 404, 405, OPTIONS alike): call `next` to go on, or answer
/// directly to stop the chain (auth, CORS preflight, metrics).
public typealias HTTPMiddleware = @Sendable (HTTPRequest, HTTPResponder, _ next: @escaping HTTPHandler) -> Void

/// Method + path routing. Paths are literal (`/v1/models`) or patterns whose segments may be
/// `{name}` or `:name` (one segment captured into `pathParameters`) and whose last segment may
/// be `*` (any rest, captured as `"*"`) or `{name...}` (one or more segments, each decoded,
/// captured with their slashes: a model id such as `org/model` written unencoded). Literal
/// routes win over patterns; patterns match in registration order. Register everything before
/// the server starts.
///
/// Unknown path → 404; known path, other method → 405 with `Allow`; `HEAD` runs the `GET`
/// handler (the server drops the body); `OPTIONS` answers 204 with `Allow` unless routed.
// @unchecked Sendable: routes, middlewares and `fallback` are written only while registering,
// before the server starts (its start publishes them to the loops); requests only read them.
// Not locked: `handle` runs for every request.
public final class Router: @unchecked Sendable {
    private struct Route {
        enum Segment { case literal(String), parameter(String), restParameter(String), rest }
        let pattern: String
        let segments: [Segment]
        var handlers: [String: HTTPHandler]
    }

    private var literal: [String: Route] = [:]
    private var patterns: [Route] = []
    private var middlewares: [HTTPMiddleware] = []
    /// Answers requests whose path matches no route (default: the 404 error envelope).
    public var fallback: HTTPHandler?
    private let errorResponse: HTTPErrorResponder

    public init(errorResponse: @escaping HTTPErrorResponder = { status, code, message, _ in HTTPResponse.jsonError(status: status, code: code, message: message) }) {
        self.errorResponse = errorResponse
    }

    /// Registers `handler` for `method` (e.g. "GET") on `path`. A later registration replaces an earlier one.
    public func on(_ method: String, _ path: String, handler: @escaping HTTPHandler) {
        let segments = Self.split(path).map { part -> Route.Segment in
            if part == "*" { return .rest }
            if part.hasPrefix(":") { return .parameter(String(part.dropFirst())) }
            if part.hasPrefix("{") && part.hasSuffix("...}") && part.count > 5 { return .restParameter(String(part.dropFirst().dropLast(4))) }
            if part.hasPrefix("{") && part.hasSuffix("}") && part.count > 2 { return .parameter(String(part.dropFirst().dropLast())) }
            return .literal(String(part))
        }
        let isLiteral = segments.allSatisfy { if case .literal = $0 { return true } else { return false } }
        if isLiteral {
            literal[path, default: Route(pattern: path, segments: segments, handlers: [:])].handlers[method] = handler
        } else if let i = patterns.firstIndex(where: { $0.pattern == path }) {
            patterns[i].handlers[method] = handler
        } else {
            patterns.append(Route(pattern: path, segments: segments, handlers: [method: handler]))
        }
    }

    public func get(_ path: String, handler: @escaping HTTPHandler) { on("GET", path, handler: handler) }
    public func post(_ path: String, handler: @escaping HTTPHandler) { on("POST", path, handler: handler) }
    public func delete(_ path: String, handler: @escaping HTTPHandler) { on("DELETE", path, handler: handler) }

    /// Adds a middleware; the first added is the outermost.
    public func use(_ middleware: @escaping HTTPMiddleware) { middlewares.append(middleware) }

    /// The entry point the server calls for every request.
    public func handle(_ request: HTTPRequest, _ responder: HTTPResponder) {
        if middlewares.isEmpty { return dispatch(request, responder) }
        var next: HTTPHandler = { [unowned self] in self.dispatch($0, $1) }
        for middleware in middlewares.reversed() {
            let inner = next
            next = { middleware($0, $1, inner) }
        }
        next(request, responder)
    }

    /// Lets a `Router` be passed where an `HTTPHandler` is expected.
    public var handler: HTTPHandler { { [self] in handle($0, $1) } }

    private func dispatch(_ request: HTTPRequest, _ responder: HTTPResponder) {
        guard let (route, parameters) = match(request.path) else {
            if request.method == "OPTIONS" && request.path == "*" {
                // The server's methods (RFC 9110 §9.3.7): those some route answers.
                let all = Route(pattern: "*", segments: [], handlers: (literal.values + patterns).reduce(into: [:]) { methods, route in
                    for (method, handler) in route.handlers { methods[method] = handler }
                })
                return responder.respond(HTTPResponse(status: .noContent, headers: ["Allow": Self.allowed(all)]))
            }
            if let fallback { return fallback(request, responder) }
            return responder.respond(errorResponse(.notFound, "not_found", "No route for \(request.method) \(request.path).", request.path))
        }
        var request = request
        request.pathParameters = parameters
        if let handler = route.handlers[request.method] { return handler(request, responder) }
        if request.method == "HEAD", let handler = route.handlers["GET"] { return handler(request, responder) }
        let allow = Self.allowed(route)
        if request.method == "OPTIONS" {
            return responder.respond(HTTPResponse(status: .noContent, headers: ["Allow": allow]))
        }
        var response = errorResponse(.methodNotAllowed, "method_not_allowed", "Method \(request.method) is not allowed for \(request.path).", request.path)
        response.headers.replaceOrAdd(name: "Allow", value: allow)
        responder.respond(response)
    }

    private func match(_ path: String) -> (Route, [String: String])? {
        if let route = literal[path] { return (route, [:]) }
        if patterns.isEmpty { return nil }
        let parts = Self.split(path)
        outer: for route in patterns {
            var parameters: [String: String] = [:]
            var i = 0
            for segment in route.segments {
                switch segment {
                case .rest:
                    parameters["*"] = parts[min(i, parts.count)...].joined(separator: "/")
                    return (route, parameters)
                case .literal(let s):
                    guard i < parts.count, parts[i] == s else { continue outer }
                case .parameter(let name):
                    guard i < parts.count, !parts[i].isEmpty else { continue outer }
                    parameters[name] = HTTPRequest.percentDecode(Substring(parts[i]), plusAsSpace: false)
                case .restParameter(let name):
                    guard i < parts.count, !parts[i...].contains(where: \.isEmpty) else { continue outer }
                    parameters[name] = parts[i...].map { HTTPRequest.percentDecode(Substring($0), plusAsSpace: false) }.joined(separator: "/")
                    return (route, parameters)
                }
                i += 1
            }
            if i == parts.count { return (route, parameters) }
        }
        return nil
    }

    private static func split(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
    }

    private static func allowed(_ route: Route) -> String {
        var methods = Set(route.handlers.keys)
        if methods.contains("GET") { methods.insert("HEAD") }
        methods.insert("OPTIONS")
        let order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
        return (order.filter(methods.contains) + methods.subtracting(order).sorted()).joined(separator: ", ")
    }
}
