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
/// while the model loads), then the model and the engine, then the API answers.
/// SIGTERM/SIGINT drain: /ready turns 503, new work gets 503, running requests
/// finish until the drain deadline, then the process exits 0.
final class ServerApp: Sendable {
    static let version = "0.1.0"

    let config: JetonConfig
    let modelPath: String
    let logger: Logger
    let http: HTTPServerConfiguration
    /// What comes to exist while the server runs (the model loads after the server starts),
    /// read by the handlers on the event loops and by the signal handlers.
    private struct State {
        var api: OpenAIAPI?
        var engine: Engine?
        var metrics: ServerMetrics?
        var accessLog: AccessLog?
        /// Set instead of `api` when the model is an embedding model (EmbeddingsAPI answers then).
        var embeddingAPI: EmbeddingsAPI?
        var embeddingBatcher: EmbeddingBatcher?
        var modelName: String?
        var draining = false
        var server: HTTPServer?
    }
    private let state = Mutex(State())
    /// Only keeps the signal sources alive: appended by `installSignals` (once, in `start()`),
    /// never read. Not in `state`: dispatch sources are not Sendable.
    private nonisolated(unsafe) var signalSources: [DispatchSourceSignal] = []
    let gatekeeper: Gatekeeper

    init(config c: JetonConfig) throws {
        config = c
        LogSetup.bootstrap(format: c[\.loggingFormat], level: c[\.loggingLevel])
        logger = Logger(label: "jeton")
        modelPath = try ModelStore().resolve(c[\.modelPath])
        var h = HTTPServerConfiguration(host: c[\.serverHost], port: c[\.serverPort])
        h.backlog = Int32(c[\.serverBacklog])
        if c[\.serverEventLoops] > 0 { h.loopCount = c[\.serverEventLoops] }
        h.maxConnections = c[\.serverMaxConnections]
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
        h.errorResponse = { APIError.transport(status: $0, code: $1, message: $2) }
        http = h
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
        open.formUnion(Self.loraAdminPaths)  // they ask for an admin key (ServerApp+Lora.swift)
        gatekeeper = Gatekeeper(keys: keys, limiter: limits.isEnabled ? RateLimiter(limits: limits) : nil, publicPaths: open)
    }

    private var threads: Int {
        let t = config[\.modelThreads]
        return t > 0 ? t : ProcessInfo.processInfo.activeProcessorCount
    }

