import Engine
import Foundation
import HTTP
import Jinja
import Tokenizer

/// POST /v1/chat/completions.
extension OpenAIAPI {
    /// A checked chat request: what to submit and how to answer.
    struct ChatPlan {
        var requests: [GenerationRequest]
        var opts: GenerationOptions
        var wantLogprobs: Bool
        var prompt: String
        var ids: [Int32]
        var id: String
        /// The request's tools; its format set when the answer is parsed for calls.
        var tools: ToolPlan?
        /// The model name answered (the adapter's when one is chosen by name) and the adapter label.
        var modelName: String
        var adapter: String?
    }

    /// Reads and checks a chat body, renders the template; throws the APIError a client gets.
    func chatPlan(_ json: JSON, body: [UInt8]? = nil) throws -> ChatPlan {
        let r = try FieldReader(json)
        let chosen = try requestedModel(r)  // the model field and `lora` (LoraEndpoints.swift)
        try r.refuse(["functions", "function_call"], because: "they are the deprecated form of `tools` and `tool_choice`")
        try r.refuse(["audio"], because: "this server generates text only")
        let prediction = try predictionTokens(r)  // PredictionField.swift
        try checkModalities(r)
        try r.refuse(["web_search_options"], because: "this server does not search the web")
        try r.refuse(["reasoning_effort", "verbosity"], because: "they are settings of OpenAI's reasoning models")
        try refuseStore(r)
        try checkIgnoredFields(r)
        _ = try r.string("user")
        let grammar = try constrainedGrammar(r)  // response_format and its aliases (ResponseFormat.swift)
        let tools = try toolPlan(r, body: body)  // tools, tool_choice, parallel_tool_calls (ToolPlan.swift)
        if tools?.grammar != nil && tools?.lazy == nil && grammar != nil {
            throw APIError.invalid("`tool_choice` \"required\" or a named function cannot be combined with `response_format` or another grammar: the answer is a tool call.",
                                   param: "tool_choice")
        }
        var opts = try GenerationOptions(r, maxTokensKeys: ["max_tokens", "max_completion_tokens"], limits: limits, vocabularySize: model.tokenizer.vocabularySize)
        // A grammar's JSON string may hold that text (a cut there would break the JSON it promises),
        // and `ignore_eos` asks for every token.
        if template.isFallback && grammar == nil && tools == nil && !opts.ignoreEOS && !opts.stop.contains(ChatTemplate.chatMLTurnEnd) {
            opts.stop.append(ChatTemplate.chatMLTurnEnd)
        }
        let wantLogprobs = try r.bool("logprobs") ?? false
        let top = try r.int("top_logprobs", 0...limits.maxLogprobs)
        // 0 without logprobs asks for nothing: taken, as vLLM takes it (clients that fill in defaults send it).
        if let top, top > 0, !wantLogprobs {
            throw APIError.invalid("`top_logprobs` requires `logprobs` to be true.", param: "top_logprobs")
        }
        try checkQueueRoom(opts.n, param: "n")
        let prompt = try chatPrompt(r, tools: tools)
        let ids = try truncatedPrompt(chatPromptIDs(prompt), opts.truncatePromptTokens, answer: opts.maxTokens ?? 1)
        guard !ids.isEmpty else { throw APIError.invalid("The messages give an empty prompt.", param: "messages") }
        let room = min(service.contextLength, service.cacheCapacity) - ids.count
        let maxTokens = opts.maxTokens ?? max(room, 1)
        opts.maxTokens = maxTokens

        let id = "chatcmpl-" + Self.randomID()
        let requests = (0..<opts.n).map { i in
            var r = GenerationRequest(id: "\(id)-\(i)", promptTokens: ids, sampling: opts.sampling(forChoice: i),
                                      maxTokens: maxTokens, ignoreEOS: opts.ignoreEOS, logprobs: wantLogprobs ? (top ?? 0) : nil)
            if opts.n > 1 { r.shareGroup = id }
            // A response format holds from the first token; the calls' lazy grammar gives way to it.
            if let grammar { r.grammar = grammar } else {
                r.grammar = tools?.grammar
                r.lazyGrammar = tools?.lazy
            }
            r.measureConfidence = confidenceThreshold(requested: opts.confidence) != nil
            r.confidenceRequested = opts.confidence
            r.speculative = opts.speculative
            r.prediction = prediction
            r.adapters = chosen.adapters
            return r
        }
        try r.refuseUnknown()
        return ChatPlan(requests: requests, opts: opts, wantLogprobs: wantLogprobs, prompt: prompt.text, ids: ids, id: id, tools: tools,
                        modelName: chosen.name, adapter: chosen.adapter)
    }

