import API
import Dispatch
import Engine
import Foundation
import GGUF
import Kernels
import HTTP
import Logging
import Model
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Wires the pieces. The HTTP server starts first (so /health and /ready answer
/// while the models load), then each model (its engine, or its embedding batcher),
/// then the API answers, routing each request to the model it names.
/// SIGTERM/SIGINT drain: /ready turns 503, new work gets 503, running requests
/// finish until the drain deadline, then the process exits 0.
final class ServerApp: Sendable {
    static let version = "0.1.0"
    /// Where API request bodies are handled (concurrent: one heavy schema holds up no other request).
    /// Its own QoS, so its own pool of threads: on Linux a pool has a thread a core, and compiles
    /// filling the userInitiated one stalled every stream's tokens (`GenerationJob`'s output) and
    /// the engine's grammar masks.
    static let requestWork = DispatchQueue(label: "jeton.requests", qos: .utility, attributes: .concurrent)

    /// A request's work runs at a lower priority (nice 10) than the forward passes, so a schema's
    /// compile on every core does not stretch the running streams' steps. (Only `requestWork` uses
    /// its QoS's threads; a syscall a request. On Linux the nice value is the calling thread's.)
    static func yieldToEngine() {
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
    }

    let config: JetonConfig
    /// The models to serve, in order, each with its settings filled in and its file found.
    let plans: [ModelPlan]
    let logger: Logger
    let http: HTTPServerConfiguration

    struct ModelPlan: Sendable {
        var spec: ModelSpec
        var path: String
    }

    /// A served model, once loaded: what /health, /metrics and the drain look at.
    struct Loaded: Sendable {
        var id: String
        var kind: ModelTable.Kind
        var engine: Engine?
        var batcher: EmbeddingBatcher?
        var metrics: ModelMetrics?
    }

    /// What comes to exist while the server runs (the models load after the server starts),
    /// read by the handlers on the event loops and by the signal handlers.
    struct State {
        /// Set once every model is loaded: the API answers from then on.
        var router: ModelRouter?
        var loaded: [Loaded] = []
        var metrics: ServerMetrics?
        var accessLog: AccessLog?
        var draining = false
        var server: HTTPServer?
    }
    let state = Mutex(State())
    /// Only keeps the signal sources alive: appended by `installSignals` (once, in `start()`),
    /// never read. Not in `state`: dispatch sources are not Sendable.
    private nonisolated(unsafe) var signalSources: [DispatchSourceSignal] = []
    let gatekeeper: Gatekeeper
    /// The Responses API's kept answers, shared by every model.
    let responseStore: ResponseStore

    init(config c: JetonConfig) throws {
        config = c
        LogSetup.bootstrap(format: c[\.loggingFormat], level: c[\.loggingLevel])
        logger = Logger(label: "jeton")
        let store = ModelStore()
        plans = try c.servedModels.map { ModelPlan(spec: $0, path: try store.resolve($0.path)) }
        http = Self.httpConfiguration(c)
        let keys = try APIKeyStore(keys: c[\.authAPIKeys], file: c[\.authKeyFile])
        let limits = RateLimiter.Limits(requestsPerMinute: c[\.rateLimitsRequestsPerMinute],
                                        tokensPerMinute: c[\.rateLimitsTokensPerMinute],
                                        maxConcurrent: c[\.rateLimitsMaxConcurrent])
        guard !limits.isEnabled || keys.isEnabled else {
            throw JetonConfig.Failure(description: "rate_limits are per API key: configure auth.api_keys or auth.key_file too")
        }
        var open: Set<String> = c[\.authProtectOperations] ? [] : ["/health", "/ready", "/metrics", "/version"]
        // The playground page is static and holds no secret: it asks for the key itself.
        if c[\.serverPlayground] { open.insert("/") }
        // With admin keys the routes check them themselves (ServerApp+Lora.swift); without, they
        // are behind the API keys like the others (their 403 names the settings that are missing).
        if !c[\.authAdminKeys].isEmpty { open.formUnion(Self.loraAdminPaths) }
        gatekeeper = Gatekeeper(keys: keys, limiter: limits.isEnabled ? RateLimiter(limits: limits) : nil, publicPaths: open)
        responseStore = ResponseStore(capacityBytes: c[\.serverResponseStoreBytes],
                                      identity: { [keys] in keys.identity(in: $0.headers) })
    }

    /// The HTTP server's settings, from the configuration (one for every model).
    static func httpConfiguration(_ c: JetonConfig) -> HTTPServerConfiguration {
        var h = HTTPServerConfiguration(host: c[\.serverHost], port: c[\.serverPort])
        h.backlog = Int32(c[\.serverBacklog])
        h.loopCount = c[\.serverEventLoops] > 0 ? c[\.serverEventLoops] : CPUBudget.cpus
        h.maxConnections = c[\.serverMaxConnections]
        // Liveness holds at the limit (busy is not dead); /ready gives the 503, shedding load.
        h.pathsAnsweredAtLimit = ["/health"]
        h.limits.maxRequestLineLength = c[\.serverMaxRequestLineBytes]
        h.limits.maxHeaderBytes = c[\.serverMaxHeaderBytes]
        h.limits.maxHeaderCount = c[\.serverMaxHeaderFields]
        h.limits.maxBodyBytes = c[\.serverMaxBodyBytes]
        h.maxInflatedBodyBytes = c[\.serverMaxBodyBytes]
        h.headerTimeout = c[\.serverHeaderTimeout]
        h.bodyTimeout = c[\.serverBodyTimeout]
        h.idleTimeout = c[\.serverIdleTimeout]
        h.writeTimeout = c[\.serverWriteTimeout]
        h.maxResponseBufferBytes = c[\.serverMaxResponseBufferBytes]
        h.gzipEnabled = c[\.serverGzip]
        if c[\.serverEventDelivery] == "epoll" { h.eventDelivery = .epoll }
        if !c[\.tlsCert].isEmpty {
            h.tlsCertificatePath = c[\.tlsCert]
            h.tlsKeyPath = c[\.tlsKey]
        }
        h.errorResponse = { APIError.transport(status: $0, code: $1, message: $2, path: $3) }
        return h
    }

    func start() throws {
        let router = Router(errorResponse: { APIError.transport(status: $0, code: $1, message: $2, path: $3) })
        let gate = gatekeeper
        let access = AccessLog(logger: logger, metrics: nil, enabled: config[\.loggingAccessLog],
                               onComplete: { gate.finished(requestID: $0, tokens: $1) })
        router.use(access.middleware(keyName: { gate.keyName($0) }))
        let cors = try CORSPolicy(allowedOrigins: config[\.corsAllowedOrigins], maxAge: config[\.corsMaxAge])
        router.use(cors.middleware)
        router.use(gate.middleware)
        state.withLock { $0.accessLog = access }
        registerOperations(on: router)
        // API routes exist from the start and answer 503 until every model is ready.
        for route in APIRoute.allCases {
            router.on(route.method, route.path) { [self] req, res in
                let (current, isDraining) = state.withLock { ($0.router, $0.draining) }
                guard let current, !isDraining else {
                    res.respond(APIError.unavailable(isDraining ? "the server is draining; retry on another replica"
                                                                : plans.count == 1 ? "the model is loading" : "the models are loading",
                                                     retryAfter: 1).response(anthropic: route.isAnthropic))
                    return
                }
                // A body's work (its JSON, a prompt's tokens, a schema's grammar: up to the compile
                // budget) runs off the event loop, whose other connections (/health, streams) it
                // would hold up; the responder answers from any thread.
                let answer: @Sendable () -> Void = { current.handle(route, req, res) { access.routed(res.requestID, model: $0) } }
                guard route.method == "POST" else { return answer() }
                Self.requestWork.async {
                    // A client gone while its body waited for a thread: no parse, no grammar, no job.
                    guard !res.isCancelled else { return }
                    Self.yieldToEngine()
                    answer()
                }
            }
        }
        var transport = http
        transport.errorResponse = { [self] status, code, message, path in
            state.withLock { $0.metrics }?.httpRejected(status: status.code, code: code)
            return APIError.transport(status: status, code: code, message: message, path: path)
        }
        // Without a valid key a large or 100-continue body is refused unread (counted as the HTTP
        // layer's refusals are: it never reaches a route).
        transport.refuseEarly = { [self] head in
            guard let answer = gate.refusal(method: head.method, path: head.path, headers: head.headers) else { return nil }
            state.withLock { $0.metrics }?.httpRejected(status: answer.status.code, code: "invalid_api_key")
            return answer
        }
        // The HTTP layer's own answers (the early 401, a 413, a 400 on framing…) carry the CORS
        // headers, so a browser app sees the status rather than an opaque network error.
        transport.errorHeaders = { headers in cors.answerHeaders(origin: headers["Origin"]) }
        transport.refusalSent = { head, requestID, status in
            access.refused(requestID, method: head.method, path: head.path, status: status.code)
        }
        transport.errorSent = { method, path, requestID, status, code in
            access.rejected(requestID, method: method, path: path, status: status.code, code: code)
        }
        let server = HTTPServer(configuration: transport, router: router)
        // Stored under the lock before it accepts: /metrics reads it from an event loop.
        state.withLock { $0.server = server }
        try server.start()
        let scheme = http.tlsCertificatePath == nil ? "http" : "https"
        // An IPv6 address goes in brackets in a URL (RFC 3986 §3.2.2).
        let host = http.host.contains(":") ? "[\(http.host)]" : http.host
        logger.notice("jeton \(Self.version) listening on \(scheme)://\(host):\(server.port)")
        if gatekeeper.keys.isEnabled { logger.notice("API keys required (\(gatekeeper.keys.count) configured)") }
        installSignals()
        DispatchQueue.global().async { [self] in
            do { try loadModels(access: access) } catch {
                logger.critical("cannot load the models: \(error)")
                exit(1)
            }
        }
    }

    private func registerOperations(on router: Router) {
        router.get("/health") { [self] _, r in
            // Liveness: the process answers, and each loaded model's engine loop is alive.
            let (body, alive) = health()
            r.respond(alive ? .json(body) : HTTPResponse.json(body, status: .serviceUnavailable))
        }
        router.get("/ready") { [self] _, r in
            let (loaded, isDraining) = state.withLock { ($0.router != nil, $0.draining) }
            if isDraining { r.respond(APIError.unavailable("draining").response) }
            else if !loaded { r.respond(APIError.unavailable(plans.count == 1 ? "the model is loading" : "the models are loading").response) }
            else { r.respond(.json(["status": "ready"])) }
        }
        router.get("/version") { [self] _, r in
            let ids = state.withLock { $0.loaded.map(\.id) }
            r.respond(.json(["version": .string(Self.version), "model": JSON(ids.first),
                             "models": .array(ids.map(JSON.string))]))
        }
        if config[\.serverPlayground] {
            router.get("/") { _, r in r.respond(PlaygroundPage.response) }
        }
        if config[\.metricsEnabled] {
            router.get("/metrics") { [self] _, r in
                let (m, loaded, srv) = state.withLock { ($0.metrics, $0.loaded, $0.server) }
                var h = HTTPHeaders()
                h.add(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8")
                let engines = loaded.compactMap { l in l.metrics.flatMap { m in l.engine.map { (m, $0.snapshot()) } } }
                let text = m?.scrape(engines: engines, connections: srv?.connectionCount ?? 0, keptResponses: responseStore.usage) ?? ""
                r.respond(HTTPResponse(status: .ok, headers: h, body: Array(text.utf8)))
            }
        }
    }

    /// /health: each model (loading, ready, or stopped when its engine loop has ended), and
    /// whether all that are loaded are alive.
    private func health() -> (JSON, Bool) {
        let loaded = state.withLock { $0.loaded }
        var alive = true
        var models: [JSON] = []
        for (i, plan) in plans.enumerated() {
            guard i < loaded.count else {
                models.append(["id": .null, "path": .string(plan.spec.path), "kind": .null, "state": "loading"])
                continue
            }
            let l = loaded[i]
            let up = l.engine?.snapshot().loopAlive ?? true
            alive = alive && up
            models.append(["id": .string(l.id), "path": .string(plan.spec.path), "kind": .string(l.kind.rawValue),
                           "state": up ? "ready" : "stopped"])
        }
        return (["status": alive ? "ok" : "unavailable", "models": .array(models)], alive)
    }

    private func installSignals() {
        signal(SIGHUP, SIG_IGN)
        let hup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hup.setEventHandler { [self] in
            do {
                try gatekeeper.keys.reload()
                logger.notice("API keys reloaded: \(gatekeeper.keys.count) configured")
            } catch { logger.error("API keys not reloaded: \(error)") }
            // A rotated certificate (cert-manager, Let's Encrypt): new connections take it.
            if !config[\.tlsCert].isEmpty, let server = state.withLock({ $0.server }) {
                do {
                    try server.reloadTLS()
                    logger.notice("TLS certificate and key reloaded")
                } catch { logger.error("TLS certificate not reloaded (the old one stays): \(error)") }
            }
        }
        hup.resume()
        signalSources.append(hup)
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            src.setEventHandler { [self] in onSignal() }
            src.resume()
            signalSources.append(src)
        }
    }

    /// First signal: refuse new work, let what runs finish, exit 0. Second: exit at once.
    private func onSignal() {
        let again = state.withLock { s -> Bool in
            defer { s.draining = true }
            return s.draining
        }
        if again {
            logger.warning("second signal: stopping now")
            exit(1)
        }
        let limit = config[\.serverDrainTimeout]
        logger.notice("draining: in-flight requests get up to \(limit) s")
        DispatchQueue.global().async { [self] in
            let deadline = Date().addingTimeInterval(limit)
            // Idle keep-alive connections close now and every answer from here on ends its
            // connection, so clients and proxies reconnect to another replica.
            state.withLock { $0.server }?.beginDrain()
            // Wait until no request is open (a stream counts until its last token is
            // out) and no engine or batcher has anything left, then let the last bytes go out.
            let access = state.withLock { $0.accessLog }
            while Date() < deadline {
                let loaded = state.withLock { $0.loaded }
                let busy = loaded.reduce(0) { n, l in
                    let s = l.engine?.snapshot()
                    return n + (s?.running ?? 0) + (s?.waiting ?? 0) + (l.batcher?.waiting ?? 0)
                }
                if (access?.inFlight ?? 0) == 0 && busy == 0 { break }
                usleep(50_000)
            }
            let open = access?.inFlight ?? 0
            logger.notice("drain: \(open) requests still open at the end")
            if open > 0 {
                // Past the deadline: end what still runs in the engines, so each stream gets an
                // error event and [DONE] rather than a cut connection (a whole answer a 503), and
                // give those bytes a moment before the server closes.
                let loaded = state.withLock({ $0.loaded })
                for l in loaded {
                    l.engine?.shutdown()
                    l.batcher?.shutdown()
                }
                // A forward pass under way ends first (a long prompt's step or an embedding batch
                // can take seconds): its requests' 503s are written only then, and closing the
                // connections before lost them (an empty reply, logged as 499). Bounded, should a
                // pass never end.
                let passEnd = Date().addingTimeInterval(30)
                while Date() < passEnd, loaded.contains(where: { ($0.engine?.snapshot().loopAlive ?? false) || !($0.batcher?.hasEnded ?? true) }) {
                    usleep(20_000)
                }
                let flush = Date().addingTimeInterval(1)
                while Date() < flush, (access?.inFlight ?? 0) > 0 { usleep(20_000) }
            }
            let rest = max(0.5, deadline.timeIntervalSinceNow)
            state.withLock { $0.server }?.stop(timeout: min(rest, 5))
            for l in state.withLock({ $0.loaded }) {
                l.engine?.shutdown()
                l.batcher?.shutdown()
            }
            logger.notice("drained; exiting")
            exit(0)
        }
    }
}
