import Foundation
import HTTP
import Synchronization

/// Authentication and per-key limits in front of the API. Operational paths
/// stay public unless configured otherwise.
public final class Gatekeeper: Sendable {
    public let keys: APIKeyStore
    public let limiter: RateLimiter?
    public let publicPaths: Set<String>
    private let admitted = Mutex<[String: String]>([:])  // request id → key name

    public init(keys: APIKeyStore, limiter: RateLimiter?, publicPaths: Set<String>) {
        self.keys = keys
        self.limiter = limiter
        self.publicPaths = publicPaths
    }

    /// The key name a request authenticates as (for logs and metrics).
    public func keyName(_ request: HTTPRequest) -> String? {
        keys.isEnabled ? keys.name(in: request.headers) : nil
    }

    /// Call when any request has ended, with the tokens it used; admitted ones are released.
    public func finished(requestID: String, tokens: Int) {
        guard let key = admitted.withLock({ $0.removeValue(forKey: requestID) }) else { return }
        limiter?.finish(key, tokens: tokens)
    }

    /// The 401 a request gets without a valid key where one is needed, else nil. From the head
    /// alone, so the HTTP layer can refuse a large or `100-continue` body before reading it
    /// (`HTTPServerConfiguration.refuseEarly`); the middleware gives the same answer.
    public func refusal(method: String, path: String, headers: HTTPHeaders) -> HTTPResponse? {
        if case let .refused(r) = check(method: method, path: path, headers: headers) { return r }
        return nil
    }

    /// What a request's key decides: nothing (no key needed), the key's name, or the 401.
    private enum Verdict { case open, key(String), refused(HTTPResponse) }

    private func check(method: String, path: String, headers: HTTPHeaders) -> Verdict {
        // OPTIONS without a key is refused like every method (its `Allow` would list the routes):
        // a preflight from an allowed origin is answered before this, by the CORS middleware.
        guard keys.isEnabled, !publicPaths.contains(path) else { return .open }
        if let name = keys.name(in: headers) { return .key(name) }
        let message = APIKeyStore.credentials(headers).isEmpty
            ? "You didn't provide an API key. Send it as `Authorization: Bearer YOUR_KEY` (or `x-api-key: YOUR_KEY`)."
            : "Incorrect API key provided."
        var r = APIError(.authentication, message: message, code: "invalid_api_key").response(anthropic: APIRoute.isAnthropic(path: path))
        r.headers.add(name: "WWW-Authenticate", value: "Bearer")
        return .refused(r)
    }

    public var middleware: HTTPMiddleware {
        { [self] request, responder, next in
            let name: String
            switch check(method: request.method, path: request.path, headers: request.headers) {
            case .open: return next(request, responder)
            case .refused(let r): return responder.respond(r)
            case .key(let n): name = n
            }
            if let limiter {
                switch limiter.admit(name) {
                case .admitted: admitted.withLock { $0[responder.requestID] = name }
                case let .limited(retryAfter, message):
                    var r = APIError(.rateLimited, message: message, code: "rate_limit_exceeded")
                        .response(anthropic: APIRoute.isAnthropic(path: request.path))
                    r.headers.add(name: "Retry-After", value: String(retryAfter))
                    return responder.respond(r)
                }
            }
            next(request, responder)
        }
    }
}
