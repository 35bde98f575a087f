/// POST /v1/messages and /v1/messages/count_tokens, the request side: Anthropic's Messages body
/// read and checked, then said again as a chat body, so the conversation, tools, formats and
/// sampling go through the checks and the template chat requests go through (an answer at
/// temperature 0 is chat's for the same conversation). Errors found there name the Messages
/// field (`messages[2].content[1].tool_use_id`, `tools[0].input_schema`).
extension OpenAIAPI {
    /// Fields passed to the chat plan as they are: Anthropic's `top_p` and `top_k`, and the
    /// sampling extensions chat takes (vLLM and llama-server take theirs on this endpoint too).
    static let messagesPassThrough = ["top_p"] + chatExtensions

    /// A checked Messages request: the chat plan that runs it, and how its end is told.
    struct MessagesPlan {
        var chat: ChatPlan
        /// `max_tokens: 0`: the prompt goes through the model into the prefix cache, and the answer
        /// is empty (one token is computed and dropped).
        var warmOnly = false
        /// The request's `stop_sequences` (the template may add its own turn end, which is no stop
        /// sequence to the client).
        var stops: [String] = []
        /// `max_tokens` was more than the context leaves after the prompt: the answer stops where
        /// the context ends, with `model_context_window_exceeded` (Anthropic's models do the same,
        /// and clients such as Claude Code ask for more than a small local context holds).
        var windowBound = false
        /// With `context_management` given: the answer's `context_management` (`applied_edits`), and
        /// the prompt's tokens before any edit (count_tokens gives them).
        var contextManagement: JSON?
        var originalInputTokens = 0
    }