    func chatCompletions(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        let plan = try chatPlan(try Self.parseBody(request), body: request.body)
        let (requests, opts, wantLogprobs, prompt, ids) = (plan.requests, plan.opts, plan.wantLogprobs, plan.prompt, plan.ids)
        let tokenizer = model.tokenizer
        let created = Int(Date().timeIntervalSince1970)
        let wire = ChatWire(id: plan.id, created: created, model: plan.modelName, fingerprint: fingerprint)
        let includeUsage = opts.includeUsage
        let stream = opts.stream
        let wantConfidence = opts.confidence
        let threshold = confidenceThreshold(requested: opts.confidence)
        let promptText = logPrompts ? prompt : nil
        let toolFormat = plan.tools?.format
        // Control tokens stay out of the content, as OpenAI's and vLLM's answers, except where the
        // call parser reads the text: some formats mark calls with one (Llama 3's `<|python_tag|>`).
        let skipSpecial = plan.opts.skipSpecialTokens ?? (toolFormat == nil)
        let toolNames = plan.tools?.toolNames ?? []
        // With a prediction, the requests' proposals are all the prediction's (its usage details).
        let predicted = requests.contains { !$0.prediction.isEmpty }
        let report = reporter(responder, route: .chatCompletions, stream: stream, prompt: promptText, adapter: plan.adapter) { _ in ids.count }

        if opts.stream {
            try check(requests)
            // A slow reader pauses the stream's sequences instead of overrunning the buffer.
            let toolStreams = toolFormat.map { ToolCallOutput(format: $0, toolNames: toolNames, choices: requests.count) }
            let toolSpans = toolFormat != nil && wantConfidence ? ToolCallSpans(choices: requests.count) : nil
            let writer = StreamWriter(responder: responder, service: service, requestIDs: requests.map(\.id),
                                      timeout: slowReaderTimeout, observer: observer)
            let job = GenerationJob(
                service: service, tokenizer: tokenizer, requestIDs: requests.map(\.id), stops: opts.stop, observer: observer,
                confidenceThreshold: threshold, skipSpecial: skipSpecial,
                onDelta: { d in
                    switch d.finishReason {
                    case "abort": writer.abortedByServer(); return
                    case "error": writer.write(SSE.event(APIError.internal("generation failed").json)); return
                    default: break
                    }
                    let lp: JSON = wantLogprobs && !d.logprobs.isEmpty ? Logprobs.chat(tokenizer, d.logprobs) : .null
                    // With tools, the text goes through the call parser: content and tool-call deltas.
                    var pieces: [JSON] = toolStreams?.deltas(choice: d.choice, text: d.text, finished: d.finishReason != nil)
                        ?? (d.text.isEmpty ? [] : [["content": .string(d.text)]])
                    var conf: JSON? = wantConfidence ? d.confidenceJSON() : Optional.none
                    if let toolSpans {
                        // Spans are of the content, known once the choice ends: held until then.
                        toolSpans.record(choice: d.choice, text: d.text, pieces: pieces, spans: d.spans)
                        conf = d.confidence.map { $0.json(spans: toolSpans.spans(choice: d.choice)) }
                    }
                    // A token inside a multi-byte character has no text yet, but its logprob goes out now.
                    if pieces.isEmpty && d.finishReason == nil && (lp != .null || conf != nil) { pieces = [["content": ""]] }
                    for (k, piece) in pieces.enumerated() {
                        writer.write(SSE.event(wire.chunk(index: d.choice, delta: piece, logprobs: k == 0 ? lp : .null,
                                                             finish: nil, includeUsage: includeUsage,
                                                             confidence: k == 0 && d.finishReason == nil ? conf : Optional.none)))
                    }
                    if let f = d.finishReason {
                        // The summary (and the spans still open) ride on the chunk with the finish reason.
                        let tail: JSON = pieces.isEmpty ? lp : .null
                        let reason = toolStreams?.finishReason(choice: d.choice, f) ?? f
                        writer.write(SSE.event(wire.chunk(index: d.choice, delta: [:], logprobs: tail, finish: reason,
                                                             includeUsage: includeUsage, confidence: conf)))
                    }
                },
                onDone: { job in
                    report(job)
                    if includeUsage {
                        let u = job.usage
                        writer.write(SSE.event(wire.usageChunk(prompt: ids.count, completion: u.completion,
                                                               cached: job.cachedPromptTokens(n: requests.count),
                                                               predicted: predicted ? job.predictionUsage : nil)))
                    }
                    responder.end(after: SSE.done)
                })
            try submitStream(requests, job: job, responder: responder) {
                responder.startStream(status: .ok, headers: SSE.headers)
                // With tools the answer may be calls only: content null until text comes, so a
                // stream adds up to the whole answer (whose content is null then), as OpenAI's.
                let firstContent: JSON = toolStreams == nil ? "" : .null
                for i in requests.indices {
                    writer.write(SSE.event(wire.chunk(index: i, delta: ["role": "assistant", "content": firstContent, "refusal": .null], logprobs: .null,
                                                         finish: nil, includeUsage: includeUsage)))
                }
            }
        } else {
            let job = GenerationJob(
                service: service, tokenizer: tokenizer, requestIDs: requests.map(\.id), stops: opts.stop, observer: observer,
                confidenceThreshold: threshold, skipSpecial: skipSpecial,
                onDelta: nil,
                onDone: { job in
                    report(job)
                    if let e = job.error { responder.respond(APIError.internal("generation failed: \(e)").response); return }
                    if job.wasAborted { responder.respond(Self.abortedAnswer.response); return }
                    let choices: [JSON] = job.results.enumerated().map { i, c in
                        var message: JSON = ["role": "assistant", "content": .string(c.text.text)]
                        var finish = c.finishReason ?? "stop"
                        if let f = toolFormat { (message, finish) = ToolCallOutput.message(text: c.text.text, format: f, toolNames: toolNames, finishReason: finish) }
                        // As OpenAI's message: a `refusal` (null: these models do not refuse apart from their text).
                        message = message.setting("refusal", .null)
                        var item: [(String, JSON)] = [
                            ("index", JSON(i)), ("message", message),
                            ("logprobs", wantLogprobs ? Logprobs.chat(tokenizer, c.logprobs) : .null),
                            ("finish_reason", .string(finish))]
                        if wantConfidence {
                            var conf = c.confidenceJSON()
                            // Spans are ranges of `content`: with tools, those over call text go.
                            if toolFormat != nil, let summary = c.confidence?.summary {
                                var content: String?
                                if case let .string(s)? = message["content"] { content = s }
                                conf = summary.json(spans: ToolCallSpans.within(c.spans, raw: c.text.text, content: content))
                            }
                            item.append(("confidence", conf))
                        }
                        return .object(item)
                    }
                    responder.respond(.json(wire.whole(choices: choices, prompt: ids.count, completion: job.usage.completion,
                                                       cached: job.cachedPromptTokens(n: requests.count),
                                                       predicted: predicted ? job.predictionUsage : nil)))
                })
            try submitAll(requests, job: job)
            responder.onCancel { job.cancel() }
        }
    }

