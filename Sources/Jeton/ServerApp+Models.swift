import API
import Engine
import Foundation
import GGUF
import Kernels
import Model
import Tokenizer

/// Loading the served models, one after the other: each generation model gets its own
/// engine, KV cache and queue; each embedding model its own batcher. The API answers
/// once all are loaded.
extension ServerApp {
    func loadModels(access: AccessLog) throws {
        // Made before the models load, so /metrics answers meanwhile and the requests answered
        // 503 then are counted. One model's name labels the requests that reach no model.
        let only = plans.count == 1 ? plans[0].spec.name ?? LoadedModel.name(ofPath: plans[0].path) : ""
        let metrics = config[\.metricsEnabled] ? ServerMetrics(defaultModel: only) : nil
        access.attach(metrics: metrics)
        state.withLock { $0.metrics = metrics }
        var apis: [ModelRouter.Served] = []
        var firstGeneration = true, firstEmbedding = true
        for plan in plans {
            let t0 = Date()
            if LoadedEmbeddingModel.isEmbeddingModel(try GGUFFile(path: plan.path)) {
                let (api, loaded) = try loadEmbeddingModel(plan, first: firstEmbedding, metrics: metrics, started: t0)
                firstEmbedding = false
                apis.append(.embedding(api))
                state.withLock { $0.loaded.append(loaded) }
            } else {
                let (api, loaded) = try loadGenerationModel(plan, first: firstGeneration, access: access,
                                                            metrics: metrics, started: t0)
                firstGeneration = false
                apis.append(.generation(api))
                state.withLock { $0.loaded.append(loaded) }
            }
        }
        let router = try ModelRouter(apis)
        try Self.checkAliases(plans.map(\.spec), paths: plans.map(\.path), rows: router.table.rows)
        // An adapter of lora.adapters under a model's name or alias (reserved by the router) would never be reached.
        for case let .generation(api) in apis {
            if let lora = api.lora, let taken = lora.all.first(where: { lora.isReserved($0.name) }) {
                throw JetonConfig.Failure(description: "lora.adapters: \(taken.name) is already a served model's name or alias; give the adapter another name")
            }
        }
        state.withLock { $0.router = router }
        if plans.count > 1 {
            logger.notice("serving \(plans.count) models: \(router.table.rows.map { "\($0.id) (\($0.kind.rawValue))" }.joined(separator: ", "))")
        }
    }

    /// An alias of the `models:` list that reaches another model first (its id, or a name an
    /// earlier model answers to: its aliases, file and catalog names, `default`) would never
    /// reach its own: refused. So is a name or alias given to one model that another answers to
    /// without being told (its file or catalog name): requests meant for the other model would
    /// silently reach this one (a later model's, through the order; an earlier model's, as an id
    /// wins over an alias).
    /// (`paths`: each model's file, whose own and catalog names it answers to anyway.)
    static func checkAliases(_ specs: [ModelSpec], paths: [String], rows: [ModelTable.Row]) throws {
        for (i, spec) in specs.enumerated() {
            for alias in spec.aliases {
                let other = rows.indices.first { $0 != i && rows[$0].id == alias }
                    ?? rows.indices.first { $0 < i && rows[$0].aliases.contains(alias) }
                if let j = other {
                    throw JetonConfig.Failure(description: "models[\(i)]: the alias `\(alias)` already reaches `\(rows[j].id)`; give \(rows[i].id) another alias")
                }
            }
            // `default` is the first model of each kind by design: a model named so would take it
            // from the other kind's first too (an id wins over an alias).
            if specs.count > 1, spec.name == "default" || spec.aliases.contains("default") {
                throw JetonConfig.Failure(description: "models[\(i)]: `default` names the first model of each kind when several are served; give \(rows[i].id) another name")
            }
            // A name the model answers to anyway (the same file listed twice) takes nothing away.
            let own = names(ModelSpec(path: paths[i]), path: paths[i], first: false)
            for given in spec.aliases + [spec.name].compactMap({ $0 }) where given != "default" && given != own.id && !own.aliases.contains(given) {
                // (Models' own aliases are checked above.)
                if let j = rows.indices.first(where: { $0 != i && rows[$0].aliases.contains(given) && !specs[$0].aliases.contains(given) }) {
                    throw JetonConfig.Failure(description: "models[\(i)]: `\(given)` is also the file or catalog name of models[\(j)] (`\(rows[j].id)`), which it would never reach; give \(rows[i].id) another name")
                }
            }
        }
    }

    private static func threads(_ spec: ModelSpec) -> Int {
        let t = spec.threads ?? 0
        return t > 0 ? t : CPUBudget.cpus
    }

    private static func context(_ spec: ModelSpec, trained: Int) -> Int {
        let c = spec.contextLength ?? 0
        return c > 0 ? min(c, trained) : trained
    }

