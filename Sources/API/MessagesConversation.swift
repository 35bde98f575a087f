/// An Anthropic Messages request's `system` and `messages` as chat messages, with where each
/// came from, so an error the chat checks find names the field the client wrote. A user turn's
/// text (and plain-text document) blocks become a user message, each `tool_result` block a tool
/// message, in order; an assistant turn's text blocks its content and its `tool_use` blocks its
/// `tool_calls` (their `input` as the arguments' JSON text). `thinking` blocks a client gives
/// back are left out: this server's models write none, and chat templates have no place for them.
struct MessagesConversation {
    private(set) var messages: [JSON] = []
    /// Per chat message: the field it came from, its content parts' blocks, its calls' blocks.
    private var origins: [(field: String, parts: [String], calls: [String])] = []
    /// Where the request gave its structured-output format (`output_format` or `output_config.format`).
    var formatField = "output_format"

    mutating func add(_ message: JSON, from field: String, parts: [String] = [], calls: [String] = []) {
        messages.append(message)
        origins.append((field, parts, calls))
    }

    /// Claude Code's first system block, `x-anthropic-billing-header: ...; cch=...;`, changes with
    /// every request: kept, no prompt would ever share its prefix with the one before (the whole
    /// system prompt and tools computed again each turn). It means nothing to a model: left out.
    static let billingHeader = "x-anthropic-billing-header:"

    /// Reads `system` (`field`), or a system message's `content` in `messages`: a string, or text blocks.
    mutating func readSystem(_ v: JSON, field: String = "system") throws {
        switch v {
        case let .string(text) where text.hasPrefix(Self.billingHeader):
            // The header as the first line of a plain system prompt: the rest is the prompt.
            let rest = text.firstIndex(of: "\n").map { String(text[text.index(after: $0)...]) } ?? ""
            if !rest.isEmpty { add(["role": "system", "content": .string(rest)], from: field) }
        case .string: add(["role": "system", "content": v], from: field)
        case let .array(blocks) where !blocks.isEmpty:
            var parts: [JSON] = [], from: [String] = []
            for (j, b) in blocks.enumerated() {
                let p = "\(field)[\(j)]"
                let r = try Self.block(b, p)
                guard try r.string("type") == "text" else { throw APIError.invalid("`\(p).type` must be \"text\".", param: "\(p).type") }
                let text = try Self.text(r, p)
                if text.hasPrefix(Self.billingHeader) { continue }
                parts.append(["type": "text", "text": .string(text)])
                from.append(p)
            }
            if !parts.isEmpty { add(["role": "system", "content": .array(parts)], from: field, parts: from) }
        default: throw APIError.invalid("`\(field)` must be a string or a non-empty array of text blocks.", param: field)
        }
    }

    /// Reads `messages[i]`.
    mutating func read(_ message: JSON, at i: Int) throws {
        let p = "messages[\(i)]"
        guard case .object = message else { throw APIError.invalid("`\(p)` must be an object.", param: p) }
        let m = try FieldReader(message, parent: p)
        let role = try m.string("role")
        guard role == "user" || role == "assistant" || role == "system" else {
            throw APIError.invalid("`\(p).role` must be \"user\", \"assistant\" or \"system\".", param: "\(p).role")
        }
        guard let content = m.raw("content") else { throw APIError.invalid("`\(p).content` is required.", param: "\(p).content") }
        try m.refuseUnknown(in: p)
        // A system message among the turns (the 2026 API's): a chat system message where it stands.
        if role == "system" { return try readSystem(content, field: "\(p).content") }
        switch content {
        case .string: add(["role": .string(role!), "content": content], from: p)
        case let .array(blocks) where !blocks.isEmpty:
            if role == "assistant" { try readAssistant(blocks, p) } else { try readUser(blocks, p) }
        default: throw APIError.invalid("`\(p).content` must be a string or a non-empty array of content blocks.", param: "\(p).content")
        }
    }

