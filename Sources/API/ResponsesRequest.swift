import Foundation

/// POST /v1/responses, the request side: OpenAI's Responses body read and checked, then said again
/// as a chat body, so the conversation, tools, formats and sampling go through exactly the checks
/// and the template chat requests go through. Errors found there name the Responses field
/// (`input[2].call_id`, not `messages[1].tool_call_id`). Answers are kept (`store`, OpenAI's default)
/// in the process's `ResponseStore`, and `previous_response_id` continues one's conversation.
extension OpenAIAPI {
    /// A checked Responses request: the chat plan that runs it and what its answer echoes.
    struct ResponsesPlan {
        var chat: ChatPlan
        /// Fields of the Response object that repeat the request (`instructions`, `tools`, ...).
        var echo: [(String, JSON)]
        var logprobs: Bool
        /// Whether the answer is kept, with this request's turn (its messages after the previous
        /// response's; instructions left out), the response it continues, and the request's input
        /// items (with ids).
        var store: Bool
        var turn: [JSON]
        var previousID: String?
        /// The previous response's conversation, as found (what the kept answer holds itself if its
        /// chain cannot be kept).
        var earlier: [JSON]
        var inputItems: [JSON]
        /// The turn ends with an assistant message the answer continues (a prefill): kept as one message.
        var continuesLast: Bool
        var owner: String
    }

    /// Sampling and extension fields a Responses body passes to the chat plan as they are
    /// (vLLM takes its extensions on this endpoint too).
    static let responsesPassThrough = ["temperature", "top_p", "parallel_tool_calls", "metadata", "user", "safety_identifier",
                                       "prompt_cache_key", "prompt_cache_retention", "service_tier", "stop"] + chatExtensions

    /// Chat's fields beyond OpenAI's sampling ones (the model, its adapter, streaming, vLLM's and
    /// llama.cpp's sampling extensions), which the APIs said again as chat requests pass as they are.
    static let chatExtensions = ["model", "lora", "stream", "cache_prompt", "top_k", "min_p", "seed", "repetition_penalty",
                                 "presence_penalty", "frequency_penalty", "logit_bias", "ignore_eos", "speculative",
                                 "skip_special_tokens", "chat_template_kwargs", "truncate_prompt_tokens"]

    /// `include` values OpenAI defines: the logprobs are given; the others are about items this
    /// server never makes (built-in tools, images, encrypted reasoning), so they add nothing.
    static let responsesIncludes: Set<String> = ["message.output_text.logprobs", "reasoning.encrypted_content",
                                                 "web_search_call.action.sources", "code_interpreter_call.outputs",
                                                 "computer_call_output.output.image_url", "file_search_call.results",
                                                 "message.input_image.image_url"]