    /// A rendered chat prompt's ids: the template's text, its special tokens parsed (not those
    /// the messages wrote, `PromptText`), and the
    /// BOS the vocabulary asks for (Gemma's) when the text does not begin with it already (a
    /// template without `bos_token`, or the ChatML fallback), as llama-server adds it.
    func chatPromptIDs(_ prompt: PromptText) -> [Int32] {
        let t = model.tokenizer
        var ids = t.encode(prompt.text, addSpecial: false, plain: prompt.plain)
        if t.addBOS, let bos = t.bosID, ids.first != bos { ids.insert(bos, at: 0) }
        return ids
    }

    /// The prompt of a chat request's messages and tools. A final assistant message with text is
    /// continued, as llama-server does (and vLLM with `continue_final_message`): the turns before
    /// it with the generation prompt, then its text, so the answer goes on from it. The
    /// template would close that turn and open another. `continue_final_message: false`, or
    /// `add_generation_prompt: false` without it, keeps it closed; `true` asks for a final
    /// assistant message.
    func chatPrompt(_ r: FieldReader, tools: ToolPlan?) throws -> PromptText {
        var messages = try chatMessages(r)
        let addGenerationPrompt = try r.bool("add_generation_prompt") ?? true
        var variables: [String: Value] = [:]
        if let kw = r.raw("chat_template_kwargs") {
            guard case let .object(fields) = kw else {
                throw APIError.invalid("`chat_template_kwargs` must be an object.", param: "chat_template_kwargs")
            }
            for (k, v) in fields { variables[k] = Self.templateValue(v) }
        }
        let continueFinal = try r.bool("continue_final_message")
        let last = messages[messages.count - 1]
        let continuable = last.role == "assistant" && last.toolCalls == nil && messages.count > 1
        if continueFinal == true && !continuable {
            throw APIError.invalid("`continue_final_message` needs the last message to be the assistant's, without tool calls, after another.",
                                   param: "continue_final_message")
        }
        let keepsClosed = continueFinal == false || (continueFinal == nil && !addGenerationPrompt)
        guard continuable && !keepsClosed else {
            return try template.render(messages, addGenerationPrompt: addGenerationPrompt, tools: tools?.templateTools,
                                       variables: variables)
        }
        messages.removeLast()
        return try template.render(messages, addGenerationPrompt: true, tools: tools?.templateTools, variables: variables)
            .appending(literal: last.content)
    }

