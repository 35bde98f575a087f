import Engine
import Foundation
import Grammar
import HTTP
import Tokenizer

/// Bounds on what one request may ask for, enforced before any work starts.
public struct APILimits: Sendable {
    public var maxLogprobs = 20
    public var maxPrompts = 64
    public var maxMessages = 1024
    public var maxN = 16
    public var maxStops = 4
    public var maxStopLength = 512
    public var maxLogitBias = 300
    public var maxTokens = Int(Int32.max)
    public init() {}
}

/// How the API serves, beyond the model and the limits; fixed when the API is made.
public struct APIOptions: Sendable {
    /// How requests with tools are read: in the format found in the chat template, in a given
    /// one, or not at all (they are refused).
    public enum ToolCalls: Sendable { case detect, format(ToolCallFormat), refused }

    public var observer: APIObserver?
    public var logPrompts = false
    /// Seconds a stream may stay paused because its client does not read before it is ended.
    public var slowReaderTimeout: Double = 30
    /// Compiled structured-output grammars for this model's vocabulary (ResponseFormat.swift);
    /// nil: each constrained request builds its own.
    public var grammars: GrammarCache?
    public var toolCalls = ToolCalls.detect
    /// Tokens less likely than this are low-confidence (ratio and spans).
    public var confidenceThreshold = 0.3
    /// Measure every answer's confidence (for the answer metrics), not only those whose request asks.
    public var measureAllConfidence = true
    /// LoRA adapters requests may choose (LoraEndpoints.swift); nil: none.
    public var lora: LoraRegistry?
    /// Finished Responses API answers, shared by the process's models; nil: none kept.
    public var responseStore: ResponseStore?
    public init() {}
}

/// The OpenAI-compatible endpoints, on top of an inference service.
public final class OpenAIAPI: Sendable {
    let service: InferenceService
    let model: ServedModel
    let limits: APILimits
    let fingerprint: String
    let template: ChatTemplate
    let observer: APIObserver?
    let logPrompts: Bool
    let slowReaderTimeout: Double
    let grammars: GrammarCache?
    /// How the served model writes tool calls (`APIOptions.toolCalls`); nil: requests with
    /// tools are refused (ToolPlan.swift).
    let toolCallFormat: ToolCallFormat?
    /// Grammars of forced tool calls (`tool_choice` required or named).
    let toolGrammars = ToolGrammarCache()
    let confidenceThreshold: Double
    let measureAllConfidence: Bool
    public let lora: LoraRegistry?
    let responseStore: ResponseStore?

    /// Whether the requests of a call measure confidence, and the threshold the job uses.
    func confidenceThreshold(requested: Bool) -> Double? {
        requested || measureAllConfidence ? confidenceThreshold : nil
    }

    public init(service: InferenceService, model: ServedModel, limits: APILimits = .init(), version: String,
                options: APIOptions = .init()) {
        self.service = service
        self.model = model
        self.limits = limits
        fingerprint = "fp_jeton_" + version
        template = ChatTemplate(source: model.chatTemplate, tokenizer: model.tokenizer)
        observer = options.observer
        logPrompts = options.logPrompts
        slowReaderTimeout = options.slowReaderTimeout
        grammars = options.grammars
        switch options.toolCalls {
        case .detect: toolCallFormat = ToolCallFormat.detect(template: model.chatTemplate)
        case let .format(f): toolCallFormat = f
        case .refused: toolCallFormat = nil
        }
        confidenceThreshold = options.confidenceThreshold
        measureAllConfidence = options.measureAllConfidence
        lora = options.lora
        responseStore = options.responseStore
    }

