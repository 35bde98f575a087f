import Jinja

/// The tool parts of chat messages: an assistant turn's `tool_calls` and a `tool` turn's
/// `tool_call_id`, checked and shaped as chat templates read them (transformers' form:
/// `function.arguments` parsed into an object, since templates write it with `tojson`).
enum ToolMessages {
    /// `messages[i].tool_calls`, or nil when absent; the ids go to `ids`.
    static func toolCalls(_ m: FieldReader, param: String, ids: inout Set<String>) throws -> [Value]? {
        guard let raw = m.raw("tool_calls") else { return nil }
        guard case let .array(items) = raw else {
            throw APIError.invalid("`\(param).tool_calls` must be an array of tool calls.", param: "\(param).tool_calls")
        }
        return try items.enumerated().map { j, item in
            let p = "\(param).tool_calls[\(j)]"
            guard case .object = item else { throw APIError.invalid("`\(p)` must be an object.", param: p) }
            let c = try FieldReader(item)
            guard case let .string(id)? = c.raw("id"), !id.isEmpty else {
                throw APIError.invalid("`\(p).id` is required and must be a non-empty string.", param: "\(p).id")
            }
            if let t = c.raw("type"), t != .string("function") {
                throw APIError.invalid("`\(p).type` must be \"function\".", param: "\(p).type")
            }
            guard let f = c.raw("function"), case .object = f else {
                throw APIError.invalid("`\(p).function` must be an object with `name` and `arguments`.", param: "\(p).function")
            }
            let fr = try FieldReader(f)
            guard case let .string(name)? = fr.raw("name"), !name.isEmpty else {
                throw APIError.invalid("`\(p).function.name` is required and must be a string.", param: "\(p).function.name")
            }
            let arguments: Value
            switch fr.raw("arguments") {
            case let .string(text)?:
                // OpenAI sends the arguments as JSON text; templates want the object.
                guard let parsed = JSON.parse(Array(text.utf8)) else {
                    throw APIError.invalid("`\(p).function.arguments` must be a JSON text (as the model wrote it).", param: "\(p).function.arguments")
                }
                // Read again by the template engine's reader: `1.0` stays a float, as json.loads keeps it.
                arguments = (try? Value(json: text)) ?? OpenAIAPI.templateValue(parsed)
            case let v?: arguments = OpenAIAPI.templateValue(v)
            case nil: arguments = .object(OrderedObject())
            }
            ids.insert(id)
            let function = Value.object(OrderedObject([("name", .string(name)), ("arguments", arguments)]))
            return .object(OrderedObject([("id", .string(id)), ("type", "function"), ("function", function)]))
        }
    }

    /// `messages[i].tool_call_id` of a tool turn: required, and it must answer an earlier call.
    static func toolCallID(_ m: FieldReader, param: String, ids: Set<String>) throws -> String {
        guard case let .string(id)? = m.raw("tool_call_id"), !id.isEmpty else {
            throw APIError.invalid("`\(param).tool_call_id` is required for a message with role \"tool\".", param: "\(param).tool_call_id")
        }
        guard ids.contains(id) else {
            throw APIError.invalid("`\(param).tool_call_id` \"\(id)\" answers no tool call of an earlier assistant message.",
                                   param: "\(param).tool_call_id")
        }
        return id
    }
}