    /// A checked Messages request. `counting`: a count_tokens body (the conversation, tools and
    /// format only: no `max_tokens` or sampling fields).
    func messagesPlan(_ json: JSON, counting: Bool = false) throws -> MessagesPlan {
        let r = try FieldReader(json)
        try r.refuse(["mcp_servers"], because: "this server connects to no MCP servers; describe their tools as custom tools")
        try r.refuse(["container"], because: "this server runs no code execution containers")
        let management = try Self.readContextManagement(r)
        try r.refuse(["diagnostics"], because: "this server keeps no record of earlier requests to explain cache misses by")
        try Self.readThinking(r)
        // Settings of Anthropic's platform with nothing to choose here (one place, one speed, one
        // workspace), and the automatic cache mark: the prefix cache keeps every prompt by itself.
        for k in ["inference_geo", "user_profile_id", "workspace_id"] { _ = try r.string(k) }
        if let speed = try r.string("speed"), speed != "standard" && speed != "fast" {
            throw APIError.invalid("`speed` must be \"standard\" or \"fast\".", param: "speed")
        }
        if let cc = r.raw("cache_control") {
            let c = try FieldReader(cc, parent: "cache_control")
            guard try c.string("type") == "ephemeral" else { throw APIError.invalid("`cache_control.type` must be \"ephemeral\".", param: "cache_control.type") }
            _ = try c.string("ttl")
            try c.refuseUnknown(in: "cache_control")
        }
        var chat: [(String, JSON)] = []
        var maxTokens = 0, stopSequences: [String] = []
        if counting {
            if let m = r.raw("model") { chat.append(("model", m)) }
        } else {
            for k in Self.messagesPassThrough { if let v = r.raw(k) { chat.append((k, v)) } }
            // Anthropic's range; chat would take up to 2.
            if let t = r.raw("temperature") { _ = try r.double("temperature", 0...1); chat.append(("temperature", t)) }
            guard let n = try r.int("max_tokens", 0...Int.max) else {
                throw APIError.invalid("`max_tokens` is required: the most tokens the answer may have.", param: "max_tokens")
            }
            maxTokens = n
            chat.append(("max_tokens", JSON(max(n, 1))))
            if let stops = r.raw("stop_sequences") {
                guard case let .array(items) = stops else {
                    throw APIError.invalid("`stop_sequences` must be an array of strings.", param: "stop_sequences")
                }
                stopSequences = try items.map { item in
                    guard case let .string(t) = item else { throw APIError.invalid("`stop_sequences` must be an array of strings.", param: "stop_sequences") }
                    return t
                }
                chat.append(("stop", stops))
            }
            if let md = r.raw("metadata") {
                let m = try FieldReader(md, parent: "metadata")
                _ = try m.string("user_id")  // who asked: nothing here depends on it
                try m.refuseUnknown(in: "metadata")
            }
            if let tier = try r.string("service_tier"), tier != "auto" && tier != "standard_only" {
                throw APIError.invalid("`service_tier` must be \"auto\" or \"standard_only\".", param: "service_tier")
            }
        }

        var conversation = MessagesConversation()
        if let system = r.raw("system") { try conversation.readSystem(system) }
        guard case let .array(items)? = r.raw("messages"), !items.isEmpty else {
            throw APIError.invalid("`messages` is required and must be a non-empty array of messages.", param: "messages")
        }
        guard items.count <= limits.maxMessages else {
            throw APIError.invalid("`messages` can hold at most \(limits.maxMessages) messages.", param: "messages")
        }
        for (i, m) in items.enumerated() { try conversation.read(m, at: i) }
        guard conversation.messages.count <= limits.maxMessages else {
            throw APIError.invalid("The conversation makes \(conversation.messages.count) chat messages (each `tool_result` is one); at most \(limits.maxMessages) are allowed.",
                                   param: "messages")
        }
        chat.append(("messages", .array(conversation.messages)))

        if let tools = try Self.messagesTools(r) { chat.append(("tools", .array(tools))) }
        if let choice = r.raw("tool_choice") { chat += try Self.messagesToolChoice(choice) }
        if let (format, field) = try Self.outputFormat(r) {
            chat.append(("response_format", format))
            conversation.formatField = field
        }
        try r.refuseUnknown()

        let plan0 = try messagesChatPlan(chat, conversation)
        var plan = MessagesPlan(chat: plan0)
        if management.given {
            plan.originalInputTokens = plan0.ids.count
            var applied: [JSON] = []
            // The edit, if set off: the chat body said again with the cleared messages, kept if it
            // clears enough.
            if let clearing = management.clearing,
               clearing.triggered(promptTokens: plan0.ids.count, toolUses: ToolUseClearing.toolUses(conversation.messages).count),
               let (messages, uses) = clearing.apply(to: conversation.messages) {
                let edited = try messagesChatPlan(chat.map { $0.0 == "messages" ? ($0.0, .array(messages)) : $0 }, conversation)
                let cleared = plan0.ids.count - edited.ids.count
                if cleared >= clearing.clearAtLeast {
                    plan.chat = edited
                    applied.append(["type": .string(ToolUseClearing.type), "cleared_tool_uses": JSON(uses), "cleared_input_tokens": JSON(cleared)])
                }
            }
            plan.contextManagement = ["applied_edits": .array(applied)]
        }
        guard !counting else { return plan }
        plan.warmOnly = maxTokens == 0
        plan.stops = stopSequences
        // A prompt that fills the context alone stays a 400 (at submission, naming `messages`).
        let room = min(service.contextLength, service.cacheCapacity) - plan.chat.ids.count
        if room >= 1 && maxTokens > room {
            plan.windowBound = true
            plan.chat.opts.maxTokens = room
            for i in plan.chat.requests.indices { plan.chat.requests[i].maxTokens = room }
        }
        return plan
    }

    /// The chat plan of a Messages request said as a chat body (`chat`), its errors naming the
    /// Messages fields.
    private func messagesChatPlan(_ chat: [(String, JSON)], _ conversation: MessagesConversation) throws -> ChatPlan {
        let chatJSON = JSON.object(chat)
        do {
            return try chatPlan(chatJSON, body: Array(chatJSON.serialized.utf8))
        } catch let e as APIError {
            throw conversation.renamed(e)
        }
    }

