import HTTP

/// The API of a server with one or several models: each request goes to the model its
/// `model` field names (ids and aliases). One model: everything goes to it, as before
/// there were several (its API checks the name itself). Several: an unknown name is a
/// 404, and a generation request to an embedding model (or the reverse) a 400 naming it.
public final class ModelRouter: Sendable {
    public enum Served: Sendable {
        case generation(OpenAIAPI)
        case embedding(EmbeddingsAPI)
    }

    public let table: ModelTable
    let apis: [Served]

    public init(_ apis: [Served]) throws {
        self.apis = apis
        table = try ModelTable(apis.map { api in
            let m = api.model
            return ModelTable.Row(id: m.id, aliases: m.aliases.sorted(), kind: api.kind)
        })
        // An adapter loaded at run time under a model's name or alias would never be reached.
        let names = Set(table.rows.flatMap { [$0.id] + $0.aliases })
        for case let .generation(a) in apis { a.lora?.reserve(names) }
    }

    /// Answers a request; `routed` learns the id of the model that got it (nil: none did).
    public func handle(_ route: APIRoute, _ request: HTTPRequest, _ responder: HTTPResponder,
                       routed: (String?) -> Void = { _ in }) {
        do {
            let chosen = try target(of: route, request)
            routed(chosen.map { table.rows[$0.index].id })
            guard let chosen else { return try listModels(request, responder) }
            // One model's API answers a wrong-kind request itself.
            if apis.count > 1 { try checkKind(route, chosen.index, named: chosen.name ?? table.rows[chosen.index].id) }
            let target = chosen.index
            switch apis[target] {
            case let .generation(api):
                api.handle(route, request, responder)
            case let .embedding(api):
                api.handle(route, request, responder)
            }
        } catch let e as APIError {
            responder.respond(e.response(anthropic: route.isAnthropic))
        } catch {
            responder.respond(APIError.internal("unexpected error: \(error)").response(anthropic: route.isAnthropic))
        }
    }

    /// The model a request goes to and the name it gave; nil for the list of all models.
    func target(of route: APIRoute, _ request: HTTPRequest) throws -> (index: Int, name: String?)? {
        if apis.count == 1 { return route == .models ? nil : (0, nil) }
        switch route {
        case .models: return nil
        case .model:
            let id = request.pathParameters["id"] ?? ""
            guard let i = resolve(id) else { throw APIError.modelNotFound(id) }
            return (i, id)
        case .loadLoraAdapter, .unloadLoraAdapter, .loraAdapters, .setLoraAdapters, .response, .deleteResponse, .responseInputItems:
            // Adapters belong to the first generation model (lora.adapters), and its API holds the
            // process's kept responses as every model's does; with none, the request is refused as
            // one for the wrong kind of model.
            return (table.fallback(for: .generation), nil)
        case .completions, .chatCompletions, .responses, .responseInputTokens, .messages, .countTokens, .tokenize, .detokenize, .applyTemplate,
             .embeddings, .infill, .llamaCompletion:
            // The body is parsed here and again by the model's API: requests are small next to their work.
            let r = try FieldReader(try OpenAIAPI.parseBody(request))
            let need = ModelTable.kind(of: route)
            guard let name = try r.string("model") else { return (table.fallback(for: need), nil) }
            // `default` is the first model of each kind (unless a model has that id), as no `model` is.
            if name == "default" && !table.rows.contains(where: { $0.id == name }) {
                return (table.fallback(for: need), name)
            }
            guard let i = resolve(name) else { throw APIError.modelNotFound(name) }
            return (i, name)
        }
    }

    /// A model of the wrong kind for the endpoint: refused (after the request is counted as its).
    func checkKind(_ route: APIRoute, _ i: Int, named name: String) throws {
        guard let need = ModelTable.kind(of: route), table.rows[i].kind != need else { return }
        throw APIError.invalid(need == .embedding
            ? "The model `\(name)` generates text: it does not answer POST /v1/embeddings; use an embedding model (GET /v1/models lists each model's kind)."
            : "The model `\(name)` is an embedding model: it answers POST /v1/embeddings, not \(route.path).",
            param: "model", code: "model_not_supported")
    }

    /// A model's index by its id or an alias, else the generation model holding a LoRA adapter
    /// of that name (adapters load at run time, so they are not in the table).
    func resolve(_ name: String) -> Int? {
        table.resolve(name) ?? apis.firstIndex { api in
            if case let .generation(a) = api { return a.lora?.adapter(named: name) != nil }
            return false
        }
    }

    func listModels(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        let data = apis.flatMap { api -> [JSON] in
            if case let .generation(a) = api { return [a.modelJSON] + a.loraModelsJSON }
            return [api.modelJSON]
        }
        responder.respond(.json(try ServedModel.list(data, query: request.queryItems)))
    }
}

extension ModelRouter.Served {
    var model: ServedModel {
        switch self {
        case let .generation(a): return a.model
        case let .embedding(a): return a.model
        }
    }

    var kind: ModelTable.Kind {
        switch self {
        case .generation: return .generation
        case .embedding: return .embedding
        }
    }

    var modelJSON: JSON {
        switch self {
        case let .generation(a): return a.modelJSON
        case let .embedding(a): return a.modelJSON
        }
    }
}