    /// Answers a request on any route; a generation model has no embeddings.
    public func handle(_ route: APIRoute, _ request: HTTPRequest, _ responder: HTTPResponder) {
        let body: (HTTPRequest, HTTPResponder) throws -> Void
        switch route {
        case .completions: body = completions
        case .chatCompletions: body = chatCompletions
        case .responses: body = responses
        case .response: body = { [self] request, responder in try getResponse(request, responder) }
        case .deleteResponse: body = deleteResponse
        case .responseInputItems: body = responseInputItems
        case .responseInputTokens: body = countResponseTokens
        case .messages: body = messages
        case .countTokens: body = countMessageTokens
        case .models: body = models
        case .model: body = modelInfo
        case .tokenize: body = tokenize
        case .detokenize: body = detokenize
        case .applyTemplate: body = applyTemplate
        case .embeddings: body = { [self] request, _ in
            // A name this server does not serve is unknown here as on any route (404).
            let r = try FieldReader(try Self.parseBody(request))
            if let m = try r.string("model"), !model.accepts(m), lora?.adapter(named: m) == nil { throw APIError.modelNotFound(m) }
            throw EmbeddingsAPI.notAnEmbeddingModel(model.id)
        }
        case .loadLoraAdapter: body = loadLoraAdapter
        case .unloadLoraAdapter: body = unloadLoraAdapter
        case .loraAdapters: body = loraAdapterScales
        case .setLoraAdapters: body = setLoraAdapterScales
        case .infill: body = infill
        case .llamaCompletion: body = llamaCompletion
        }
        let responsesRoute = route == .responses || route == .responseInputTokens
        let promptParam = route == .chatCompletions || route.isAnthropic ? "messages" : responsesRoute ? "input" : "prompt"
        run(body, request, responder, promptParam: promptParam, maxTokensParam: responsesRoute ? "max_output_tokens" : "max_tokens",
            anthropic: route.isAnthropic)
    }

    /// Runs a throwing handler: any error becomes the OpenAI envelope (Anthropic's on its routes),
    /// here and only here.
    func run(_ body: (HTTPRequest, HTTPResponder) throws -> Void, _ request: HTTPRequest, _ responder: HTTPResponder,
             promptParam: String = "prompt", maxTokensParam: String = "max_tokens", anthropic: Bool = false) {
        do {
            try body(request, responder)
        } catch let e as APIError {
            responder.respond(e.response(anthropic: anthropic))
        } catch let e as SubmissionError {
            responder.respond(Self.map(e, promptParam: promptParam, maxTokensParam: maxTokensParam).response(anthropic: anthropic))
        } catch {
            responder.respond(APIError.internal("unexpected error: \(error)").response(anthropic: anthropic))
        }
    }

    /// `promptParam`: the field that holds the prompt (`messages` for chat), named when the
    /// prompt alone fills the context (else `maxTokensParam`, the endpoint's name for `max_tokens`,
    /// is what to lower).
    static func map(_ e: SubmissionError, promptParam: String = "prompt", maxTokensParam: String = "max_tokens") -> APIError {
        switch e {
        case let .contextExceeded(p, _, c), let .cacheTooSmall(p, _, c):
            let message = maxTokensParam == "max_tokens" ? e.description : e.description.replacingOccurrences(of: "max_tokens", with: maxTokensParam)
            return .invalid(message, param: p >= c ? promptParam : maxTokensParam, code: "context_length_exceeded")
        case .emptyPrompt, .invalidToken: return .invalid(e.description, param: "prompt")
        case .duplicateID: return .internal(e.description)
        case .shuttingDown: return .unavailable(e.description, retryAfter: 1)
        case .queueFull:
            return .queueFull(e.description)
        }
    }

