import API
import Dispatch
import Engine
import Foundation
import HTTP
import Model

#if canImport(Glibc)
import Glibc
#endif

/// Wires the pieces: the HTTP server starts first (so /health can say 503 while
/// the model loads), then the model and the engine, then the API answers.
final class ServerApp: @unchecked Sendable {
    static let version = "0.1.0"

    let httpConfig: HTTPServerConfiguration
    let modelPath: String
    let threads: Int
    let engineConfig: EngineConfiguration
    let servedName: String?
    let contextLength: Int?
    let drainTimeout: Double

    private let lock = NSLock()
    private var api: OpenAIAPI?
    private var engine: Engine?
    private var draining = false
    private var server: HTTPServer?
    private var signalSources: [DispatchSourceSignal] = []

    init(http: HTTPServerConfiguration, modelPath: String, threads: Int, engine: EngineConfiguration,
         servedName: String?, contextLength: Int?, drainTimeout: Double) {
        httpConfig = http
        self.modelPath = modelPath
        self.threads = threads
        engineConfig = engine
        self.servedName = servedName
        self.contextLength = contextLength
        self.drainTimeout = drainTimeout
    }

    func start() throws {
        let router = Router(errorResponse: { APIError.transport(status: $0, code: $1, message: $2) })
        router.get("/health") { [self] _, r in
            let ready = lock.withLock { api != nil && !(engine?.snapshot().loopAlive == false) }
            r.respond(ready ? .json(["status": "ok"]) : APIError.unavailable("the model is loading").response)
        }
        // API routes exist from the start and answer 503 until the model is ready.
        let late = OpenAIAPI.routeNames
        for (method, path) in late {
            router.on(method, path) { [self] req, res in
                let current = lock.withLock { draining ? nil : api }
                guard let current else {
                    let why = lock.withLock { draining } ? "the server is shutting down" : "the model is loading"
                    res.respond(APIError.unavailable(why).response)
                    return
                }
                current.handle(method: method, path: path, req, res)
            }
        }
        let server = HTTPServer(configuration: httpConfig, router: router)
        try server.start()
        self.server = server
        let scheme = httpConfig.tlsCertificatePath == nil ? "http" : "https"
        note("jeton \(Self.version) listening on \(scheme)://\(httpConfig.host):\(server.port)")
        installSignals()

        DispatchQueue.global().async { [self] in
            do {
                try load()
            } catch {
                note("error: cannot load \(modelPath): \(error)")
                exit(1)
            }
        }
    }

    private func load() throws {
        let t0 = Date()
        let loaded = try LoadedModel(path: modelPath, threads: threads)
        loaded.file.adviseWillNeed()
        var context = loaded.config.contextLength
        if let c = contextLength { context = min(c, context) }
        let engine = Engine(model: loaded.model, endOfGeneration: loaded.tokenizer.endOfGenerationIDs,
                            configuration: engineConfig, contextLength: context)
        engine.start()
        let served = ServedModel(id: servedName ?? loaded.name, aliases: ["default", loaded.name],
                                 tokenizer: loaded.tokenizer, contextLength: context,
                                 chatTemplate: loaded.chatTemplate, created: Int(Date().timeIntervalSince1970))
        let api = OpenAIAPI(service: engine, model: served, version: Self.version)
        lock.withLock {
            self.engine = engine
            self.api = api
        }
        note("model \(served.id) loaded in \(String(format: "%.1f", Date().timeIntervalSince(t0))) s: \(loaded.config.layers) layers, context \(context), \(threads) threads, KV cache \(engine.cacheCapacity) tokens")
    }

    private func installSignals() {
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
        if again { note("second signal: stopping now"); exit(1) }
        note("draining: finishing in-flight requests (up to \(Int(drainTimeout)) s)")
        server?.stop(timeout: drainTimeout)
        lock.withLock { engine }?.shutdown()
        note("stopped")
        exit(0)
    }
}
