import Foundation
import HTTP
import Tokenizer

/// The OpenAI-compatible API of a server whose model is an embedding model:
/// POST /v1/embeddings, GET /v1/models(/{id}), POST /tokenize; the text generation
/// routes answer 400 naming the model.
public final class EmbeddingsAPI: @unchecked Sendable {
    let service: EmbeddingService
    let model: ServedModel
    /// Inputs per request at most (OpenAI allows 2048).
    public var maxInputs = 2048
    /// Tokens of all inputs of one request, as OpenAI's limit (300,000): one request is at most
    /// a few minutes of a CPU's work, and others' inputs are computed between its passes.
    public var maxTotalTokens = 300_000

    public init(service: EmbeddingService, model: ServedModel) {
        self.service = service
        self.model = model
    }

    public func handle(_ route: APIRoute, _ request: HTTPRequest, _ responder: HTTPResponder) {
        do {
            switch route {
            case .embeddings: try embeddings(request, responder)
            case .models:
                responder.respond(.json(try ServedModel.list([modelJSON], query: request.queryItems)))
            case .model:
                let id = request.pathParameters["id"] ?? ""
                guard model.accepts(id) else { throw APIError.modelNotFound(id) }
                responder.respond(.json(modelJSON))
            case .tokenize: try tokenize(request, responder)
            case .detokenize:
                let r = try FieldReader(try OpenAIAPI.parseBody(request))
                if let m = try r.string("model"), !model.accepts(m) { throw APIError.modelNotFound(m) }
                responder.respond(try OpenAIAPI.detokenized(r, model.tokenizer))
            case .completions, .chatCompletions, .responses, .response, .deleteResponse, .responseInputItems, .responseInputTokens, .messages,
                 .countTokens, .applyTemplate, .infill, .llamaCompletion,
                 .loadLoraAdapter, .unloadLoraAdapter, .loraAdapters, .setLoraAdapters:
                // A name this server does not serve is unknown here as on any route (404).
                if let body = try? OpenAIAPI.parseBody(request), let m = try? FieldReader(body).string("model"), !model.accepts(m) {
                    throw APIError.modelNotFound(m)
                }
                throw APIError.invalid("The model `\(model.id)` is an embedding model: it answers POST /v1/embeddings, not \(route.path).",
                                       param: "model", code: "model_not_supported")
            }
        } catch let e as APIError {
            responder.respond(e.response(anthropic: route.isAnthropic))
        } catch {
            responder.respond(APIError.internal("unexpected error: \(error)").response(anthropic: route.isAnthropic))
        }
    }

    /// The answer of a generation server to POST /v1/embeddings.
    public static func notAnEmbeddingModel(_ name: String) -> APIError {
        .invalid("The model `\(name)` generates text: it does not answer POST /v1/embeddings.", param: "model",
                 code: "model_not_supported")
    }

    var modelJSON: JSON {
        model.listed(["id": .string(model.id), "object": "model", "created": JSON(model.created), "owned_by": .string(model.ownedBy),
                      "kind": "embedding", "max_model_len": JSON(model.contextLength), "context_length": JSON(model.contextLength),
                      "dimensions": JSON(service.dimensions), "architecture": model.architecture.map(JSON.string) ?? .null,
                      "quantization": model.quantization.map(JSON.string) ?? .null])
    }

    // MARK: - POST /v1/embeddings

    struct Plan {
        var inputs: [[Int32]]
        var base64: Bool
        var dimensions: Int?
        var tokens: Int { inputs.reduce(0) { $0 + $1.count } }
    }