    private mutating func readUser(_ blocks: [JSON], _ p: String) throws {
        var parts: [JSON] = [], from: [String] = []
        func flush() {
            guard !parts.isEmpty else { return }
            add(["role": "user", "content": .array(parts)], from: p, parts: from)
            parts = []
            from = []
        }
        for (j, b) in blocks.enumerated() {
            let bp = "\(p).content[\(j)]"
            let r = try Self.block(b, bp)
            let type = try r.string("type")
            if let part = try Self.textPart(r, bp, type) {
                parts.append(part)
                from.append(bp)
                continue
            }
            switch type {
            case "tool_result"?:
                flush()
                guard case let .string(id)? = r.raw("tool_use_id") else {
                    throw APIError.invalid("`\(bp).tool_use_id` is required and must be a string.", param: "\(bp).tool_use_id")
                }
                _ = try r.bool("is_error")  // the output itself says what went wrong; templates have no flag for it
                _ = try r.string("toolset_name")
                let output: JSON
                var outFrom: [String] = []
                switch r.raw("content") {
                case nil, .null?: output = ""
                case let .string(s)?: output = .string(s)
                case let .array(items)?:
                    var texts: [JSON] = []
                    for (k, item) in items.enumerated() {
                        let ip = "\(bp).content[\(k)]"
                        let ir = try Self.block(item, ip)
                        guard let part = try Self.textPart(ir, ip, try ir.string("type")) else { throw Self.notText(ir, ip) }
                        texts.append(part)
                        outFrom.append(ip)
                    }
                    output = texts.isEmpty ? "" : .array(texts)
                default: throw APIError.invalid("`\(bp).content` must be a string or an array of text blocks.", param: "\(bp).content")
                }
                try r.refuseUnknown(in: bp)
                add(["role": "tool", "tool_call_id": .string(id), "content": output], from: bp, parts: outFrom)
            case "tool_use"?:
                throw APIError.invalid("`\(bp)`: a `tool_use` block belongs in an assistant message.", param: "\(bp).type")
            default: throw Self.notText(r, bp)
            }
        }
        flush()
    }

    private mutating func readAssistant(_ blocks: [JSON], _ p: String) throws {
        var parts: [JSON] = [], from: [String] = [], calls: [JSON] = [], callFrom: [String] = []
        for (j, b) in blocks.enumerated() {
            let bp = "\(p).content[\(j)]"
            let r = try Self.block(b, bp)
            let type = try r.string("type")
            if type == "text", let part = try Self.textPart(r, bp, type) {
                parts.append(part)
                from.append(bp)
                continue
            }
            switch type {
            case "tool_use"?:
                guard case let .string(id)? = r.raw("id"), !id.isEmpty else {
                    throw APIError.invalid("`\(bp).id` is required and must be a non-empty string.", param: "\(bp).id")
                }
                guard case let .string(name)? = r.raw("name") else { throw APIError.invalid("`\(bp).name` is required and must be a string.", param: "\(bp).name") }
                guard let input = r.raw("input"), case .object = input else {
                    throw APIError.invalid("`\(bp).input` is required and must be an object.", param: "\(bp).input")
                }
                _ = try r.string("toolset_name")
                _ = r.raw("caller")  // who made the call on Anthropic's platform
                try r.refuseUnknown(in: bp)
                calls.append(["id": .string(id), "type": "function", "function": ["name": .string(name), "arguments": .string(input.serialized)]])
                callFrom.append(bp)
            case "thinking"?, "redacted_thinking"?:
                continue  // a thinking model's reasoning, given back: nothing of it goes into the prompt
            case "tool_result"?:
                throw APIError.invalid("`\(bp)`: a `tool_result` block belongs in a user message.", param: "\(bp).type")
            default: throw Self.notText(r, bp)
            }
        }
        var fields: [(String, JSON)] = [("role", "assistant")]
        fields.append(("content", parts.isEmpty ? (calls.isEmpty ? "" : .null) : .array(parts)))
        if !calls.isEmpty { fields.append(("tool_calls", .array(calls))) }
        add(.object(fields), from: p, parts: from, calls: callFrom)
    }

    private static func block(_ b: JSON, _ p: String) throws -> FieldReader {
        guard case .object = b else { throw APIError.invalid("`\(p)` must be an object.", param: p) }
        let r = try FieldReader(b, parent: p)
        _ = r.raw("cache_control")  // the prefix cache keeps every prompt's blocks by itself
        return r
    }

    /// A `text` or plain-text `document` block as chat's text part; nil for other types.
    private static func textPart(_ r: FieldReader, _ p: String, _ type: String?) throws -> JSON? {
        switch type {
        case "text"?: return ["type": "text", "text": .string(try text(r, p))]
        case "document"?: return ["type": "text", "text": .string(try document(r, p))]
        default: return nil
        }
    }

    private static func text(_ r: FieldReader, _ p: String) throws -> String {
        guard let t = try r.string("text") else { throw APIError.invalid("`\(p).text` is required.", param: "\(p).text") }
        _ = r.raw("citations")
        try r.refuseUnknown(in: p)
        return t
    }

