/// Anthropic's `clear_tool_uses_20250919` context edit: once a conversation passes a threshold
/// (prompt tokens, or tool uses), the results of its older tool uses are replaced by a short
/// placeholder before the model reads it, the most recent `keep` uses and the `exclude_tools`
/// kept whole, the calls' inputs too with `clear_tool_inputs`. The client keeps the whole history
/// and sends it again each turn; the edit is made anew on each request. It works on the chat
/// messages a Messages conversation becomes (`MessagesConversation`): tool results are `tool`
/// messages, tool uses the assistant's `tool_calls`.
struct ToolUseClearing {
    /// The edit runs when the prompt has more tokens than this (Anthropic's default: 100,000)...
    var triggerInputTokens: Int? = 100_000
    /// ...or the conversation more tool uses than this (when the trigger is given so).
    var triggerToolUses: Int?
    /// The most recent tool uses left whole.
    var keep = 3
    /// Unless at least this many prompt tokens go, nothing is cleared (a cleared result changes the
    /// prompt from that point on, so the prefix cache serves only what comes before it).
    var clearAtLeast = 0
    /// Tools whose uses are never cleared.
    var excluded: Set<String> = []
    /// Whose calls lose their inputs (to `{}`) as well: every tool's (nil set, `true`), some, or none.
    var clearsInputs = false
    var inputsOf: Set<String>?

    static let type = "clear_tool_uses_20250919"
    /// What the model reads in place of a cleared result.
    static let placeholder = "[Tool result cleared to save context.]"

    /// The edit at `p` (`context_management.edits[i]`), its `type` already read.
    init(_ e: FieldReader, at p: String) throws {
        if let t = e.raw("trigger") {
            let r = try FieldReader(t, parent: "\(p).trigger")
            let value = try r.int("value", 1...Int.max)
            switch try r.string("type") {
            case "input_tokens"?: triggerInputTokens = value
            case "tool_uses"?: (triggerInputTokens, triggerToolUses) = (nil, value)
            default: throw APIError.invalid("`\(p).trigger.type` must be \"input_tokens\" or \"tool_uses\".", param: "\(p).trigger.type")
            }
            guard value != nil else { throw APIError.invalid("`\(p).trigger.value` is required.", param: "\(p).trigger.value") }
            try r.refuseUnknown(in: "\(p).trigger")
        }
        if let k = e.raw("keep") {
            let r = try FieldReader(k, parent: "\(p).keep")
            guard try r.string("type") == "tool_uses" else {
                throw APIError.invalid("`\(p).keep.type` must be \"tool_uses\".", param: "\(p).keep.type")
            }
            guard let value = try r.int("value", 0...Int.max) else { throw APIError.invalid("`\(p).keep.value` is required.", param: "\(p).keep.value") }
            keep = value
            try r.refuseUnknown(in: "\(p).keep")
        }
        if let c = e.raw("clear_at_least") {
            let r = try FieldReader(c, parent: "\(p).clear_at_least")
            guard try r.string("type") == "input_tokens" else {
                throw APIError.invalid("`\(p).clear_at_least.type` must be \"input_tokens\".", param: "\(p).clear_at_least.type")
            }
            guard let value = try r.int("value", 0...Int.max) else {
                throw APIError.invalid("`\(p).clear_at_least.value` is required.", param: "\(p).clear_at_least.value")
            }
            clearAtLeast = value
            try r.refuseUnknown(in: "\(p).clear_at_least")
        }
        if let x = e.raw("exclude_tools") { excluded = Set(try Self.names(x, "\(p).exclude_tools")) }
        switch e.raw("clear_tool_inputs") {
        case nil: break
        case .bool(let b)?: clearsInputs = b
        case let v?: (clearsInputs, inputsOf) = (true, Set(try Self.names(v, "\(p).clear_tool_inputs")))
        }
        try e.refuseUnknown(in: p)
    }

    private static func names(_ v: JSON, _ p: String) throws -> [String] {
        guard case let .array(items) = v else { throw APIError.invalid("`\(p)` must be an array of tool names.", param: p) }
        return try items.map { item in
            guard case let .string(s) = item else { throw APIError.invalid("`\(p)` must be an array of tool names.", param: p) }
            return s
        }
    }

    /// Whether a prompt of `promptTokens` tokens with `toolUses` tool uses sets the edit off.
    func triggered(promptTokens: Int, toolUses: Int) -> Bool {
        if let n = triggerToolUses { return toolUses > n }
        return promptTokens > (triggerInputTokens ?? Int.max)
    }

    /// The tool uses (calls) of `messages`, in order.
    static func toolUses(_ messages: [JSON]) -> [(id: String, name: String)] {
        messages.flatMap { m -> [(id: String, name: String)] in
            guard case let .array(calls)? = m["tool_calls"] else { return [] }
            return calls.compactMap { c in
                guard case let .string(id)? = c["id"], case let .string(name)? = c["function"]?["name"] else { return nil }
                return (id, name)
            }
        }
    }

    /// `messages` with the older uses cleared, and how many were; nil when none could be.
    func apply(to messages: [JSON]) -> (messages: [JSON], cleared: Int)? {
        let uses = Self.toolUses(messages)
        let older = uses.dropLast(min(keep, uses.count)).filter { !excluded.contains($0.name) }
        guard !older.isEmpty else { return nil }
        let ids = Set(older.map(\.id))
        let inputsOf = Set(older.filter { clearsInputs && (self.inputsOf?.contains($0.name) ?? true) }.map(\.id))
        var cleared: Set<String> = []
        let edited = messages.map { m -> JSON in
            if case let .string(id)? = m["tool_call_id"], ids.contains(id) {
                cleared.insert(id)
                return m.setting("content", .string(Self.placeholder))
            }
            guard !inputsOf.isEmpty, case let .array(calls)? = m["tool_calls"] else { return m }
            return m.setting("tool_calls", .array(calls.map { c in
                guard case let .string(id)? = c["id"], inputsOf.contains(id), let f = c["function"] else { return c }
                cleared.insert(id)
                return c.setting("function", f.setting("arguments", "{}"))
            }))
        }
        return cleared.isEmpty ? nil : (edited, cleared.count)
    }
}

extension JSON {
    /// This object with `key`'s value replaced (added at the end if absent); other values as they are.
    func setting(_ key: String, _ value: JSON) -> JSON {
        guard case var .object(fields) = self else { return self }
        if let i = fields.lastIndex(where: { $0.0 == key }) { fields[i].1 = value } else { fields.append((key, value)) }
        return .object(fields)
    }
}