    /// The body as JSON, after checking its media type (the embeddings endpoint's too).
    static func parseBody(_ request: HTTPRequest) throws -> JSON {
        // One value only (RFC 9110 5.3: Content-Type is a singleton): with two different ones, which
        // the body follows is anyone's guess, so neither is taken (the same line twice, as `curl -H`
        // given twice sends, is one value).
        let types = Set(request.headers.values(name: "Content-Type").map { $0.trimmingCharacters(in: .whitespaces).lowercased() })
        if types.count > 1 {
            throw APIError.invalid("The request has \(types.count) different Content-Type header fields; send one.", code: "invalid_content_type")
        }
        if let ct = request.headers["Content-Type"] {
            let media = ct.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            // JSON's own type, its older `text/json` and a `+json` suffix (RFC 6839). Form and
            // plain-text bodies stay refused: a web page may post those to a local server without
            // asking (no CORS preflight), JSON it may not.
            guard media == "application/json" || media == "text/json" || (media.hasPrefix("application/") && media.hasSuffix("+json")) else {
                let hint = media == "application/x-www-form-urlencoded" ? " (`curl -d` sends that: add `-H 'Content-Type: application/json'`)" : ""
                throw APIError(.unsupportedMediaType,
                               message: "Content-Type must be application/json, got \(ct)\(hint).", code: "unsupported_media_type")
            }
        }
        guard !request.body.isEmpty else { throw APIError.invalid("The request body is empty; send a JSON object.") }
        do {
            return try JSON.parseExplained(request.body)
        } catch {
            // Valid JSON nested past the limit is told apart from broken JSON.
            if let e = error as? GrammarError, e.kind == .tooLarge {
                throw APIError.invalid("The request body is nested more than \(JSON.maxDepth) levels deep.", code: "invalid_json")
            }
            throw APIError.invalid("The request body is not valid JSON (\(error)).", code: "invalid_json")
        }
    }

    /// Checks that every request can be admitted, before a stream starts.
    /// A prompt's last `k` tokens (vLLM's `truncate_prompt_tokens`), for clients that would rather
    /// lose a long prompt's start than get a 400; -1: as many as fit in the context (and KV cache)
    /// beside the `answer` tokens asked for.
    func truncatedPrompt(_ ids: [Int32], _ k: Int?, answer: Int) throws -> [Int32] {
        guard let k else { return ids }
        let context = service.contextLength
        guard k <= context else {
            throw APIError.invalid("`truncate_prompt_tokens` (\(k)) is more than the model's context length (\(context)).", param: "truncate_prompt_tokens")
        }
        let room = min(context, service.cacheCapacity)
        guard k != -1 || answer < room else {
            throw APIError.invalid("`max_tokens` (\(answer)) leaves no room in the context (\(room) tokens) for any of the prompt.", param: "max_tokens")
        }
        return Array(ids.suffix(k == -1 ? room - answer : k))
    }

    func check(_ requests: [GenerationRequest]) throws {
        for r in requests {
            if let e = SubmissionError.limit(prompt: r.promptTokens.count, maxTokens: r.maxTokens,
                                             context: service.contextLength, cache: service.cacheCapacity) { throw e }
        }
    }

    /// Submits all of a job's requests, or none: on a failure the submitted ones are aborted.
    /// A whole answer whose generation the server ended (the end of a drain): a 503 the client
    /// can retry elsewhere, not a 200 with part of a text. (A client that left reads nothing.)
    static let abortedAnswer = APIError.serverEnded

    /// A request making more generations (choices × prompts) than the queue holds could never
    /// be admitted: a 400 naming the field, not a 429 to retry for ever.
    func checkQueueRoom(_ generations: Int, param: String, countName: String = "n") throws {
        let room = service.maxWaiting
        guard generations <= room else {
            throw APIError.invalid("This request makes \(generations) generations (`\(countName)` for each prompt), more than this server admits at once (engine.max_waiting plus engine.max_sequences: \(room)).",
                                   param: param)
        }
    }

    /// What tells the observer (access log, metrics) a generation job ended: its route, the prompt
    /// tokens of one choice, and the adapter chosen by name.
    func reporter(_ responder: HTTPResponder, route: APIRoute, stream: Bool, prompt: String?, adapter: String?,
                  promptTokens: @escaping (GenerationJob) -> Int) -> (GenerationJob) -> Void {
        { [weak self] job in
            guard let self, let o = observer else { return }
            var r = job.report(requestID: responder.requestID, endpoint: route.path, model: model.id,
                               stream: stream, promptTokens: promptTokens(job), prompt: prompt)
            r.adapter = adapter
            o.generationFinished(r)
        }
    }

