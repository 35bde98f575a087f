import API
import Dispatch
import Engine
import Foundation
import GGUF
import Kernels
import HTTP
import Logging
import Model

#if canImport(Glibc)
import Glibc
#endif

/// Wires the pieces. The HTTP server starts first (so /health and /ready answer
/// while the model loads), then the model and the engine, then the API answers.
/// SIGTERM/SIGINT drain: /ready turns 503, new work gets 503, running requests
/// finish until the drain deadline, then the process exits 0.
final class ServerApp: @unchecked Sendable {
    static let version = "0.1.0"

    let config: JetonConfig
    let modelPath: String
    let logger: Logger
    let http: HTTPServerConfiguration
    private let lock = NSLock()
    private var api: OpenAIAPI?
    /// Set instead of `api` when the model is an embedding model (EmbeddingsAPI answers then).
    private var embeddingAPI: EmbeddingsAPI?
    private var embeddingBatcher: EmbeddingBatcher?
    private var engine: Engine?
    private var metrics: ServerMetrics?
    private var accessLog: AccessLog?
    private var modelName: String?
    private var draining = false
    private var server: HTTPServer?
    private var signalSources: [DispatchSourceSignal] = []
    let gatekeeper: Gatekeeper

    init(config c: JetonConfig) throws {
        config = c
        LogSetup.bootstrap(format: c.string("logging.format"), level: c.string("logging.level"))
        logger = Logger(label: "jeton")
        modelPath = try ModelStore().resolve(c.string("model.path"))
        var h = HTTPServerConfiguration(host: c.string("server.host"), port: c.int("server.port"))
        h.backlog = Int32(c.int("server.backlog"))
        if c.int("server.event_loops") > 0 { h.loopCount = c.int("server.event_loops") }
        h.maxConnections = c.int("server.max_connections")
        h.limits.maxRequestLineLength = c.int("server.max_request_line_bytes")
        h.limits.maxHeaderBytes = c.int("server.max_header_bytes")
        h.limits.maxHeaderCount = c.int("server.max_header_fields")
        h.limits.maxBodyBytes = c.int("server.max_body_bytes")
        h.maxInflatedBodyBytes = c.int("server.max_body_bytes")
        h.headerTimeout = c.double("server.header_timeout")
        h.bodyTimeout = c.double("server.body_timeout")
        h.idleTimeout = c.double("server.idle_timeout")
        h.writeTimeout = c.double("server.write_timeout")
        h.maxResponseBufferBytes = c.int("server.max_response_buffer_bytes")
        h.gzipEnabled = c.bool("server.gzip")
        if c.string("server.event_delivery") == "epoll" { h.eventDelivery = .epoll }
        if !c.string("tls.cert").isEmpty {
            h.tlsCertificatePath = c.string("tls.cert")
            h.tlsKeyPath = c.string("tls.key")
        }
        h.errorResponse = { APIError.transport(status: $0, code: $1, message: $2) }
        http = h
        let keys = try APIKeyStore(keys: c.list("auth.api_keys"), file: c.string("auth.key_file"))
        let limits = RateLimiter.Limits(requestsPerMinute: c.int("rate_limits.requests_per_minute"),
                                        tokensPerMinute: c.int("rate_limits.tokens_per_minute"),
                                        maxConcurrent: c.int("rate_limits.max_concurrent"))
        guard !limits.isEnabled || keys.isEnabled else {
            throw JetonConfig.Failure(description: "rate_limits are per API key: configure auth.api_keys or auth.key_file too")
        }
        var open: Set<String> = c.bool("auth.protect_operations") ? [] : ["/health", "/ready", "/metrics", "/version"]
        // The playground page is static and holds no secret: it asks for the key itself.
        if c.bool("server.playground") { open.insert("/") }
        gatekeeper = Gatekeeper(keys: keys, limiter: limits.isEnabled ? RateLimiter(limits: limits) : nil, publicPaths: open)
    }