    /// `messages`, checked: roles the template knows, content as text.
    func chatMessages(_ r: FieldReader) throws -> [ChatTemplate.Message] {
        guard let raw = r.raw("messages") else { throw APIError.invalid("`messages` is required.", param: "messages") }
        guard case let .array(items) = raw, !items.isEmpty else {
            throw APIError.invalid("`messages` must be a non-empty array.", param: "messages")
        }
        guard items.count <= limits.maxMessages else {
            throw APIError.invalid("`messages` can hold at most \(limits.maxMessages) messages.", param: "messages")
        }
        var callIDs = Set<String>()  // ids of the calls made so far, which tool turns answer
        return try items.enumerated().map { i, item in
            let param = "messages[\(i)]"
            guard case .object = item else { throw APIError.invalid("`\(param)` must be an object.", param: param) }
            let m = try FieldReader(item)
            guard let role = try? m.string("role") else {
                throw APIError.invalid("`\(param).role` is required and must be a string.", param: "\(param).role")
            }
            guard ["system", "user", "assistant", "developer", "tool"].contains(role) else {
                throw APIError.invalid("`\(param).role` must be system, developer, user, assistant or tool, got \"\(role)\".", param: "\(param).role")
            }
            let content: String
            switch m.raw("content") {
            case let .string(s)?: content = s
            case let .array(parts)? where parts.isEmpty && role != "assistant":
                throw APIError.invalid("`\(param).content` must not be an empty array.", param: "\(param).content")
            case let .array(parts)?:
                content = try parts.enumerated().map { j, part -> String in
                    let pp = "\(param).content[\(j)]"
                    guard case .object = part else { throw APIError.invalid("`\(pp)` must be an object.", param: pp) }
                    let pr = try FieldReader(part)
                    // An assistant turn may hold a refusal part (OpenAI's), whose text is the turn's.
                    if role == "assistant", try pr.string("type") == "refusal", let text = try pr.string("refusal") { return text }
                    guard try pr.string("type") == "text", let text = try pr.string("text") else {
                        throw APIError.invalid("`\(pp)` must be a text part ({\"type\": \"text\", \"text\": ...}); other kinds are not supported.", param: pp)
                    }
                    return text
                }.joined(separator: "\n")  // as vLLM joins text parts
            case nil where role == "assistant": content = ""
            default:
                throw APIError.invalid("`\(param).content` must be a string or an array of text parts.", param: "\(param).content")
            }
            // The default template knows system, user and assistant; developer is OpenAI's new name for system.
            var message = ChatTemplate.Message(role: role == "developer" ? "system" : role, content: content)
            if role == "assistant" {
                message.toolCalls = try ToolMessages.toolCalls(m, param: param, ids: &callIDs)
            } else if m.has("tool_calls") {
                throw APIError.invalid("`\(param).tool_calls` is only allowed on assistant messages.", param: "\(param).tool_calls")
            }
            guard (m.raw("name").map { if case .string = $0 { return true }; return false }) ?? true else {
                throw APIError.invalid("`\(param).name` must be a string.", param: "\(param).name")
            }
            if role == "tool" {
                message.toolCallID = try ToolMessages.toolCallID(m, param: param, ids: callIDs)
                message.name = try? m.string("name")
            }
            return message
        }
    }
}