    func submitAll(_ requests: [GenerationRequest], job: GenerationJob) throws {
        do { try service.submitTogether(requests.enumerated().map { ($1, job.sink(for: $0)) }) } catch {
            // Failed first, so the aborts of any choices already in find them ended.
            job.markFailed()
            job.cancel()
            throw error
        }
    }

    /// Submits a stream's requests before its head goes out, so a refusal (the queue is full: 429
    /// with Retry-After) is a status a client or a load balancer acts on, as for a whole answer,
    /// not an error event inside a 200. Thrown errors are the handler's to answer. The job's
    /// output waits until `start` has written the head and the first chunks.
    func submitStream(_ requests: [GenerationRequest], job: GenerationJob, responder: HTTPResponder,
                      start: () -> Void) throws {
        job.holdOutput()
        defer { job.releaseOutput() }
        try submitAll(requests, job: job)
        responder.onCancel { job.cancel() }
        start()
    }

    /// Why the chat template cannot render the simplest conversation (one user
    /// message), or nil when it can: checked at load, so a broken template stops
    /// start-up instead of failing every chat request. (Some templates refuse a
    /// system role on purpose; that stays a 400 for the request that sends one.)
    public func chatTemplateProblem() -> String? {
        do {
            _ = try template.render([.init(role: "user", content: "Hello")], addGenerationPrompt: true)
            return nil
        } catch let e as APIError {
            return e.message
        } catch {
            return "\(error)"
        }
    }

    /// Parses and checks a request body exactly as the endpoint of `route` would,
    /// without generating: nil when valid, else the error a client would get.
    /// For fuzzing and tests (generation routes); a crash here is a bug.
    public func validate(_ route: APIRoute, body: [UInt8]) -> APIError? {
        do {
            guard let json = JSON.parse(body) else { throw APIError.invalid("The request body is not valid JSON.") }
            switch route {
            case .completions:
                let plan = try completionPlan(json)
                if plan.opts.stream { try check(plan.requests) }
            case .chatCompletions:
                let plan = try chatPlan(json)
                do { if plan.opts.stream { try check(plan.requests) } } catch let e as SubmissionError {
                    return Self.map(e, promptParam: "messages")
                }
            case .responseInputTokens:
                _ = try responsesPlan(json)
            case .infill:
                _ = try infillPlan(json)
            case .llamaCompletion:
                _ = try llamaCompletionPlan(json)
            case .responses:
                let plan = try responsesPlan(json)
                do { if plan.chat.opts.stream { try check(plan.chat.requests) } } catch let e as SubmissionError {
                    return Self.map(e, promptParam: "input", maxTokensParam: "max_output_tokens")
                }
            case .messages, .countTokens:
                let plan = try messagesPlan(json, counting: route == .countTokens)
                do { if plan.chat.opts.stream { try check(plan.chat.requests) } } catch let e as SubmissionError {
                    return Self.map(e, promptParam: "messages")
                }
            case .models, .model, .tokenize, .detokenize, .applyTemplate, .embeddings, .loadLoraAdapter, .unloadLoraAdapter, .loraAdapters,
                 .setLoraAdapters, .response,
                 .deleteResponse, .responseInputItems:
                throw APIError.notFound("\(route.path) has no generation body to validate.")
            }
            return nil
        } catch let e as APIError {
            return e
        } catch let e as SubmissionError {
            return Self.map(e)
        } catch {
            return APIError.internal("\(error)")
        }
    }

    static func randomID() -> String {
        var g = SystemRandomNumberGenerator()
        return (0..<24).map { _ in String("0123456789abcdefghijklmnopqrstuvwxyz".randomElement(using: &g)!) }.joined()
    }
}
