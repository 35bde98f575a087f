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
    public var slowReaderTimeout: Double = 60
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
    let lora: LoraRegistry?

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
    }

    /// The API's routes, so a server can register them before the model is loaded.
    public static let routeNames: [(method: String, path: String)] = [
        ("POST", "/v1/completions"), ("POST", "/v1/chat/completions"), ("GET", "/v1/models"),
        ("GET", "/v1/models/{id}"), ("POST", "/tokenize"), ("POST", "/detokenize"),
    ] + loraRoutes

    /// Answers a request routed to one of `routeNames`.
    public func handle(method: String, path: String, _ request: HTTPRequest, _ responder: HTTPResponder) {
        let body: (HTTPRequest, HTTPResponder) throws -> Void
        switch path {
        case "/v1/completions": body = completions
        case "/v1/chat/completions": body = chatCompletions
        case "/v1/models": body = models
        case "/v1/models/{id}": body = modelInfo
        case "/tokenize": body = tokenize
        case "/detokenize": body = detokenize
        case "/v1/load_lora_adapter": body = loadLoraAdapter
        case "/v1/unload_lora_adapter": body = unloadLoraAdapter
        default: body = { _, _ in throw APIError.notFound("No route for \(method) \(path).") }
        }
        run(body, request, responder)
    }

    /// Runs a throwing handler: any error becomes the OpenAI envelope, here and only here.
    func run(_ body: (HTTPRequest, HTTPResponder) throws -> Void, _ request: HTTPRequest, _ responder: HTTPResponder) {
        do {
            try body(request, responder)
        } catch let e as APIError {
            responder.respond(e.response)
        } catch let e as SubmissionError {
            responder.respond(Self.map(e).response)
        } catch {
            responder.respond(APIError.internal("unexpected error: \(error)").response)
        }
    }

    static func map(_ e: SubmissionError) -> APIError {
        switch e {
        case .contextExceeded: return .invalid(e.description, param: "max_tokens", code: "context_length_exceeded")
        case .cacheTooSmall: return .invalid(e.description, param: "max_tokens", code: "context_length_exceeded")
        case .emptyPrompt, .invalidToken: return .invalid(e.description, param: "prompt")
        case .duplicateID: return .internal(e.description)
        case .shuttingDown: return .unavailable(e.description, retryAfter: 1)
        case .queueFull:
            return APIError(status: 429, type: "rate_limit_error", message: e.description, code: "queue_full", retryAfter: 1)
        }
    }

    /// The body as JSON, after checking its media type (the embeddings endpoint's too).
    static func parseBody(_ request: HTTPRequest) throws -> JSON {
        if let ct = request.headers["Content-Type"] {
            let media = ct.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
            guard media == "application/json" else {
                throw APIError(status: 415, type: "invalid_request_error",
                               message: "Content-Type must be application/json, got \(ct).", code: "unsupported_media_type")
            }
        }
        guard !request.body.isEmpty else { throw APIError.invalid("The request body is empty; send a JSON object.") }
        guard let json = JSON.parse(request.body) else {
            throw APIError.invalid("The request body is not valid JSON.", code: "invalid_json")
        }
        return json
    }

    /// Checks that every request can be admitted, before a stream starts.
    func check(_ requests: [GenerationRequest]) throws {
        for r in requests {
            let need = r.promptTokens.count + r.maxTokens
            if need > service.contextLength {
                throw SubmissionError.contextExceeded(prompt: r.promptTokens.count, maxTokens: r.maxTokens, context: service.contextLength)
            }
            if need > service.cacheCapacity { throw SubmissionError.cacheTooSmall(needed: need, capacity: service.cacheCapacity) }
        }
    }

    /// Submits all of a job's requests, or none: on a failure the submitted ones are aborted.
    func submitAll(_ requests: [GenerationRequest], job: GenerationJob) throws {
        for (i, r) in requests.enumerated() {
            do { try service.submit(r, sink: job.sink(for: i)) } catch {
                job.cancel()
                throw error
            }
        }
    }

    /// Submits for a stream already started: a failure becomes an error event.
    func streamSubmit(_ requests: [GenerationRequest], job: GenerationJob, responder: HTTPResponder) {
        do {
            try submitAll(requests, job: job)
            responder.onCancel { job.cancel() }
        } catch {
            let e = (error as? SubmissionError).map(Self.map) ?? APIError.internal("\(error)")
            responder.write(SSE.event(e.json))
            responder.write(SSE.done)
            responder.end()
        }
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

    /// Parses and checks a request body exactly as the endpoint at `path` would,
    /// without generating: nil when valid, else the error a client would get.
    /// For fuzzing and tests; a crash here is a bug.
    public func validate(path: String, body: [UInt8]) -> APIError? {
        do {
            guard let json = JSON.parse(body) else { throw APIError.invalid("The request body is not valid JSON.") }
            switch path {
            case "/v1/completions":
                let plan = try completionPlan(json)
                if plan.opts.stream { try check(plan.requests) }
            case "/v1/chat/completions":
                let plan = try chatPlan(json)
                if plan.opts.stream { try check(plan.requests) }
            default:
                throw APIError.notFound("No route for \(path).")
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