    /// What the API knows of a model, for both kinds: the name clients use (the spec's, else
    /// the file's own) and the other names that reach it: its own name, its catalog name, the
    /// spec's aliases, and `default` for the first model of each kind (`first`), where a request
    /// without `model` goes too.
    private func servedModel(_ plan: ModelPlan, first: Bool, tokenizer: Tokenizer, context: Int,
                             chatTemplate: String?, architecture: String, quantization: String) -> ServedModel {
        let (name, aliases) = Self.names(plan.spec, path: plan.path, first: first)
        return ServedModel(id: name, aliases: aliases, tokenizer: tokenizer, contextLength: context, chatTemplate: chatTemplate,
                           created: Int(Date().timeIntervalSince1970), architecture: architecture, quantization: quantization)
    }

    /// A model's name and the other names that reach it, from its spec and file alone (the
    /// preflight checks them before anything loads).
    static func names(_ spec: ModelSpec, path: String, first: Bool) -> (id: String, aliases: Set<String>) {
        let ownName = LoadedModel.name(ofPath: path)
        let name = spec.name ?? ownName
        let file = (path as NSString).lastPathComponent
        let catalogName = (try? ModelStore.catalog())?.first { $0.file == file }?.name
        var aliases = Set([ownName] + spec.aliases + (catalogName.map { [$0] } ?? []) + (first ? ["default"] : []))
        aliases.remove(name)
        return (name, aliases)
    }

    private func loadGenerationModel(_ plan: ModelPlan, first: Bool, access: AccessLog,
                                     metrics: ServerMetrics?, started t0: Date) throws -> (OpenAIAPI, Loaded) {
        // --chat-template FILE: for files without a template (Gemma 3 270M has none) or with a wrong one;
        // with several generation models it is the first one's.
        let templateFile = first ? config[\.modelChatTemplate] : ""
        var templateOverride: String?
        if !templateFile.isEmpty {
            do { templateOverride = try String(contentsOfFile: templateFile, encoding: .utf8) } catch {
                throw JetonConfig.Failure(description: "model.chat_template: cannot read \(templateFile): \(error.localizedDescription)")
            }
        }
        let threads = Self.threads(plan.spec)
        let loaded = try LoadedModel(path: plan.path, threads: threads)
        loaded.file.adviseWillNeed()
        let context = Self.context(plan.spec, trained: loaded.config.contextLength)
        var served = servedModel(plan, first: first, tokenizer: loaded.tokenizer, context: context,
                                 chatTemplate: templateOverride ?? loaded.chatTemplate,
                                 architecture: loaded.config.architecture, quantization: loaded.config.quantization)
        let speculation = try Self.speculation(config, target: loaded, threads: threads, allowDraft: first)
        let modelMetrics = metrics?.addModel(served.id, speculation: speculation.configuration.method.rawValue)
        var engineConfig = EngineConfiguration(
            maxBatchTokens: config[\.engineMaxBatchTokens], maxSequences: config[\.engineMaxSequences],
            cacheTokens: plan.spec.cacheTokens ?? config[\.engineCacheTokens], blockSize: config[\.engineBlockSize],
            prefixCaching: config[\.enginePrefixCaching], maxWaiting: plan.spec.maxWaiting ?? config[\.engineMaxWaiting],
            cacheType: KVCacheType(rawValue: config[\.engineCacheType]) ?? .f16,
            stepTargetSeconds: Double(config[\.engineStepTargetMs]) / 1000)
        engineConfig.shortPromptStepTargetSeconds = Double(config[\.engineStepTargetShortMs]) / 1000
        engineConfig.speculation = speculation.configuration
        // The engine writes its whole cache at start: refused here, with a message, when it cannot fit.
        let cacheTokens = engineConfig.blockCount * engineConfig.blockSize
        // The draft's cache keeps every position in every layer (LlamaModel.makeCacheStorage(tokens:)).
        let draftBytes = engineConfig.speculation.method == .draft
            ? (speculation.draft.map { MemoryBudget.cacheBytes($0.config, window: nil, engineConfig) } ?? 0) : 0
        try MemoryBudget.checkCache(bytes: MemoryBudget.cacheBytes(loaded.config, window: loaded.model.slidingWindow, engineConfig),
                                    draftBytes: draftBytes, tokens: cacheTokens)
        let engine = Engine(model: loaded.model, endOfGeneration: loaded.tokenizer.endOfGenerationIDs,
                            configuration: engineConfig, contextLength: context, draft: speculation.draft?.model,
                            observer: EngineStepObserver.make(metrics: modelMetrics, logger: logger, model: served.id))
        engine.start()
        // One request can use the whole KV cache at most: /v1/models (max_model_len) says that much.
        served.contextLength = min(context, engine.cacheCapacity)
        var options = apiOptions(tokenizer: loaded.tokenizer, observer: ModelObserver(access: access, metrics: modelMetrics))
        // LoRA adapters (lora.adapters, --lora) are the first generation model's, as its draft is.
        if first { options.lora = try Self.loraRegistry(config, model: loaded.model) }
        let api = OpenAIAPI(service: engine, model: served, limits: apiLimits(), version: Self.version, options: options)
        if let problem = api.chatTemplateProblem() {
            let from = templateOverride != nil ? "the chat template \(templateFile)"
                                               : "the model's chat template (override it with --chat-template FILE)"
            throw JetonConfig.Failure(description: "\(served.id): \(from) cannot render a conversation: \(problem)")
        }
        // Said before the load line, which ends a start-up log's model part.
        if templateOverride == nil && loaded.chatTemplate == nil {
            // As llama-server, ChatML then; a model not tuned on it may not end its turn there.
            logger.warning("model \(served.id): the file has no chat template: chat uses ChatML, which the model may not know (give one with --chat-template FILE)")
        }
        logger.notice("model \(served.id) loaded in \(String(format: "%.1f", Date().timeIntervalSince(t0))) s: \(loaded.config.architecture), \(loaded.config.quantization), \(loaded.config.layers) layers, context \(context) (trained \(loaded.config.contextLength)), \(threads) threads, \(MatMul.kernelDescription), KV cache \(engine.cacheCapacity) tokens (\(engine.cacheDescription)), speculative decoding: \(speculation.summary)")
        // Values the model or the cache's layout changed say so, rather than only in the line above.
        if let note = speculation.note { logger.warning("model \(served.id): \(note)") }
        let asked = plan.spec.contextLength ?? config[\.modelContextLength]
        if asked > context {
            logger.warning("model \(served.id): context_length \(asked) is longer than the model was trained for; using \(context)")
        }
        if engine.cacheCapacity < context {
            logger.notice("model \(served.id): the KV cache holds \(engine.cacheCapacity) tokens, fewer than the context of \(context): a request can use \(engine.cacheCapacity) at most (max_model_len says so; raise cache_tokens for more)")
        }
        if engine.cacheCapacity != engineConfig.cacheTokens {
            logger.warning("model \(served.id): cache_tokens \(engineConfig.cacheTokens) is \(engine.cacheCapacity) tokens in whole blocks of \(engineConfig.blockSize)")
        }
        return (api, Loaded(id: served.id, kind: .generation, engine: engine, batcher: nil, metrics: modelMetrics))
    }