    /// A plain-text document (`source.type` "text"): its title and context before its text.
    private static func document(_ r: FieldReader, _ p: String) throws -> String {
        guard let source = r.raw("source"), case .object = source else {
            throw APIError.invalid("`\(p).source` is required and must be an object.", param: "\(p).source")
        }
        let s = try FieldReader(source, parent: "\(p).source")
        guard try s.string("type") == "text" else {
            throw APIError.invalid("`\(p).source.type` must be \"text\": this server reads plain-text documents only.", param: "\(p).source.type")
        }
        _ = try s.string("media_type")
        guard let data = try s.string("data") else { throw APIError.invalid("`\(p).source.data` is required.", param: "\(p).source.data") }
        try s.refuseUnknown(in: "\(p).source")
        let title = try r.string("title"), context = try r.string("context")
        _ = r.raw("citations")
        try r.refuseUnknown(in: p)
        return [title, context, data].compactMap { $0 }.joined(separator: "\n\n")
    }

    private static func notText(_ r: FieldReader, _ p: String) -> APIError {
        let type = (try? r.string("type")) ?? nil
        return APIError.invalid("`\(p).type` \(type.map { "\"\($0)\" " } ?? "")is not supported: this server reads text, plain-text documents, `tool_use` and `tool_result` blocks.",
                                param: "\(p).type")
    }

    /// An error of the chat checks, its fields named as the Messages request has them.
    func renamed(_ e: APIError) -> APIError {
        var out = e.renamingFields(rename)
        // Chat's values for tool_choice (and its `stop` shapes), said as this API writes them.
        for (chat, messages) in [("`stop_sequences` must be a string or an array of non-empty strings", "`stop_sequences` must be an array of non-empty strings"),
                                 ("`tool_choice` is \"required\"", "`tool_choice` is {\"type\": \"any\"}"),
                                 ("`tool_choice` \"required\" or a named function", "`tool_choice` {\"type\": \"any\"} or {\"type\": \"tool\"}"),
                                 ("`tool_choice: \"none\"`", "`tool_choice: {\"type\": \"none\"}`")] {
            out.message = out.message.replacingOccurrences(of: chat, with: messages)
        }
        return out
    }

    func rename(_ param: String) -> String {
        if let s = param.replacingField("max_completion_tokens", with: "max_tokens") ?? param.replacingField("stop", with: "stop_sequences") {
            return s
        }
        if param.hasPrefix("response_format") { return formatField + param.dropFirst("response_format".count).replacingOccurrences(of: ".json_schema", with: "") }
        if param.hasPrefix("tool_choice.function") { return "tool_choice" + param.dropFirst("tool_choice.function".count) }
        if param == "parallel_tool_calls" { return "tool_choice.disable_parallel_tool_use" }
        if param.hasPrefix("tools["), let close = param.firstIndex(of: "]") {
            let head = String(param[...close])
            var rest = String(param[param.index(after: close)...])
            if rest.hasPrefix(".function") { rest.removeFirst(".function".count) }
            if rest.hasPrefix(".parameters") { rest = ".input_schema" + rest.dropFirst(".parameters".count) }
            return head + rest
        }
        guard param.hasPrefix("messages["), let close = param.firstIndex(of: "]"),
              let k = Int(param[param.index(param.startIndex, offsetBy: 9)..<close]), origins.indices.contains(k) else { return param }
        let (field, parts, calls) = origins[k]
        let rest = String(param[param.index(after: close)...])
        func indexed(_ prefix: String) -> (Int, String)? {
            guard rest.hasPrefix(prefix), let end = rest.firstIndex(of: "]"),
                  let c = Int(rest[rest.index(rest.startIndex, offsetBy: prefix.count)..<end]) else { return nil }
            return (c, String(rest[rest.index(after: end)...]))
        }
        if let (c, sub) = indexed(".tool_calls["), calls.indices.contains(c) {
            switch sub {
            case ".function.name": return calls[c] + ".name"
            case ".function.arguments": return calls[c] + ".input"
            default: return calls[c] + sub
            }
        }
        if let (j, sub) = indexed(".content["), parts.indices.contains(j) { return parts[j] + sub }
        if messages[k]["role"] == .string("tool") {
            if rest == ".tool_call_id" { return field + ".tool_use_id" }
            if rest.hasPrefix(".content") { return field + rest }
        }
        return field == "system" || field.hasSuffix(".content") && messages[k]["role"] == .string("system") ? field : field + rest
    }
}