    /// `owner`: the request's (`ResponseStore.owner(of:)`), whose kept responses it may continue.
    func responsesPlan(_ json: JSON, owner: String = "") throws -> ResponsesPlan {
        let r = try FieldReader(json)
        try r.refuse(["conversation"], because: "this server has no Conversations API; continue with `previous_response_id`, or send the whole conversation in `input`")
        try r.refuse(["prompt"], because: "stored prompts live on OpenAI's platform; send the text in `input` and `instructions`")
        let keeps = (responseStore?.capacityBytes ?? 0) > 0
        let storeFlag = try r.bool("store")
        if storeFlag == true && !keeps {
            throw APIError.invalid("`store` is not supported: this server keeps no responses (server.response_store_bytes is 0).", param: "store")
        }
        let previousID = try r.string("previous_response_id")
        var previous: [JSON] = []
        if let previousID {
            guard keeps else {
                throw APIError.invalid("`previous_response_id` is not supported: this server keeps no responses (server.response_store_bytes is 0); send the whole conversation in `input`.",
                                       param: "previous_response_id")
            }
            switch responseStore?.conversation(previousID, owner: owner) ?? .missing {
            case let .found(turns): previous = turns
            case .missing:
                throw APIError(.notFound, message: "Previous response with id '\(previousID)' not found (responses are kept in memory by the replica that answered them, the least recently used dropped first).",
                               param: "previous_response_id", code: "previous_response_not_found")
            case .inProgress:
                throw APIError.invalid("Previous response with id '\(previousID)' is still in progress: continue it once it has ended.",
                                       param: "previous_response_id", code: "previous_response_in_progress")
            case .broken:
                throw APIError(.notFound, message: "Previous response with id '\(previousID)' is kept, but an earlier response of its conversation no longer is (dropped as the least recently used, or deleted); send the conversation in `input`.",
                               param: "previous_response_id", code: "previous_response_not_found")
            }
        }
        if try r.bool("background") == true {
            throw APIError.invalid("`background` is not supported: a response is answered on its own request (stream it to see it come).", param: "background")
        }
        let truncation = try r.string("truncation") ?? "disabled"
        guard truncation == "disabled" || truncation == "auto" else {
            throw APIError.invalid("`truncation` must be \"auto\" or \"disabled\".", param: "truncation")
        }
        _ = try r.int("max_tool_calls", 0...Int.max)  // about built-in tools, which this server has none of
        if let reasoning = r.raw("reasoning") {
            guard case let .object(fields) = reasoning else { throw APIError.invalid("`reasoning` must be an object.", param: "reasoning") }
            if let (k, _) = fields.first(where: { $0.1 != .null }) {
                throw APIError.invalid("`reasoning.\(k)` is not supported: it is a setting of OpenAI's reasoning models.", param: "reasoning.\(k)")
            }
        }

        var chat: [(String, JSON)] = []
        for k in Self.responsesPassThrough { if let v = r.raw(k) { chat.append((k, v)) } }
        let echo: [(String, JSON)]

        // The conversation: `instructions` first, as a system message, then `input`'s items.
        let instructions = try r.string("instructions")
        var conversation = ResponsesConversation()
        if let instructions { conversation.add(["role": "system", "content": .string(instructions)], from: "instructions") }
        for m in previous { conversation.add(m, from: "previous_response_id") }
        let turnStart = conversation.messages.count
        guard let input = r.raw("input") else { throw APIError.invalid("`input` is required.", param: "input") }
        let inputItems: [JSON]
        switch input {
        case let .string(s):
            conversation.add(["role": "user", "content": .string(s)], from: "input")
            inputItems = [Self.listed(["type": "message", "role": "user", "content": .string(s)])]
        case let .array(items) where !items.isEmpty:
            guard items.count <= limits.maxMessages else {
                throw APIError.invalid("`input` can hold at most \(limits.maxMessages) items.", param: "input")
            }
            for (i, item) in items.enumerated() { try conversation.read(item, at: i) }
            inputItems = items.map(Self.listed)
            var seen: [String: Int] = [:]
            for (i, item) in inputItems.enumerated() {
                guard case let .string(id)? = item["id"] else { continue }
                if let first = seen[id] {
                    throw APIError.invalid("`input[\(i)].id` repeats the id of `input[\(first)]`: item ids are unique.", param: "input[\(i)].id")
                }
                seen[id] = i
            }
        default: throw APIError.invalid("`input` must be a string or a non-empty array of items.", param: "input")
        }
        guard !conversation.messages.isEmpty else { throw APIError.invalid("`input` holds no message.", param: "input") }
        guard conversation.messages.count <= limits.maxMessages else {
            throw APIError.invalid("The conversation (`instructions`, the turns of `previous_response_id` and `input`'s items) makes \(conversation.messages.count) messages; at most \(limits.maxMessages) are allowed.",
                                   param: "input")
        }
        chat.append(("messages", .array(conversation.messages)))

        if let n = r.raw("max_output_tokens") {
            _ = try r.int("max_output_tokens", 1...Int.max)
            chat.append(("max_tokens", n))
        }
        // Logprobs are asked for through `include`, as OpenAI asks; `top_logprobs` sets how many alternatives.
        var logprobs = false
        if let inc = r.raw("include") {
            guard case let .array(values) = inc else { throw APIError.invalid("`include` must be an array of strings.", param: "include") }
            for (i, v) in values.enumerated() {
                guard case let .string(s) = v, Self.responsesIncludes.contains(s) else {
                    throw APIError.invalid("`include[\(i)]` must be one of \(Self.responsesIncludes.sorted().map { "\"\($0)\"" }.joined(separator: ", ")).",
                                           param: "include[\(i)]")
                }
                if s == "message.output_text.logprobs" { logprobs = true }
            }
        }
        // Without the include, `top_logprobs` gives nothing (as OpenAI answers it).
        let top = try r.int("top_logprobs", 0...limits.maxLogprobs)
        if logprobs { chat.append(("logprobs", true)); if let top { chat.append(("top_logprobs", JSON(top))) } }
        if let so = r.raw("stream_options") {
            guard case .object = so else { throw APIError.invalid("`stream_options` must be an object.", param: "stream_options") }
            let s = try FieldReader(so, parent: "stream_options")
            _ = try s.bool("include_obfuscation")  // no padding is added to events
            try s.refuseUnknown(in: "stream_options")
            if try r.bool("stream") != true {
                throw APIError.invalid("`stream_options` is only allowed with `stream: true`.", param: "stream_options")
            }
        }

        let tools = try responsesTools(r)
        if let tools { chat.append(("tools", .array(tools))) }
        if let choice = r.raw("tool_choice") { chat.append(("tool_choice", try Self.responsesToolChoice(choice))) }
        if let text = r.raw("text") {
            guard case .object = text else { throw APIError.invalid("`text` must be an object.", param: "text") }
            let t = try FieldReader(text, parent: "text")
            try t.refuse(["verbosity"], because: "it is a setting of OpenAI's reasoning models", in: "text")
            if let format = t.raw("format") { chat.append(("response_format", try Self.responseFormat(format))) }
            try t.refuseUnknown(in: "text")
        }
        try r.refuseUnknown()

        let chatJSON = JSON.object(chat)
        var plan: ChatPlan
        do {
            plan = try chatPlan(chatJSON, body: Array(chatJSON.serialized.utf8))
        } catch let e as APIError {
            throw conversation.renamed(e)
        }
        if truncation == "auto", let cut = truncatedToFit(chat, messages: conversation.messages, plan: plan) { plan = cut }
        echo = [("instructions", instructions.map(JSON.string) ?? .null),
                ("previous_response_id", previousID.map(JSON.string) ?? .null),
                ("store", JSON.bool(keeps && storeFlag != false)),
                ("max_output_tokens", r.raw("max_output_tokens") ?? .null),
                ("parallel_tool_calls", r.raw("parallel_tool_calls") ?? true),
                ("temperature", r.raw("temperature") ?? JSON(1.0)),
                ("text", ["format": r.raw("text")?["format"] ?? ["type": "text"]]),
                ("tool_choice", r.raw("tool_choice") ?? "auto"),
                ("tools", r.raw("tools") ?? []),
                ("top_logprobs", JSON(top ?? 0)),
                ("top_p", r.raw("top_p") ?? JSON(1.0)),
                ("metadata", r.raw("metadata") ?? [:]),
                ("user", r.raw("user") ?? .null),
                ("truncation", .string(truncation)),
                ("max_tool_calls", r.raw("max_tool_calls") ?? .null),
                ("safety_identifier", r.raw("safety_identifier") ?? .null),
                ("prompt_cache_key", r.raw("prompt_cache_key") ?? .null)]
        let turn = Array(conversation.messages[turnStart...])
        // As chat continues a final assistant message without calls after another message.
        let last = conversation.messages[conversation.messages.count - 1]
        let continuesLast = last["role"] == "assistant" && last["tool_calls"] == nil && conversation.messages.count > 1
        return ResponsesPlan(chat: plan, echo: echo, logprobs: logprobs, store: keeps && storeFlag != false, turn: turn,
                             previousID: previousID, earlier: previous, inputItems: inputItems, continuesLast: continuesLast,
                             owner: owner)
    }

    /// An input item as GET .../input_items lists it: with an id (`msg_`, `fc_`, `fco_`) when it
    /// came without one, a `status`, and its text as parts (`input_text`; an assistant's
    /// `output_text`, with `annotations`), as OpenAI lists them.
    private static func listed(_ item: JSON) -> JSON {
        guard case var .object(fields) = item else { return item }
        let prefix: String
        switch item["type"] {
        case .string("function_call")?: prefix = "fc_"
        case .string("function_call_output")?: prefix = "fco_"
        default:
            prefix = "msg_"
            if item["type"] == nil { fields.append(("type", "message")) }
        }
        if case .string? = item["id"] {} else {
            fields.removeAll { $0.0 == "id" }
            fields.insert(("id", .string(prefix + randomID())), at: 0)
        }
        if case .string? = item["status"] {} else {
            fields.removeAll { $0.0 == "status" }
            fields.append(("status", "completed"))
        }
        let assistant = item["role"] == "assistant"
        if prefix == "msg_", let k = fields.firstIndex(where: { $0.0 == "content" }) {
            func part(_ text: JSON) -> JSON {
                assistant ? ["type": "output_text", "text": text, "annotations": []] : ["type": "input_text", "text": text]
            }
            switch fields[k].1 {
            case .string: fields[k].1 = [part(fields[k].1)]
            case let .array(parts) where assistant:
                fields[k].1 = .array(parts.map { p in
                    guard case var .object(pf) = p, p["type"] == "output_text", p["annotations"] == nil || p["annotations"] == .null else { return p }
                    pf.removeAll { $0.0 == "annotations" }
                    pf.append(("annotations", []))
                    return .object(pf)
                })
            default: break
            }
        }
        return .object(fields)
    }

    /// Function tools, flat as the Responses API writes them, in chat's shape.
    private func responsesTools(_ r: FieldReader) throws -> [JSON]? {
        guard let raw = r.raw("tools") else { return nil }
        guard case let .array(items) = raw else { throw APIError.invalid("`tools` must be an array of tools.", param: "tools") }
        return try items.enumerated().map { i, item in
            let p = "tools[\(i)]"
            guard case .object = item else { throw APIError.invalid("`\(p)` must be an object.", param: p) }
            let t = try FieldReader(item, parent: p)
            let type = try t.string("type")
            guard type == "function" else {
                throw APIError.invalid("`\(p).type` must be \"function\": this server has no built-in tools\(type.map { " (got \"\($0)\")" } ?? "").",
                                       param: "\(p).type")
            }
            var function: [(String, JSON)] = []
            for k in ["name", "description", "parameters", "strict"] { if let v = t.raw(k) { function.append((k, v)) } }
            try t.refuseUnknown(in: p)
            return ["type": "function", "function": .object(function)]
        }
    }

    /// `tool_choice`: the strings as in chat; `{"type": "function", "name"}` for one function.
    private static func responsesToolChoice(_ v: JSON) throws -> JSON {
        let shapes = "`tool_choice` must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"name\": ...}."
        switch v {
        case .string("none"), .string("auto"), .string("required"): return v
        case .object:
            let c = try FieldReader(v, parent: "tool_choice")
            guard try c.string("type") == "function" else { throw APIError.invalid(shapes + " Built-in tools and `allowed_tools` are not supported.", param: "tool_choice") }
            guard let name = c.raw("name"), case .string = name else { throw APIError.invalid(shapes, param: "tool_choice.name") }
            try c.refuseUnknown(in: "tool_choice")
            return ["type": "function", "function": ["name": name]]
        default: throw APIError.invalid(shapes, param: "tool_choice")
        }
    }

    /// `text.format` as chat's `response_format`: the schema's fields sit in the format itself here.
    private static func responseFormat(_ v: JSON) throws -> JSON {
        guard case .object = v else { throw APIError.invalid("`text.format` must be an object.", param: "text.format") }
        let f = try FieldReader(v, parent: "text.format")
        switch try f.string("type") {
        case "text"?: try f.refuseUnknown(in: "text.format"); return ["type": "text"]
        case "json_object"?: try f.refuseUnknown(in: "text.format"); return ["type": "json_object"]
        case "json_schema"?:
            var schema: [(String, JSON)] = []
            for k in ["name", "description", "schema", "strict"] { if let x = f.raw(k) { schema.append((k, x)) } }
            try f.refuseUnknown(in: "text.format")
            return ["type": "json_schema", "json_schema": .object(schema)]
        default:
            throw APIError.invalid("`text.format.type` must be \"text\", \"json_object\" or \"json_schema\".", param: "text.format.type")
        }
    }
}