    /// Parses and checks a body: every error a client can cause is found here, before any work.
    func plan(_ json: JSON) throws -> Plan {
        let r = try FieldReader(json)
        if let m = try r.string("model"), !model.accepts(m) { throw APIError.modelNotFound(m) }
        let truncate = try r.bool("truncate") ?? false
        let base64: Bool
        switch try r.string("encoding_format") ?? "float" {
        case "float": base64 = false
        case "base64": base64 = true
        case let f: throw APIError.invalid("`encoding_format` must be \"float\" or \"base64\", not \"\(f)\".", param: "encoding_format")
        }
        let dims = try r.int("dimensions", 1...max(1, service.dimensions))
        if let d = dims, d != service.dimensions {
            guard service.supportsMatryoshka else {
                throw APIError.invalid("The model `\(model.id)` makes \(service.dimensions)-dimensional vectors and cannot shorten them; omit `dimensions` or give \(service.dimensions).", param: "dimensions")
            }
            guard d < service.dimensions else {
                throw APIError.invalid("`dimensions` must be at most \(service.dimensions) for `\(model.id)`.", param: "dimensions")
            }
        }
        var raw = try inputs(r)
        _ = try r.string("user")
        // As chat and completions: a misspelt field (`dimension`) is a 400, not silently the default.
        try r.refuseUnknown(ignoring: [])
        for i in raw.indices where raw[i].count > model.contextLength {
            guard truncate else {
                throw APIError.invalid("input[\(i)] has \(raw[i].count) tokens, more than the context of \(model.contextLength) of `\(model.id)`; shorten it or send `\"truncate\": true`.", param: "input", code: "context_length_exceeded")
            }
            let sep = model.tokenizer.separatorID
            let ended = raw[i].last == sep
            raw[i] = Array(raw[i].prefix(model.contextLength))
            if ended, let sep { raw[i][raw[i].count - 1] = sep }  // keep [SEP] last, as the model saw in training
        }
        let total = raw.reduce(0) { $0 + $1.count }
        guard total <= maxTotalTokens else {
            throw APIError.invalid("`input` has \(total) tokens in all; at most \(maxTotalTokens) are allowed in one request: split it.",
                                   param: "input", code: "max_tokens_per_request")
        }
        return Plan(inputs: raw, base64: base64, dimensions: dims)
    }

    /// `input`: a string, an array of strings, an array of token ids, or an array of such arrays.
    func inputs(_ r: FieldReader) throws -> [[Int32]] {
        guard let input = r.raw("input") else { throw APIError.invalid("`input` is required.", param: "input") }
        let tok = model.tokenizer
        func ids(_ items: [JSON], _ where_: String) throws -> [Int32] {
            guard !items.isEmpty else { throw APIError.invalid("\(where_) is an empty array of token ids.", param: "input") }
            return try items.map {
                guard let id = $0.tokenID, Int(id) < tok.vocabularySize else {
                    throw APIError.invalid("\(where_) must hold token ids between 0 and \(tok.vocabularySize - 1).", param: "input")
                }
                return id
            }
        }
        // An empty string has nothing to embed (OpenAI refuses it too); a blank one is text.
        func text(_ s: String, _ where_: String) throws -> [Int32] {
            guard !s.isEmpty else { throw APIError.invalid("\(where_) is an empty string.", param: "input") }
            return tok.encode(s, addSpecial: true, parseSpecial: true)
        }
        switch input {
        case let .string(s): return [try text(s, "`input`")]
        case let .array(items):
            guard !items.isEmpty else { throw APIError.invalid("`input` is an empty array.", param: "input") }
            // A flat array of ids is one input of that many tokens (checked against the context later).
            if case .number = items[0] {
                guard items.allSatisfy({ if case .number = $0 { return true }; return false }) else {
                    throw APIError.invalid("`input` mixes token ids with other values: give token ids, strings, or arrays of token ids.", param: "input")
                }
                return [try ids(items, "`input`")]
            }
            guard items.count <= maxInputs else {
                throw APIError.invalid("`input` has \(items.count) items; at most \(maxInputs) are allowed.", param: "input")
            }
            // One kind throughout, as OpenAI's schema has it: strings, or arrays of token ids.
            switch items[0] {
            case .string:
                return try items.enumerated().map { i, item in
                    guard case let .string(s) = item else {
                        throw APIError.invalid("input[\(i)] must be a string, as input[0] is (an array holds strings or arrays of token ids, not both).", param: "input")
                    }
                    return try text(s, "input[\(i)]")
                }
            case .array:
                return try items.enumerated().map { i, item in
                    guard case let .array(a) = item else {
                        throw APIError.invalid("input[\(i)] must be an array of token ids, as input[0] is (an array holds strings or arrays of token ids, not both).", param: "input")
                    }
                    return try ids(a, "input[\(i)]")
                }
            default: throw APIError.invalid("`input` must be a string, an array of strings, or token ids.", param: "input")
            }
        default: throw APIError.invalid("`input` must be a string, an array of strings, or token ids.", param: "input")
        }
    }