    /// `thinking`: read and checked, and otherwise unused: the models served here have no
    /// separate reasoning, so an answer never holds a `thinking` block.
    private static func readThinking(_ r: FieldReader) throws {
        guard let v = r.raw("thinking") else { return }
        let t = try FieldReader(v, parent: "thinking")
        switch try t.string("type") {
        case "enabled"?:
            guard try t.int("budget_tokens", 1024...Int.max) != nil else {
                throw APIError.invalid("`thinking.budget_tokens` is required with type \"enabled\".", param: "thinking.budget_tokens")
            }
        case "disabled"?, "adaptive"?, "between_tools"?: break
        default: throw APIError.invalid("`thinking.type` must be \"enabled\", \"disabled\", \"adaptive\" or \"between_tools\".", param: "thinking.type")
        }
        if let d = try t.string("display"), d != "summarized" && d != "omitted" {
            throw APIError.invalid("`thinking.display` must be \"summarized\" or \"omitted\".", param: "thinking.display")
        }
        try t.refuseUnknown(in: "thinking")
    }

    /// `context_management`: edits Anthropic's platform makes to a long conversation before the
    /// model reads it. `clear_tool_uses_20250919` is made here (`ToolUseClearing`);
    /// `clear_thinking_20251015` (Claude Code sends it on every request) is what happens here
    /// anyway, whatever it keeps: thinking blocks never reach the prompt. Compaction is refused.
    /// Returns whether the field was given, and the tool-use edit if any.
    private static func readContextManagement(_ r: FieldReader) throws -> (given: Bool, clearing: ToolUseClearing?) {
        guard let v = r.raw("context_management") else { return (false, nil) }
        let c = try FieldReader(v, parent: "context_management")
        var clearing: ToolUseClearing?
        if let edits = c.raw("edits") {
            guard case let .array(items) = edits else {
                throw APIError.invalid("`context_management.edits` must be an array of edits.", param: "context_management.edits")
            }
            for (i, edit) in items.enumerated() {
                let p = "context_management.edits[\(i)]"
                let e = try FieldReader(edit, parent: p)
                let type = try e.string("type")
                if type == ToolUseClearing.type {
                    guard clearing == nil else { throw APIError.invalid("`\(p)`: only one `\(ToolUseClearing.type)` edit may be given.", param: "\(p).type") }
                    clearing = try ToolUseClearing(e, at: p)
                    continue
                }
                guard type == "clear_thinking_20251015" else {
                    throw APIError.invalid("`\(p).type` must be \"clear_tool_uses_20250919\" or \"clear_thinking_20251015\": this server does not compact a conversation.",
                                           param: "\(p).type")
                }
                if let keep = e.raw("keep"), keep != "all" {
                    let k = try FieldReader(keep, parent: "\(p).keep")
                    switch try k.string("type") {
                    case "all"?: break
                    case "thinking_turns"?:
                        guard try k.int("value", 1...Int.max) != nil else {
                            throw APIError.invalid("`\(p).keep.value` is required: the thinking turns to keep.", param: "\(p).keep.value")
                        }
                    default:
                        throw APIError.invalid("`\(p).keep` must be \"all\", {\"type\": \"all\"} or {\"type\": \"thinking_turns\", \"value\": N}.",
                                               param: "\(p).keep")
                    }
                    try k.refuseUnknown(in: "\(p).keep")
                }
                try e.refuseUnknown(in: p)
            }
        }
        try c.refuseUnknown(in: "context_management")
        return (true, clearing)
    }