    private var threads: Int {
        let t = config.int("model.threads")
        return t > 0 ? t : ProcessInfo.processInfo.activeProcessorCount
    }

    func start() throws {
        let router = Router(errorResponse: { APIError.transport(status: $0, code: $1, message: $2) })
        let access = AccessLog(logger: logger, metrics: nil, enabled: config.bool("logging.access_log"))
        let gate = gatekeeper
        access.onComplete = { gate.finished(requestID: $0, tokens: $1) }
        router.use(access.middleware(keyName: { gate.keyName($0) }))
        router.use(CORSPolicy(allowedOrigins: config.list("cors.allowed_origins"), maxAge: config.int("cors.max_age")).middleware)
        router.use(gate.middleware)
        lock.withLock { accessLog = access }
        registerOperations(on: router)
        // API routes exist from the start and answer 503 until the model is ready.
        for (method, path) in OpenAIAPI.routeNames + EmbeddingsAPI.routeNames {
            router.on(method, path) { [self] req, res in
                let (current, embeddings, name, isDraining) = lock.withLock { (api, embeddingAPI, modelName, draining) }
                if let embeddings, !isDraining {
                    embeddings.handle(method: method, path: path, req, res)
                    return
                }
                if current != nil, !isDraining, path == "/v1/embeddings" {
                    res.respond(EmbeddingsAPI.notAnEmbeddingModel(name ?? "").response)
                    return
                }
                guard let current, !isDraining else {
                    res.respond(APIError.unavailable(isDraining ? "the server is draining; retry on another replica"
                                                                : "the model is loading", retryAfter: 1).response)
                    return
                }
                current.handle(method: method, path: path, req, res)
            }
        }
        let server = HTTPServer(configuration: http, router: router)
        // Stored under the lock before it accepts: /metrics reads it from an event loop.
        lock.withLock { self.server = server }
        try server.start()
        let scheme = http.tlsCertificatePath == nil ? "http" : "https"
        logger.notice("jeton \(Self.version) listening on \(scheme)://\(http.host):\(server.port)")
        if gatekeeper.keys.isEnabled { logger.notice("API keys required (\(gatekeeper.keys.count) configured)") }
        installSignals()
        DispatchQueue.global().async { [self] in
            do { try load(access: access) } catch {
                logger.critical("cannot load \(modelPath): \(error)")
                exit(1)
            }
        }
    }

