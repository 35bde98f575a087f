/// A Responses request's `instructions` and `input` items as chat messages, with where each came
/// from, so an error the chat checks find names the field the client wrote. Message items become
/// messages (their text parts chat's text parts, one for one); `function_call` items join the
/// assistant message before them as its `tool_calls` (several calls in a row are one turn);
/// `function_call_output` items become tool messages.
struct ResponsesConversation {
    private(set) var messages: [JSON] = []
    /// Per message: the field it came from, and for each of its tool calls the item that made it.
    private var origins: [(field: String, calls: [String])] = []
    /// Whether the last message is an assistant turn that later calls may join.
    private var lastJoinable = false

    mutating func add(_ message: JSON, from field: String) {
        messages.append(message)
        origins.append((field, []))
        lastJoinable = false
    }

    /// Reads item `i` of `input`.
    mutating func read(_ item: JSON, at i: Int) throws {
        let p = "input[\(i)]"
        guard case .object = item else { throw APIError.invalid("`\(p)` must be an object.", param: p) }
        let m = try FieldReader(item, parent: p)
        _ = try m.string("id")  // the ids and states of items a previous response gave
        _ = try m.string("status")
        switch try m.string("type") {
        case nil, "message"?:
            guard let role = try? m.string("role"), ["user", "system", "developer", "assistant"].contains(role) else {
                throw APIError.invalid("`\(p).role` must be user, system, developer or assistant.", param: "\(p).role")
            }
            let content = try Self.content(m.raw("content"), role: role, param: "\(p).content")
            try m.refuseUnknown(in: p)
            add(["role": .string(role), "content": content], from: p)
            lastJoinable = role == "assistant"
        case "function_call"?:
            let callID = try Self.required(m, "call_id", p), name = try Self.required(m, "name", p)
            let arguments = try Self.required(m, "arguments", p)
            try m.refuseUnknown(in: p)
            let call: JSON = ["id": .string(callID), "type": "function", "function": ["name": .string(name), "arguments": .string(arguments)]]
            if lastJoinable, case var .object(fields) = messages[messages.count - 1] {
                if let k = fields.firstIndex(where: { $0.0 == "tool_calls" }), case let .array(calls) = fields[k].1 {
                    fields[k].1 = .array(calls + [call])
                } else {
                    fields.append(("tool_calls", [call]))
                }
                messages[messages.count - 1] = .object(fields)
                origins[origins.count - 1].calls.append(p)
            } else {
                add(["role": "assistant", "content": .null, "tool_calls": [call]], from: p)
                origins[origins.count - 1].calls = [p]
                lastJoinable = true
            }
        case "function_call_output"?:
            let callID = try Self.required(m, "call_id", p)
            let output: JSON
            switch m.raw("output") {
            case let .string(s)?: output = .string(s)
            case let .array(parts)?: output = try Self.content(.array(parts), role: "tool", param: "\(p).output")
            default: throw APIError.invalid("`\(p).output` must be a string or an array of text parts.", param: "\(p).output")
            }
            try m.refuseUnknown(in: p)
            add(["role": "tool", "tool_call_id": .string(callID), "content": output], from: p)
        case let other?:
            throw APIError.invalid("`\(p).type` \"\(other)\" is not supported: input items are messages, `function_call` and `function_call_output` (this server makes no other kind).",
                                   param: "\(p).type")
        }
    }

    private static func required(_ m: FieldReader, _ key: String, _ p: String) throws -> String {
        guard case let .string(s)? = m.raw(key) else { throw APIError.invalid("`\(p).\(key)` is required and must be a string.", param: "\(p).\(key)") }
        return s
    }

    /// A message's content: a string, or text parts (`input_text`, `output_text`, an assistant's
    /// `refusal`) as chat's text parts, in order, so their indexes stay.
    private static func content(_ v: JSON?, role: String, param: String) throws -> JSON {
        switch v {
        case let .string(s)?: return .string(s)
        case let .array(parts)? where !parts.isEmpty:
            return .array(try parts.enumerated().map { j, part in
                let pp = "\(param)[\(j)]"
                guard case .object = part else { throw APIError.invalid("`\(pp)` must be an object.", param: pp) }
                let r = try FieldReader(part, parent: pp)
                let type = try r.string("type")
                switch type {
                case "input_text"?, "output_text"?, "text"?:
                    guard let text = try r.string("text") else { throw APIError.invalid("`\(pp).text` is required.", param: "\(pp).text") }
                    _ = r.raw("annotations")  // a previous answer's parts, given back
                    _ = r.raw("logprobs")
                    try r.refuseUnknown(in: pp)
                    return ["type": "text", "text": .string(text)]
                case "refusal"? where role == "assistant":
                    let text = try r.requiredString("refusal")
                    try r.refuseUnknown(in: pp)
                    return ["type": "refusal", "refusal": .string(text)]
                default:
                    throw APIError.invalid("`\(pp).type` must be \"input_text\" or \"output_text\": this server reads text only\(type.map { " (got \"\($0)\")" } ?? "").",
                                           param: "\(pp).type")
                }
            })
        default: throw APIError.invalid("`\(param)` must be a string or a non-empty array of text parts.", param: param)
        }
    }

    /// An error of the chat checks, its field named as the Responses request has it: the param,
    /// and every field the message names in backquotes.
    func renamed(_ e: APIError) -> APIError { e.renamingFields(rename) }

    func rename(_ param: String) -> String {
        if let s = param.replacingField("max_tokens", with: "max_output_tokens") ?? param.replacingField("max_completion_tokens", with: "max_output_tokens") {
            return s
        }
        if param.hasPrefix("response_format") {
            let rest = param.dropFirst("response_format".count)
            return "text.format" + (rest.hasPrefix(".json_schema") ? rest.dropFirst(".json_schema".count) : rest)
        }
        if param == "logprobs" { return "include" }
        if param.hasPrefix("tool_choice.function") { return "tool_choice" + param.dropFirst("tool_choice.function".count) }
        if param.hasPrefix("tools["), let close = param.firstIndex(of: "]") {
            let head = param[...close], rest = param[param.index(after: close)...]
            return String(head) + (rest.hasPrefix(".function") ? rest.dropFirst(".function".count) : rest)
        }
        if param == "messages" { return "input" }
        guard param.hasPrefix("messages["), let close = param.firstIndex(of: "]"),
              let k = Int(param[param.index(param.startIndex, offsetBy: 9)..<close]), origins.indices.contains(k) else { return param }
        let (field, calls) = origins[k]
        let rest = String(param[param.index(after: close)...])
        // A call's fields name the function_call item that made it.
        if rest.hasPrefix(".tool_calls["), let end = rest.firstIndex(of: "]"),
           let c = Int(rest[rest.index(rest.startIndex, offsetBy: 12)..<end]), calls.indices.contains(c) {
            let sub = String(rest[rest.index(after: end)...])
            switch sub {
            case ".id": return calls[c] + ".call_id"
            case ".function.name": return calls[c] + ".name"
            case ".function.arguments": return calls[c] + ".arguments"
            default: return calls[c]
            }
        }
        switch rest {
        case ".tool_call_id": return field + ".call_id"
        case ".content" where field.hasPrefix("input[") && (messages[k]["role"] == .string("tool")): return field + ".output"
        default: return field == "instructions" || field == "input" ? field : field + rest
        }
    }
}