    /// Custom tools in chat's shape: `name`, `description`, `input_schema` as the parameters.
    private static func messagesTools(_ r: FieldReader) throws -> [JSON]? {
        guard let raw = r.raw("tools") else { return nil }
        guard case let .array(items) = raw else { throw APIError.invalid("`tools` must be an array of tools.", param: "tools") }
        return try items.enumerated().map { i, item in
            let p = "tools[\(i)]"
            let t = try FieldReader(item, parent: p)
            if let type = try t.string("type"), type != "custom" {
                throw APIError.invalid("`\(p).type` \"\(type)\" is not supported: this server runs no tools of its own (web search, code execution, bash, text editor, computer use); describe a function as a custom tool with `name` and `input_schema`.",
                                       param: "\(p).type")
            }
            guard let name = try t.string("name") else { throw APIError.invalid("`\(p).name` is required.", param: "\(p).name") }
            guard let schema = t.raw("input_schema"), case .object = schema else {
                throw APIError.invalid("`\(p).input_schema` is required and must be a JSON Schema object.", param: "\(p).input_schema")
            }
            var function: [(String, JSON)] = [("name", .string(name))]
            if let d = t.raw("description") { function.append(("description", d)) }
            function.append(("parameters", schema))
            if let s = t.raw("strict") { function.append(("strict", s)) }
            // Marks for Anthropic's platform (its cache, tool search, code execution, early
            // streaming) and examples: they change nothing in how a tool is offered here.
            for k in ["cache_control", "defer_loading", "eager_input_streaming", "allowed_callers", "input_examples"] { _ = t.raw(k) }
            try t.refuseUnknown(in: p)
            return ["type": "function", "function": .object(function)]
        }
    }

    /// `tool_choice` as chat's `tool_choice` (and `parallel_tool_calls`): `auto`, `any` (a call is
    /// required), `tool` (that one), `none`.
    private static func messagesToolChoice(_ v: JSON) throws -> [(String, JSON)] {
        let shapes = "`tool_choice` must be {\"type\": \"auto\"}, {\"type\": \"any\"}, {\"type\": \"tool\", \"name\": ...} or {\"type\": \"none\"}."
        guard case .object = v else { throw APIError.invalid(shapes, param: "tool_choice") }
        let c = try FieldReader(v, parent: "tool_choice")
        var out: [(String, JSON)]
        switch try c.string("type") {
        case "auto"?: out = [("tool_choice", "auto")]
        case "any"?: out = [("tool_choice", "required")]
        case "none"?: out = [("tool_choice", "none")]
        case "tool"?:
            guard let name = try c.string("name") else { throw APIError.invalid("`tool_choice.name` is required with type \"tool\".", param: "tool_choice.name") }
            out = [("tool_choice", ["type": "function", "function": ["name": .string(name)]])]
        default: throw APIError.invalid(shapes, param: "tool_choice.type")
        }
        if let d = try c.bool("disable_parallel_tool_use") { out.append(("parallel_tool_calls", .bool(!d))) }
        try c.refuseUnknown(in: "tool_choice")
        return out
    }

    /// Structured output: `output_format` (the beta's field) or `output_config.format` (and
    /// `output_config.effort`, a reasoning setting with nothing to set here), as chat's
    /// `response_format` with the schema.
    private static func outputFormat(_ r: FieldReader) throws -> (JSON, String)? {
        var found: (JSON, String)?
        if let f = r.raw("output_format") { found = (f, "output_format") }
        if let config = r.raw("output_config") {
            let c = try FieldReader(config, parent: "output_config")
            if let e = try c.string("effort"), !["low", "medium", "high", "xhigh", "max"].contains(e) {
                throw APIError.invalid("`output_config.effort` must be \"low\", \"medium\", \"high\", \"xhigh\" or \"max\".", param: "output_config.effort")
            }
            if let f = c.raw("format") {
                if found != nil { throw APIError.invalid("Give the format in `output_format` or in `output_config.format`, not both.", param: "output_config.format") }
                found = (f, "output_config.format")
            }
            try c.refuseUnknown(in: "output_config")
        }
        guard let (format, p) = found else { return nil }
        let f = try FieldReader(format, parent: p)
        guard try f.string("type") == "json_schema" else { throw APIError.invalid("`\(p).type` must be \"json_schema\".", param: "\(p).type") }
        guard let schema = f.raw("schema"), case .object = schema else {
            throw APIError.invalid("`\(p).schema` is required and must be a JSON Schema object.", param: "\(p).schema")
        }
        try f.refuseUnknown(in: p)
        return (["type": "json_schema", "json_schema": ["name": "output", "schema": schema, "strict": true]], p)
    }
}
