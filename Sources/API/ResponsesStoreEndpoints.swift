import HTTP

/// GET and DELETE /v1/responses/{id} and GET /v1/responses/{id}/input_items: the answers the
/// process's `ResponseStore` keeps. An id it does not hold (never made here, `store: false`,
/// deleted, or dropped as the least recently used) is a 404, as OpenAI answers an unknown one.
extension OpenAIAPI {
    static func responseNotFound(_ id: String) -> APIError {
        APIError(.notFound, message: "No response with id '\(id)' found (responses are kept in memory by the replica that answered them, the least recently used dropped first).",
                 param: "response_id", code: "response_not_found")
    }

    func getResponse(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        for (name, value) in request.queryItems where name == "stream" && value == "true" {
            throw APIError.invalid("`stream` is not supported here: a response is streamed on the request that makes it.", param: "stream")
        }
        let id = request.pathParameters["id"] ?? ""
        guard let store = responseStore, let text = store.response(id, owner: store.owner(of: request)) else { throw Self.responseNotFound(id) }
        var h = HTTPHeaders()
        h.add(name: "Content-Type", value: "application/json")
        responder.respond(HTTPResponse(status: .ok, headers: h, body: text))
    }

    /// POST /v1/responses/input_tokens: the prompt tokens a Responses request would have (its
    /// `instructions`, the conversation it continues, `input`, tools and format, after `truncation`),
    /// without generating.
    func countResponseTokens(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        let plan = try responsesPlan(try Self.parseBody(request), owner: responseStore?.owner(of: request) ?? "")
        responder.respond(.json(["object": "response.input_tokens", "input_tokens": JSON(plan.chat.ids.count)]))
    }

    func deleteResponse(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        let id = request.pathParameters["id"] ?? ""
        guard let store = responseStore, store.delete(id, owner: store.owner(of: request)) else { throw Self.responseNotFound(id) }
        responder.respond(.json(["id": .string(id), "object": "response", "deleted": true]))
    }

    /// The request's input items, newest first unless `order=asc`; `limit` (1-100, 20) a page,
    /// `after` an item id to go on from.
    func responseInputItems(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        let id = request.pathParameters["id"] ?? ""
        guard let store = responseStore, let items = store.inputItems(id, owner: store.owner(of: request)) else { throw Self.responseNotFound(id) }
        var limit = 20, ascending = false
        var after: String?
        for (name, value) in request.queryItems {
            switch name {
            case "limit":
                guard let n = Int(value), (1...100).contains(n) else {
                    throw APIError.invalid("`limit` must be an integer from 1 to 100, got \"\(value)\".", param: "limit")
                }
                limit = n
            case "order":
                guard value == "asc" || value == "desc" else { throw APIError.invalid("`order` must be \"asc\" or \"desc\".", param: "order") }
                ascending = value == "asc"
            case "after": after = value
            default: break  // `include[]` asks for parts of built-in tools' items, which are never here
            }
        }
        var ordered = ascending ? items : items.reversed()
        if let after {
            guard let k = ordered.firstIndex(where: { $0["id"] == .string(after) }) else {
                throw APIError.invalid("`after` names no input item of this response: '\(after)'.", param: "after")
            }
            ordered.removeFirst(k + 1)
        }
        let page = Array(ordered.prefix(limit))
        responder.respond(.json(["object": "list", "data": .array(page), "first_id": page.first?["id"] ?? .null,
                                 "last_id": page.last?["id"] ?? .null, "has_more": .bool(ordered.count > limit)]))
    }
}