    func embeddings(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        let plan = try plan(try OpenAIAPI.parseBody(request))
        let name = model.id
        service.embed(plan.inputs, cancelled: { responder.isCancelled }) { result in
            switch result {
            case let .success(vectors):
                responder.respond(Self.response(vectors, plan: plan, model: name))
            case let .failure(e as EmbeddingQueueFull):
                responder.respond(APIError.queueFull(e.description).response)
            case let .failure(e as APIError):
                responder.respond(e.response)
            case let .failure(e):
                responder.respond(APIError.internal("embedding failed: \(e)").response)
            }
        }
    }

    /// The OpenAI list of embeddings, written directly: each float in its shortest form.
    static func response(_ vectors: [[Float]], plan: Plan, model: String) -> HTTPResponse {
        var out = "{\"object\":\"list\",\"data\":["
        out.reserveCapacity(vectors.count * (plan.base64 ? 4200 : 8000))
        for (i, full) in vectors.enumerated() {
            var v = full
            if let d = plan.dimensions, d < v.count { v = renormalized(Array(v.prefix(d))) }
            out += i == 0 ? "" : ","
            out += "{\"object\":\"embedding\",\"index\":\(i),\"embedding\":"
            if plan.base64 {
                // Little-endian float32 bytes, as OpenAI's base64 encoding is decoded (numpy frombuffer float32).
                var bytes: [UInt8] = []
                bytes.reserveCapacity(4 * v.count)
                for x in v { withUnsafeBytes(of: x.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
                out += "\"" + Data(bytes).base64EncodedString() + "\""
            } else {
                out += "["
                for (j, x) in v.enumerated() {
                    if j > 0 { out += "," }
                    out += x.isFinite ? "\(x)" : "0"
                }
                out += "]"
            }
            out += "}"
        }
        let tokens = plan.tokens
        out += "],\"model\":" + JSON.string(model).serialized
        out += ",\"usage\":{\"prompt_tokens\":\(tokens),\"total_tokens\":\(tokens)}}"
        var h = HTTPHeaders()
        h.add(name: "Content-Type", value: "application/json")
        return HTTPResponse(status: .ok, headers: h, body: Array(out.utf8))
    }

    static func renormalized(_ v: [Float]) -> [Float] {
        let n = v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        return n > 0 ? v.map { Float(Double($0) / n) } : v
    }

    // MARK: - POST /tokenize

    func tokenize(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        let r = try FieldReader(try OpenAIAPI.parseBody(request))
        if let m = try r.string("model"), !model.accepts(m) { throw APIError.modelNotFound(m) }
        let q = try TokenizeRequest(r)
        guard let raw = q.raw else {
            throw APIError.invalid("The model `\(model.id)` is an embedding model: it has no chat template for `messages`; give `content` (or `prompt`).",
                                   param: "messages")
        }
        let ids = model.tokenizer.encode(raw.text, addSpecial: raw.addSpecial, parseSpecial: raw.parseSpecial)
        responder.respond(OpenAIAPI.tokenized(ids, model.tokenizer, withPieces: q.withPieces,
                                              contextLength: model.contextLength))
    }
}
