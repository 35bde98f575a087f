import ArgumentParser
import Foundation
import API
import HTTP

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the OpenAI-compatible API over HTTP.",
        discussion: "Settings come from defaults, then --config FILE (see Config/jeton.yaml), then JETON_* environment variables (JETON_SERVER_PORT for server.port), then these flags.")

    @Option(help: "YAML configuration file.") var config: [String] = []
    @Flag(help: "Print the effective configuration (secrets masked) and exit (types and ranges checked; --check-config runs the rest).") var printConfig = false
    @Flag(help: "Check the configuration as serving would (model files, keys and key file, CORS origins, TLS files, listen address), without loading or listening, and exit: 0 if it would start (as `nginx -t`).")
    var checkConfig = false
    @Option(help: "GGUF file, catalog name, or `default` (model.path); repeat it to serve several models in one process (the `models:` list).")
    var model: [String] = []
    @Option(name: [.customShort("t"), .long], parsing: .unconditional, help: "Threads for the forward pass (model.threads).") var threads: Int?
    @Option(help: "Address to listen on (server.host).") var host: String?
    @Option(parsing: .unconditional, help: "Port to listen on (server.port).") var port: Int?
    @Option(help: "Name clients use in `model` (model.name).") var servedModelName: String?
    @Option(parsing: .unconditional, help: "Context length per request (model.context_length).") var contextLength: Int?
    @Option(help: "Jinja chat template file overriding the model's (model.chat_template).") var chatTemplate: String?
    @Option(parsing: .unconditional, help: "KV cache size in tokens (engine.cache_tokens).") var cacheTokens: Int?
    @Option(help: "KV cache element type, f16 or f32 (engine.cache_type).") var cacheType: String?
    @Option(parsing: .unconditional, help: "Tokens computed per step at most (engine.max_batch_tokens).") var maxBatchTokens: Int?
    @Option(parsing: .unconditional, help: "Sequences running at once at most (engine.max_sequences).") var maxSequences: Int?
    @Option(parsing: .unconditional, help: "Queued requests at most (engine.max_waiting).") var maxWaiting: Int?
    @Option(help: "TLS certificate, PEM (tls.cert).") var tlsCert: String?
    @Option(help: "TLS private key, PEM (tls.key).") var tlsKey: String?
    @Option(parsing: .unconditional, help: "Seconds in-flight requests get after SIGTERM (server.drain_timeout).") var drainTimeout: Double?
    @Option(help: "An accepted API key, as name:key or key; repeatable (auth.api_keys).") var apiKey: [String] = []
    @Option(help: "File of name:key lines, reloaded on SIGHUP (auth.key_file).") var apiKeyFile: String?
    @Option(help: "Speculative decoding: none, ngram or draft (speculative.method).") var speculative: String?
    @Option(help: "Model that proposes tokens for speculative decoding; same tokenizer (speculative.draft_model).") var draftModel: String?
    @Option(help: "text or json (logging.format).") var logFormat: String?
    @Option(help: "Least severe level logged (logging.level).") var logLevel: String?
    @Option(help: "LoRA adapter as NAME=PATH (GGUF adapter or PEFT directory); repeatable (lora.adapters).") var lora: [String] = []

    func effectiveConfig() throws -> JetonConfig {
        var c = JetonConfig()
        // One file: a second would silently replace the first, not add to it.
        guard config.count <= 1 else { throw JetonConfig.Failure(description: "--config is given \(config.count) times; give one file") }
        if let f = config.first { try c.apply(yamlFile: f) }
        try c.apply(environment: ProcessInfo.processInfo.environment)
        let k = ConfigKeys.shared
        // Each flag with its name as typed, for its error messages.
        let flags: [(Setting, String?, String)] = [
            (k.modelPath.setting, model.count == 1 ? model[0] : nil, "--model"), (k.modelThreads.setting, threads.map(String.init), "--threads"),
            (k.serverHost.setting, host, "--host"), (k.serverPort.setting, port.map(String.init), "--port"),
            (k.modelName.setting, servedModelName, "--served-model-name"),
            (k.modelContextLength.setting, contextLength.map(String.init), "--context-length"),
            (k.engineCacheTokens.setting, cacheTokens.map(String.init), "--cache-tokens"), (k.engineCacheType.setting, cacheType, "--cache-type"),
            (k.engineMaxBatchTokens.setting, maxBatchTokens.map(String.init), "--max-batch-tokens"),
            (k.engineMaxSequences.setting, maxSequences.map(String.init), "--max-sequences"),
            (k.engineMaxWaiting.setting, maxWaiting.map(String.init), "--max-waiting"), (k.tlsCert.setting, tlsCert, "--tls-cert"),
            (k.tlsKey.setting, tlsKey, "--tls-key"), (k.serverDrainTimeout.setting, drainTimeout.map { String($0) }, "--drain-timeout"),
            (k.authKeyFile.setting, apiKeyFile, "--api-key-file"), (k.loggingFormat.setting, logFormat, "--log-format"),
            (k.loggingLevel.setting, logLevel, "--log-level"), (k.modelChatTemplate.setting, chatTemplate, "--chat-template"),
            (k.speculativeMethod.setting, speculative, "--speculative"), (k.speculativeDraftModel.setting, draftModel, "--draft-model"),
        ]
        for (setting, value, name) in flags { if let v = value { try c.apply(flag: setting, v, name: name) } }
        // One --model is model.path, as ever; several are the `models:` list. Either replaces the file's list.
        if model.count > 1 { c.setModels(model.map { ModelSpec(path: $0) }, source: "command line") }
        else if model.count == 1 { c.setModels([], source: "command line") }
        // model.path and model.name describe the one model served without a list: beside a
        // models: list they would be ignored, so they are refused instead.
        if !c.models.isEmpty && c.modelsSource != "command line" {
            for setting in [k.modelPath.setting, k.modelName.setting] {
                // Config/jeton.yaml writes the defaults out: only a value of one's own counts.
                let key = setting.key
                guard let from = c.sources[key], c.values[key] != setting.defaultValue else { continue }
                throw JetonConfig.Failure(description: "\(key) (from \(from)) applies only without a models: list; with the list, give each model its path: and name: in it")
            }
        }
        if c.servedModels.count > 1 && !c[\.modelName].isEmpty {
            throw JetonConfig.Failure(description: "model.name (--served-model-name) names one model; with several, give each its name: in the models: list")
        }
        if !apiKey.isEmpty { try c.apply(flagList: k.authAPIKeys.setting, apiKey, flag: "--api-key") }
        if !lora.isEmpty { try c.apply(flagList: k.loraAdapters.setting, lora, flag: "--lora") }
        guard c[\.tlsCert].isEmpty == c[\.tlsKey].isEmpty else {
            throw JetonConfig.Failure(description: "tls.cert and tls.key go together")
        }
        return c
    }

    func run() throws {
        // The log format as asked, before the configuration is whole: start-up notes use it.
        var json = (logFormat ?? ProcessInfo.processInfo.environment["JETON_LOGGING_FORMAT"]) == "json"
        let c: JetonConfig
        do { c = try effectiveConfig() } catch let e as JetonConfig.Failure {
            StartupNote.write(.error, e.description, json: json)
            throw ExitCode(2)
        }
        json = c[\.loggingFormat] == "json"
        let fail = { (error: Error) in StartupNote.write(.error, "\(error)", json: json) }
        for w in c.warnings { StartupNote.write(.warning, w, json: json) }
        if c[\.serverSlowReaderTimeout] >= c[\.serverWriteTimeout] {
            // The socket's write timer starts when its buffer fills, just before the stream pauses.
            StartupNote.write(.warning, "server.slow_reader_timeout (\(c[\.serverSlowReaderTimeout]) s) is not below server.write_timeout (\(c[\.serverWriteTimeout]) s): a client that stops reading is cut by the write timeout first, without the slow-reader end or its count", json: json)
        }
        if printConfig {
            print(c.rendered(), terminator: "")
            return
        }
        do { try Preflight.check(c) } catch {
            fail(error)
            throw ExitCode(2)
        }
        if checkConfig {
            // What ServerApp and the HTTP server refuse at start, short of a port already in use.
            do {
                _ = try ServerApp(config: c)
                _ = try CORSPolicy(allowedOrigins: c[\.corsAllowedOrigins], maxAge: c[\.corsMaxAge])
                try HTTPServer.check(ServerApp.httpConfiguration(c))
            } catch {
                fail(error)
                throw ExitCode(2)
            }
            print("the configuration is good: serve would start with it (\(c.servedModels.count) model(s) on \(c[\.serverHost]):\(c[\.serverPort]), unless the port is taken)")
            return
        }
        let app: ServerApp
        do { app = try ServerApp(config: c) } catch {
            fail(error)
            throw ExitCode.failure
        }
        do { try app.start() } catch {
            fail(error)
            throw ExitCode.failure
        }
        dispatchMain()
    }
}
