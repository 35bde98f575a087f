import Engine
import Foundation
import HTTP

/// POST /v1/messages: Anthropic's Messages API over the chat pipeline (`MessagesRequest.swift`
/// reads the request), answered as a Message object or streamed as its typed events
/// (`message_start`, content blocks, `message_delta`, `message_stop`), so the official SDK and
/// Anthropic clients (Claude Code) work against the server. POST /v1/messages/count_tokens
/// counts the prompt tokens such a request renders to.
extension OpenAIAPI {
    func messages(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        let plan = try messagesPlan(try Self.parseBody(request))
        let chat = plan.chat, warmOnly = plan.warmOnly, windowBound = plan.windowBound, stops = plan.stops
        let requests = chat.requests, ids = chat.ids
        let id = "msg_" + Self.randomID()
        let toolFormat = chat.tools?.format, toolNames = chat.tools?.toolNames ?? []
        let skipSpecial = chat.opts.skipSpecialTokens ?? (toolFormat == nil)
        let stream = chat.opts.stream
        let out = MessagesOutput(format: toolFormat, toolNames: toolNames)
        // Anthropic counts the prompt in three parts: read from the cache, written to it, the rest.
        let usage: (GenerationJob?) -> JSON = { job in
            let cached = job?.cachedPromptTokens(n: requests.count) ?? 0
            return ["input_tokens": JSON(ids.count - cached), "cache_creation_input_tokens": 0, "cache_read_input_tokens": JSON(cached),
                    "output_tokens": JSON(warmOnly ? 0 : job?.usage.completion ?? 0), "service_tier": "standard"]
        }
        // Why the answer ended, and the stop sequence that ended it.
        let stopReason: (GenerationJob) -> (String, JSON) = { job in
            let c = job.results[0]
            if warmOnly { return ("max_tokens", .null) }
            if c.finishReason == "length" { return (windowBound ? "model_context_window_exceeded" : "max_tokens", .null) }
            if let s = c.text.matchedStop, stops.contains(s) { return ("stop_sequence", .string(s)) }
            return (out.calledTools ? "tool_use" : "end_turn", .null)
        }
        let management = plan.contextManagement
        let message: (_ content: [JSON], _ stop: (String, JSON)?, _ usage: JSON) -> JSON = { content, stop, usage in
            var m: JSON = ["id": .string(id), "type": "message", "role": "assistant", "model": .string(chat.modelName), "content": .array(content),
                           "stop_reason": stop.map { .string($0.0) } ?? .null, "stop_sequence": stop?.1 ?? .null, "usage": usage]
            if let management, stop != nil { m = m.setting("context_management", management) }
            return m
        }
        let report = reporter(responder, route: .messages, stream: stream, prompt: logPrompts ? chat.prompt : nil, adapter: chat.adapter) { _ in ids.count }

        guard stream else {
            return try submitWholeAnswer(requests, stops: chat.opts.stop, skipSpecial: skipSpecial, responder: responder, anthropic: true,
                                         report: report) { job in
                _ = out.push(warmOnly ? "" : job.results[0].text.text, finished: true)
                return message(out.content, stopReason(job), usage(job))
            }
        }

        try check(requests)
        let writer = StreamWriter(responder: responder, service: service, requestIDs: requests.map(\.id),
                                  timeout: slowReaderTimeout, observer: observer)
        let failed: (APIError) -> [UInt8] = { SSE.event(named: $0.anthropicJSON) }
        let job = typedEventJob(requests, stops: chat.opts.stop, skipSpecial: skipSpecial, writer: writer, failed: failed,
            push: { d in out.push(warmOnly ? "" : d.text, finished: d.finishReason != nil) },
            onDone: { job in
                report(job)
                guard job.error == nil, !job.wasAborted else { responder.end(); return }
                let (reason, sequence) = stopReason(job)
                var delta: JSON = ["type": "message_delta", "delta": ["stop_reason": .string(reason), "stop_sequence": sequence], "usage": usage(job)]
                if let management { delta = delta.setting("context_management", management) }
                responder.end(after: SSE.event(named: delta) + SSE.event(named: ["type": "message_stop"]))
            })
        try submitStream(requests, job: job, responder: responder) {
            responder.startStream(status: .ok, headers: SSE.headers)
            writer.write(SSE.event(named: ["type": "message_start", "message": message([], nil, usage(nil))]))
            writer.write(SSE.event(named: ["type": "ping"]))
        }
    }

    /// POST /v1/messages/count_tokens: `{"input_tokens"}`, the tokens of the prompt the request's
    /// system, messages, tools and format render to (the count a Messages request's usage gives
    /// before the cache), without generating; after its context edits, with the count before them
    /// in `context_management.original_input_tokens`.
    func countMessageTokens(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        let plan = try messagesPlan(try Self.parseBody(request), counting: true)
        var answer: JSON = ["input_tokens": JSON(plan.chat.ids.count)]
        if plan.contextManagement != nil {
            answer = answer.setting("context_management", ["original_input_tokens": JSON(plan.originalInputTokens)])
        }
        responder.respond(.json(answer))
    }
}