    private func registerOperations(on router: Router) {
        router.get("/health") { [self] _, r in
            // Liveness: the process answers, and once loaded, its engine loop is alive.
            let alive = lock.withLock { engine?.snapshot().loopAlive ?? true }
            r.respond(alive ? .json(["status": "ok"]) : APIError.unavailable("the engine loop has stopped").response)
        }
        router.get("/ready") { [self] _, r in
            let (loaded, isDraining) = lock.withLock { (api != nil || embeddingAPI != nil, draining) }
            if isDraining { r.respond(APIError.unavailable("draining").response) }
            else if !loaded { r.respond(APIError.unavailable("the model is loading").response) }
            else { r.respond(.json(["status": "ready"])) }
        }
        router.get("/version") { [self] _, r in
            r.respond(.json(["version": .string(Self.version), "model": JSON(lock.withLock { modelName })]))
        }
        if config.bool("server.playground") {
            router.get("/") { _, r in r.respond(PlaygroundPage.response) }
        }
        if config.bool("metrics.enabled") {
            router.get("/metrics") { [self] _, r in
                let (m, e, srv) = lock.withLock { (metrics, engine, server) }
                var h = HTTPHeaders()
                h.add(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8")
                let text = m?.scrape(engine: e?.snapshot(), connections: srv?.connectionCount ?? 0) ?? ""
                r.respond(HTTPResponse(status: .ok, headers: h, body: Array(text.utf8)))
            }
        }
    }

    private func load(access: AccessLog) throws {
        let t0 = Date()
        if LoadedEmbeddingModel.isEmbeddingModel(try GGUFFile(path: modelPath)) {
            try loadEmbeddingModel(started: t0)
            return
        }
        // --chat-template FILE: for files without a template (Gemma 3 270M has none) or with a wrong one.
        let templateFile = config.string("model.chat_template")
        var templateOverride: String?
        if !templateFile.isEmpty {
            do { templateOverride = try String(contentsOfFile: templateFile, encoding: .utf8) } catch {
                throw JetonConfig.Failure(description: "model.chat_template: cannot read \(templateFile): \(error.localizedDescription)")
            }
        }
        let loaded = try LoadedModel(path: modelPath, threads: threads)
        loaded.file.adviseWillNeed()
        var context = loaded.config.contextLength
        if config.int("model.context_length") > 0 { context = min(config.int("model.context_length"), context) }
        let name = config.string("model.name").isEmpty ? loaded.name : config.string("model.name")
        let speculation = try Self.speculation(config, target: loaded, threads: threads)
        let metrics = config.bool("metrics.enabled") ? ServerMetrics(model: name, speculation: speculation.configuration.method.rawValue) : nil
        var engineConfig = EngineConfiguration(
            maxBatchTokens: config.int("engine.max_batch_tokens"), maxSequences: config.int("engine.max_sequences"),
            cacheTokens: config.int("engine.cache_tokens"), blockSize: config.int("engine.block_size"),
            prefixCaching: config.bool("engine.prefix_caching"), maxWaiting: config.int("engine.max_waiting"),
            cacheType: KVCacheType(rawValue: config.string("engine.cache_type")) ?? .f16,
            stepTargetSeconds: Double(config.int("engine.step_target_ms")) / 1000)
        engineConfig.speculation = speculation.configuration
        let engine = Engine(model: loaded.model, endOfGeneration: loaded.tokenizer.endOfGenerationIDs,
                            configuration: engineConfig, contextLength: context, draft: speculation.draft?.model)
        engine.observer = metrics
        engine.start()
        // Requests may name the model as it was started: its catalog name too (`--model qwen2.5-coder-1.5b`).
        let file = (modelPath as NSString).lastPathComponent
        let catalogName = (try? ModelStore.catalog())?.first { $0.file == file }?.name
        let served = ServedModel(id: name, aliases: Set(["default", loaded.name] + (catalogName.map { [$0] } ?? [])),
                                 tokenizer: loaded.tokenizer, contextLength: context,
                                 chatTemplate: templateOverride ?? loaded.chatTemplate, created: Int(Date().timeIntervalSince1970),
                                 architecture: loaded.config.architecture, quantization: loaded.config.quantization)
        var limits = APILimits()
        limits.maxN = config.int("limits.max_n")
        limits.maxLogprobs = config.int("limits.max_logprobs")
        limits.maxPrompts = config.int("limits.max_prompts")
        limits.maxMessages = config.int("limits.max_messages")
        limits.maxStops = config.int("limits.max_stops")
        limits.maxStopLength = config.int("limits.max_stop_length")
        limits.maxLogitBias = config.int("limits.max_logit_bias")
        if config.int("limits.max_tokens") > 0 { limits.maxTokens = config.int("limits.max_tokens") }
        let api = OpenAIAPI(service: engine, model: served, limits: limits, version: Self.version)
        if let problem = api.chatTemplateProblem() {
            let from = templateOverride != nil ? "the chat template \(config.string("model.chat_template"))"
                                               : "the model's chat template (override it with --chat-template FILE)"
            throw JetonConfig.Failure(description: "\(from) cannot render a conversation: \(problem)")
        }
        access.attach(metrics: metrics)
        api.observer = access
        api.logPrompts = config.bool("logging.log_prompts")
        api.slowReaderTimeout = config.double("server.slow_reader_timeout")
        api.grammars = Self.grammarCache(config, tokenizer: loaded.tokenizer)
        switch config.string("model.tool_call_format") {
        case "auto": break  // detected from the chat template
        case let f: api.toolCallFormat = ToolCallFormat(rawValue: f)  // "none" gives nil: tools refused
        }
        api.confidenceThreshold = config.double("confidence.threshold")
        api.measureAllConfidence = config.bool("confidence.measure_all")
        lock.withLock {
            self.engine = engine
            self.api = api
            self.metrics = metrics
            modelName = name
        }
        logger.notice("model \(name) loaded in \(String(format: "%.1f", Date().timeIntervalSince(t0))) s: \(loaded.config.architecture), \(loaded.config.quantization), \(loaded.config.layers) layers, context \(context) (trained \(loaded.config.contextLength)), \(threads) threads, KV cache \(engine.cacheCapacity) tokens (\(engine.cacheDescription)), speculative decoding: \(speculation.summary)")
    }

    /// An embedding model: no engine or KV cache; one batching thread runs the encoder.
    private func loadEmbeddingModel(started t0: Date) throws {
        let loaded = try LoadedEmbeddingModel(path: modelPath, threads: threads)
        loaded.file.adviseWillNeed()
        let name = config.string("model.name").isEmpty ? loaded.name : config.string("model.name")
        var context = loaded.config.contextLength
        if config.int("model.context_length") > 0 { context = min(config.int("model.context_length"), context) }
        let batcher = EmbeddingBatcher(model: loaded, batchTokens: max(config.int("engine.max_batch_tokens"), context),
                                       maxWaiting: config.int("engine.max_waiting"))
        let file = (modelPath as NSString).lastPathComponent
        let catalogName = (try? ModelStore.catalog())?.first { $0.file == file }?.name
        let served = ServedModel(id: name, aliases: Set(["default", loaded.name] + (catalogName.map { [$0] } ?? [])),
                                 tokenizer: loaded.tokenizer, contextLength: context, chatTemplate: nil,
                                 created: Int(Date().timeIntervalSince1970), architecture: loaded.config.architecture,
                                 quantization: loaded.config.quantization)
        let api = EmbeddingsAPI(service: batcher, model: served)
        lock.withLock {
            embeddingAPI = api
            embeddingBatcher = batcher
            modelName = name
        }
        logger.notice("embedding model \(name) loaded in \(String(format: "%.1f", Date().timeIntervalSince(t0))) s: \(loaded.config.architecture), \(loaded.config.quantization), \(loaded.config.layers) layers, \(loaded.config.dim) dimensions, context \(context) (trained \(loaded.config.contextLength)), \(threads) threads, batches of up to \(batcher.batchTokens) tokens")
    }

    private func installSignals() {
        signal(SIGHUP, SIG_IGN)
        let hup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hup.setEventHandler { [self] in
            do {
                try gatekeeper.keys.reload()
                logger.notice("API keys reloaded: \(gatekeeper.keys.count) configured")
            } catch { logger.error("API keys not reloaded: \(error)") }
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
        let again = lock.withLock { () -> Bool in
            defer { draining = true }
            return draining
        }
        if again {
            logger.warning("second signal: stopping now")
            exit(1)
        }
        let limit = config.double("server.drain_timeout")
        logger.notice("draining: in-flight requests get up to \(limit) s")
        DispatchQueue.global().async { [self] in
            let deadline = Date().addingTimeInterval(limit)
            // Wait until no request is open (a stream counts until its last token is
            // out) and the engine has nothing left, then let the last bytes go out.
            let access = lock.withLock { accessLog }
            while Date() < deadline {
                let s = lock.withLock { engine }?.snapshot()
                if (access?.inFlight ?? 0) == 0 && (s?.running ?? 0) + (s?.waiting ?? 0) == 0 { break }
                usleep(50_000)
            }
            logger.notice("drain: \(access?.inFlight ?? 0) requests still open at the end")
            let rest = max(0.5, deadline.timeIntervalSinceNow)
            lock.withLock { server }?.stop(timeout: min(rest, 5))
            lock.withLock { engine }?.shutdown()
            logger.notice("drained; exiting")
            exit(0)
        }
    }
}