    /// An embedding model: no engine or KV cache; one batching thread runs the encoder.
    private func loadEmbeddingModel(_ plan: ModelPlan, first: Bool, metrics: ServerMetrics?,
                                    started t0: Date) throws -> (EmbeddingsAPI, Loaded) {
        let threads = Self.threads(plan.spec)
        let loaded = try LoadedEmbeddingModel(path: plan.path, threads: threads)
        loaded.file.adviseWillNeed()
        let context = Self.context(plan.spec, trained: loaded.config.contextLength)
        let served = servedModel(plan, first: first, tokenizer: loaded.tokenizer, context: context,
                                 chatTemplate: nil, architecture: loaded.config.architecture,
                                 quantization: loaded.config.quantization)
        let batcher = EmbeddingBatcher(model: loaded, batchTokens: config[\.engineMaxBatchTokens],
                                       maxWaiting: plan.spec.maxWaiting ?? config[\.engineMaxWaiting],
                                       metrics: metrics?.addEmbeddingModel(served.id))
        let api = EmbeddingsAPI(service: batcher, model: served)
        logger.notice("embedding model \(served.id) loaded in \(String(format: "%.1f", Date().timeIntervalSince(t0))) s: \(loaded.config.architecture), \(loaded.config.quantization), \(loaded.config.layers) layers, \(loaded.config.dim) dimensions, context \(context) (trained \(loaded.config.contextLength)), \(threads) threads, \(MatMul.kernelDescription), batches of up to \(batcher.batchTokens) tokens")
        let asked = plan.spec.contextLength ?? config[\.modelContextLength]
        if asked > context {
            logger.warning("embedding model \(served.id): context_length \(asked) is longer than the model was trained for; using \(context)")
        }
        return (api, Loaded(id: served.id, kind: .embedding, engine: nil, batcher: batcher, metrics: nil))
    }

    private func apiLimits() -> APILimits {
        var limits = APILimits()
        limits.maxN = config[\.limitsMaxN]
        limits.maxLogprobs = config[\.limitsMaxLogprobs]
        limits.maxPrompts = config[\.limitsMaxPrompts]
        limits.maxMessages = config[\.limitsMaxMessages]
        limits.maxStops = config[\.limitsMaxStops]
        limits.maxStopLength = config[\.limitsMaxStopLength]
        limits.maxLogitBias = config[\.limitsMaxLogitBias]
        if config[\.limitsMaxTokens] > 0 { limits.maxTokens = config[\.limitsMaxTokens] }
        return limits
    }

    private func apiOptions(tokenizer: Tokenizer, observer: APIObserver) -> APIOptions {
        var options = APIOptions()
        options.observer = observer
        options.logPrompts = config[\.loggingLogPrompts]
        options.slowReaderTimeout = config[\.serverSlowReaderTimeout]
        options.responseStore = responseStore
        options.grammars = Self.grammarCache(config, tokenizer: tokenizer)
        switch config[\.modelToolCallFormat] {
        case "auto": options.toolCalls = .detect
        case let f: options.toolCalls = ToolCallFormat(rawValue: f).map { .format($0) } ?? .refused  // "none"
        }
        options.confidenceThreshold = config[\.confidenceThreshold]
        options.measureAllConfidence = config[\.confidenceMeasureAll]
        return options
    }
}
