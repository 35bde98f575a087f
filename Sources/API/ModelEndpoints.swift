import HTTP
import Tokenizer

/// GET /v1/models, GET /v1/models/{id}, POST /tokenize, POST /detokenize.
extension OpenAIAPI {
    var modelJSON: JSON {
        model.listed(["id": .string(model.id), "object": "model", "created": JSON(model.created), "owned_by": .string(model.ownedBy),
                      "kind": "generation", "max_model_len": JSON(model.contextLength), "context_length": JSON(model.contextLength),
                      "architecture": model.architecture.map(JSON.string) ?? .null,
                      "quantization": model.quantization.map(JSON.string) ?? .null])
    }

    func models(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        responder.respond(.json(try ServedModel.list([modelJSON] + loraModelsJSON, query: request.queryItems)))
    }

    func modelInfo(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        let id = request.pathParameters["id"] ?? ""
        if !model.accepts(id), let a = loraModelsJSON.first(where: { $0["id"] == .string(id) }) {
            return responder.respond(.json(a))
        }
        guard model.accepts(id) else { throw APIError.modelNotFound(id) }
        responder.respond(.json(modelJSON))
    }

    /// The ids of a text (`TokenizeRequest`), or of the prompt a chat request with the same
    /// `messages` and `tools` would have; the answer carries both APIs' fields.
    func tokenize(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        let r = try FieldReader(try Self.parseBody(request))
        try checkModelField(r)
        let q = try TokenizeRequest(r)
        let t = model.tokenizer
        let ids: [Int32]
        if let raw = q.raw {
            ids = t.encode(raw.text, addSpecial: raw.addSpecial, parseSpecial: raw.parseSpecial)
        } else {
            // Tools are rendered too.
            let prompt = try chatPrompt(r, tools: try toolPlan(r, body: request.body, generating: false))
            if q.parseSpecial == false {
                // Every control token as text, the template's too: what the switch says.
                ids = t.encode(prompt.text, addSpecial: q.addSpecial ?? false, parseSpecial: false)
            } else if let special = q.addSpecial {
                // Exactly what it says, rather than the ids a chat request would have.
                ids = t.encode(prompt.text, addSpecial: special, plain: prompt.plain)
            } else {
                ids = chatPromptIDs(prompt)
            }
        }
        responder.respond(Self.tokenized(ids, t, withPieces: q.withPieces, contextLength: model.contextLength))
    }

    /// The answer to POST /tokenize (generation and embedding models alike): the ids, or with
    /// `withPieces` each id with its text, as llama-server gives them.
    static func tokenized(_ ids: [Int32], _ t: Tokenizer, withPieces: Bool, contextLength: Int) -> HTTPResponse {
        // A piece that is part of a character is its bytes, as llama-server gives it (text would
        // read U+FFFD).
        func piece(_ id: Int32) -> JSON {
            let b = t.tokenBytes(id)
            return String(validating: b, as: UTF8.self).map(JSON.string) ?? .array(b.map { JSON(Int($0)) })
        }
        let tokens: [JSON] = withPieces ? ids.map { ["id": JSON(Int($0)), "piece": piece($0)] } : ids.map { JSON(Int($0)) }
        return .json(["tokens": .array(tokens), "count": JSON(ids.count), "max_model_len": JSON(contextLength)])
    }

    func detokenize(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        let r = try FieldReader(try Self.parseBody(request))
        try checkModelField(r)
        responder.respond(try Self.detokenized(r, model.tokenizer))
    }

    /// A `model` field, when given, names this model or one of its adapters (else 404).
    private func checkModelField(_ r: FieldReader) throws {
        if let m = try r.string("model"), !model.accepts(m), lora?.adapter(named: m) == nil { throw APIError.modelNotFound(m) }
    }

    /// POST /apply-template (llama-server's): the prompt a chat request with the same
    /// `messages` (and `tools`) would have, as text, without generating.
    func applyTemplate(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        let r = try FieldReader(try Self.parseBody(request))
        try checkModelField(r)
        let tools = try toolPlan(r, body: request.body, generating: false)
        responder.respond(.json(["prompt": .string(try chatPrompt(r, tools: tools).text)]))
    }

    /// The answer to POST /detokenize (generation and embedding models alike): the text of `tokens`.
    static func detokenized(_ r: FieldReader, _ t: Tokenizer) throws -> HTTPResponse {
        guard case let .array(items)? = r.raw("tokens") else {
            throw APIError.invalid("`tokens` must be an array of token ids.", param: "tokens")
        }
        let ids: [Int32] = try items.map {
            guard let id = $0.tokenID, Int(id) < t.vocabularySize else {
                throw APIError.invalid("`tokens` must hold token ids between 0 and \(t.vocabularySize - 1).", param: "tokens")
            }
            return id
        }
        let text = t.decode(ids)
        return .json(["content": .string(text), "prompt": .string(text)])
    }
}