    func start() throws {
        let router = Router(errorResponse: { APIError.transport(status: $0, code: $1, message: $2) })
        let gate = gatekeeper
        let access = AccessLog(logger: logger, metrics: nil, enabled: config[\.loggingAccessLog],
                               onComplete: { gate.finished(requestID: $0, tokens: $1) })
        router.use(access.middleware(keyName: { gate.keyName($0) }))
        router.use(CORSPolicy(allowedOrigins: config[\.corsAllowedOrigins], maxAge: config[\.corsMaxAge]).middleware)
        router.use(gate.middleware)
        state.withLock { $0.accessLog = access }
        registerOperations(on: router)
        // API routes exist from the start and answer 503 until the model is ready.
        for (method, path) in OpenAIAPI.routeNames + EmbeddingsAPI.routeNames {
            router.on(method, path) { [self] req, res in
                let (current, embeddings, name, isDraining) = state.withLock { ($0.api, $0.embeddingAPI, $0.modelName, $0.draining) }
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
        state.withLock { $0.server = server }
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
            let alive = state.withLock { $0.engine }?.snapshot().loopAlive ?? true
            r.respond(alive ? .json(["status": "ok"]) : APIError.unavailable("the engine loop has stopped").response)
        }
        router.get("/ready") { [self] _, r in
            let (loaded, isDraining) = state.withLock { ($0.api != nil || $0.embeddingAPI != nil, $0.draining) }
            if isDraining { r.respond(APIError.unavailable("draining").response) }
            else if !loaded { r.respond(APIError.unavailable("the model is loading").response) }
            else { r.respond(.json(["status": "ready"])) }
        }
        router.get("/version") { [self] _, r in
            r.respond(.json(["version": .string(Self.version), "model": JSON(state.withLock { $0.modelName })]))
        }
        if config[\.serverPlayground] {
            router.get("/") { _, r in r.respond(PlaygroundPage.response) }
        }
        if config[\.metricsEnabled] {
            router.get("/metrics") { [self] _, r in
                let (m, e, srv) = state.withLock { ($0.metrics, $0.engine, $0.server) }
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
        let templateFile = config[\.modelChatTemplate]
        var templateOverride: String?
        if !templateFile.isEmpty {
            do { templateOverride = try String(contentsOfFile: templateFile, encoding: .utf8) } catch {
                throw JetonConfig.Failure(description: "model.chat_template: cannot read \(templateFile): \(error.localizedDescription)")
            }
        }
        let loaded = try LoadedModel(path: modelPath, threads: threads)
        loaded.file.adviseWillNeed()
        var context = loaded.config.contextLength
        if config[\.modelContextLength] > 0 { context = min(config[\.modelContextLength], context) }
        let name = config[\.modelName].isEmpty ? loaded.name : config[\.modelName]
        let speculation = try Self.speculation(config, target: loaded, threads: threads)
        let metrics = config[\.metricsEnabled] ? ServerMetrics(model: name, speculation: speculation.configuration.method.rawValue) : nil
        var engineConfig = EngineConfiguration(
            maxBatchTokens: config[\.engineMaxBatchTokens], maxSequences: config[\.engineMaxSequences],
            cacheTokens: config[\.engineCacheTokens], blockSize: config[\.engineBlockSize],
            prefixCaching: config[\.enginePrefixCaching], maxWaiting: config[\.engineMaxWaiting],
            cacheType: KVCacheType(rawValue: config[\.engineCacheType]) ?? .f16,
            stepTargetSeconds: Double(config[\.engineStepTargetMs]) / 1000)
        engineConfig.speculation = speculation.configuration
        let engine = Engine(model: loaded.model, endOfGeneration: loaded.tokenizer.endOfGenerationIDs,
                            configuration: engineConfig, contextLength: context, draft: speculation.draft?.model,
                            observer: metrics)
        engine.start()
        // Requests may name the model as it was started: its catalog name too (`--model qwen2.5-coder-1.5b`).
        let file = (modelPath as NSString).lastPathComponent
        let catalogName = (try? ModelStore.catalog())?.first { $0.file == file }?.name
        let served = ServedModel(id: name, aliases: Set(["default", loaded.name] + (catalogName.map { [$0] } ?? [])),
                                 tokenizer: loaded.tokenizer, contextLength: context,
                                 chatTemplate: templateOverride ?? loaded.chatTemplate, created: Int(Date().timeIntervalSince1970),
                                 architecture: loaded.config.architecture, quantization: loaded.config.quantization)
        var limits = APILimits()
        limits.maxN = config[\.limitsMaxN]
        limits.maxLogprobs = config[\.limitsMaxLogprobs]
        limits.maxPrompts = config[\.limitsMaxPrompts]
        limits.maxMessages = config[\.limitsMaxMessages]
        limits.maxStops = config[\.limitsMaxStops]
        limits.maxStopLength = config[\.limitsMaxStopLength]
        limits.maxLogitBias = config[\.limitsMaxLogitBias]
        if config[\.limitsMaxTokens] > 0 { limits.maxTokens = config[\.limitsMaxTokens] }
        var options = APIOptions()
        options.observer = access
        options.logPrompts = config[\.loggingLogPrompts]
        options.slowReaderTimeout = config[\.serverSlowReaderTimeout]
        options.grammars = Self.grammarCache(config, tokenizer: loaded.tokenizer)
        switch config[\.modelToolCallFormat] {
        case "auto": options.toolCalls = .detect
        case let f: options.toolCalls = ToolCallFormat(rawValue: f).map { .format($0) } ?? .refused  // "none"
        }
        options.confidenceThreshold = config[\.confidenceThreshold]
        options.measureAllConfidence = config[\.confidenceMeasureAll]
        options.lora = try Self.loraRegistry(config, model: loaded.model)
        let api = OpenAIAPI(service: engine, model: served, limits: limits, version: Self.version, options: options)
        if let problem = api.chatTemplateProblem() {
            let from = templateOverride != nil ? "the chat template \(config[\.modelChatTemplate])"
                                               : "the model's chat template (override it with --chat-template FILE)"
            throw JetonConfig.Failure(description: "\(from) cannot render a conversation: \(problem)")
        }
        access.attach(metrics: metrics)
        state.withLock {
            $0.engine = engine
            $0.api = api
            $0.metrics = metrics
            $0.modelName = name
        }
        logger.notice("model \(name) loaded in \(String(format: "%.1f", Date().timeIntervalSince(t0))) s: \(loaded.config.architecture), \(loaded.config.quantization), \(loaded.config.layers) layers, context \(context) (trained \(loaded.config.contextLength)), \(threads) threads, KV cache \(engine.cacheCapacity) tokens (\(engine.cacheDescription)), speculative decoding: \(speculation.summary)")
    }

    /// An embedding model: no engine or KV cache; one batching thread runs the encoder.
    private func loadEmbeddingModel(started t0: Date) throws {
        let loaded = try LoadedEmbeddingModel(path: modelPath, threads: threads)
        loaded.file.adviseWillNeed()
        let name = config[\.modelName].isEmpty ? loaded.name : config[\.modelName]
        var context = loaded.config.contextLength
        if config[\.modelContextLength] > 0 { context = min(config[\.modelContextLength], context) }
        let batcher = EmbeddingBatcher(model: loaded, batchTokens: max(config[\.engineMaxBatchTokens], context),
                                       maxWaiting: config[\.engineMaxWaiting])
        let file = (modelPath as NSString).lastPathComponent
        let catalogName = (try? ModelStore.catalog())?.first { $0.file == file }?.name
        let served = ServedModel(id: name, aliases: Set(["default", loaded.name] + (catalogName.map { [$0] } ?? [])),
                                 tokenizer: loaded.tokenizer, contextLength: context, chatTemplate: nil,
                                 created: Int(Date().timeIntervalSince1970), architecture: loaded.config.architecture,
                                 quantization: loaded.config.quantization)
        let api = EmbeddingsAPI(service: batcher, model: served)
        state.withLock {
            $0.embeddingAPI = api
            $0.embeddingBatcher = batcher
            $0.modelName = name
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
            // Wait until no request is open (a stream counts until its last token is
            // out) and the engine has nothing left, then let the last bytes go out.
            let access = state.withLock { $0.accessLog }
            while Date() < deadline {
                let s = state.withLock { $0.engine }?.snapshot()
                if (access?.inFlight ?? 0) == 0 && (s?.running ?? 0) + (s?.waiting ?? 0) == 0 { break }
                usleep(50_000)
            }
            logger.notice("drain: \(access?.inFlight ?? 0) requests still open at the end")
            let rest = max(0.5, deadline.timeIntervalSinceNow)
            state.withLock { $0.server }?.stop(timeout: min(rest, 5))
            state.withLock { $0.engine }?.shutdown()
            logger.notice("drained; exiting")
            exit(0)
        }
    }
}