/// The fixed fields of one chat response, and its chunk shapes.
struct ChatWire {
    let id: String
    let created: Int
    let model: String
    let fingerprint: String

    private func head(_ object: String) -> [(String, JSON)] {
        [("id", .string(id)), ("object", .string(object)), ("created", JSON(created)), ("model", .string(model)),
         ("system_fingerprint", .string(fingerprint))]
    }

    func chunk(index: Int, delta: JSON, logprobs: JSON, finish: String?, includeUsage: Bool, confidence: JSON? = nil) -> JSON {
        var choice: [(String, JSON)] = [("index", JSON(index)), ("delta", delta), ("logprobs", logprobs), ("finish_reason", JSON(finish))]
        if let confidence { choice.append(("confidence", confidence)) }
        return .object(head("chat.completion.chunk") + [("choices", [.object(choice)])] + (includeUsage ? [("usage", .null)] : []))
    }

    func usageChunk(prompt: Int, completion: Int, cached: Int, predicted: (accepted: Int, rejected: Int)?) -> JSON {
        .object(head("chat.completion.chunk") + [("choices", []), ("usage", usage(prompt, completion, cached: cached, predicted: predicted))])
    }

    func whole(choices: [JSON], prompt: Int, completion: Int, cached: Int, predicted: (accepted: Int, rejected: Int)?) -> JSON {
        .object(head("chat.completion") + [("choices", .array(choices)),
                                           ("usage", usage(prompt, completion, cached: cached, predicted: predicted))])
    }
}

extension OpenAIAPI {
    /// `modalities`: OpenAI's default, `["text"]`, is what this server answers; audio output is not.
    func checkModalities(_ r: FieldReader) throws {
        guard let v = r.raw("modalities") else { return }
        let notStrings = APIError.invalid("`modalities` must be a non-empty array of strings, such as [\"text\"].", param: "modalities")
        guard case let .array(items) = v, !items.isEmpty else { throw notStrings }
        for item in items {
            guard case let .string(s) = item else { throw notStrings }
            if s == "audio" { throw APIError.invalid("`modalities` \"audio\" is not supported: this server generates text only.", param: "modalities") }
            guard s == "text" else {
                throw APIError.invalid("`modalities` takes \"text\" only here, got \"\(s)\".", param: "modalities")
            }
        }
    }
}
