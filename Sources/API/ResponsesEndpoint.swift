import Engine
import Foundation
import HTTP

/// POST /v1/responses: OpenAI's Responses API over the chat pipeline (`ResponsesRequest.swift`
/// reads the request), answered as a Response object, or streamed as its typed events
/// (`response.created` ... `response.completed`). One answer per request (the API has no `n`).
/// A finished answer is kept (unless `store: false`) before its client gets it, so a follow-up
/// with `previous_response_id` finds it (`ResponsesStoreEndpoints.swift`: GET and DELETE).
extension OpenAIAPI {
    func responses(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        let plan = try responsesPlan(try Self.parseBody(request), owner: responseStore?.owner(of: request) ?? "")
        let chat = plan.chat
        let requests = chat.requests, ids = chat.ids
        let tokenizer = model.tokenizer
        let id = "resp_" + Self.randomID()
        let created = Int(Date().timeIntervalSince1970)
        let toolFormat = chat.tools?.format, toolNames = chat.tools?.toolNames ?? []
        let skipSpecial = chat.opts.skipSpecialTokens ?? (toolFormat == nil)
        let wantLogprobs = plan.logprobs
        let promptText = logPrompts ? chat.prompt : nil
        let stream = chat.opts.stream
        func entries(_ lp: [TokenLogprob]) -> [JSON] {
            guard wantLogprobs, !lp.isEmpty, case let .array(a)? = Logprobs.chat(tokenizer, lp)["content"] else { return [] }
            return a
        }
        // The Response object; `finish` nil while it runs.
        let object: (_ status: String, _ output: [JSON], _ job: GenerationJob?, _ finish: String?, _ error: JSON) -> JSON = { status, output, job, finish, error in
            var fields: [(String, JSON)] = [
                ("id", .string(id)), ("object", "response"), ("created_at", JSON(created)), ("status", .string(status)),
                ("background", false), ("error", error),
                ("incomplete_details", finish == "length" ? ["reason": "max_output_tokens"] : .null)]
            fields += plan.echo.filter { ["instructions", "max_output_tokens"].contains($0.0) }
            fields += plan.echo.filter { $0.0 == "max_tool_calls" }
            fields += [("model", .string(chat.modelName)), ("output", .array(output))]
            fields += plan.echo.filter { ["parallel_tool_calls", "previous_response_id"].contains($0.0) }
            fields += [("reasoning", ["effort": .null, "summary": .null]), ("service_tier", "default")]
            fields += plan.echo.filter { $0.0 == "store" }
            fields += plan.echo.filter { ["temperature", "text", "tool_choice", "tools", "top_logprobs", "top_p"].contains($0.0) }
            fields += plan.echo.filter { $0.0 == "truncation" }
            if let job {
                let u = job.usage
                fields.append(("usage", ["input_tokens": JSON(ids.count),
                                         "input_tokens_details": ["cached_tokens": JSON(job.cachedPromptTokens(n: requests.count)),
                                                                  "cache_write_tokens": 0],
                                         "output_tokens": JSON(u.completion), "output_tokens_details": ["reasoning_tokens": 0],
                                         "total_tokens": JSON(ids.count + u.completion)]))
            } else {
                fields.append(("usage", .null))
            }
            fields += plan.echo.filter { ["user", "metadata", "safety_identifier", "prompt_cache_key"].contains($0.0) }
            return .object(fields)
        }
        let status: (String?) -> String = { $0 == "length" ? "incomplete" : "completed" }
        // Keeps a finished answer; what its client gets says whether it was (one larger than the store is not).
        let keep: (JSON, ResponsesOutput) -> JSON = { [responseStore] response, out in
            guard plan.store, let responseStore else { return response }
            var turn = plan.turn
            var answer = out.chatMessage
            if plan.continuesLast, case var .object(fields) = answer, let prefix = turn.last.flatMap(Self.assistantText) {
                // The answer went on from the prefill: one assistant message, as the model wrote it.
                let text: String = { if case let .string(t)? = answer["content"] { return t }; return "" }()
                fields.removeAll { $0.0 == "content" }
                fields.insert(("content", .string(prefix + text)), at: 1)
                answer = .object(fields)
                turn.removeLast()
            }
            guard responseStore.put(id, .init(response: response, turn: turn + [answer], previous: plan.previousID,
                                              earlier: plan.earlier, inputItems: plan.inputItems, owner: plan.owner)) else {
                guard case var .object(fields) = response, let k = fields.firstIndex(where: { $0.0 == "store" }) else { return response }
                fields[k].1 = false
                return .object(fields)
            }
            return response
        }
        let reportJob = reporter(responder, route: .responses, stream: stream, prompt: promptText, adapter: chat.adapter) { _ in ids.count }
        // A response to keep is known to the store while it is answered (a DELETE then is taken);
        // one that ends without an answer, or is never submitted, is forgotten there (`keep` takes
        // the others).
        let report: (GenerationJob) -> Void = { [responseStore] job in
            reportJob(job)
            if plan.store && (job.error != nil || job.wasAborted) { responseStore?.abandoned(id) }
        }
        if plan.store { responseStore?.answering(id, owner: plan.owner, opening: object("in_progress", [], nil, nil, .null), inputItems: plan.inputItems) }
        do {
            guard stream else {
                return try submitWholeAnswer(requests, stops: chat.opts.stop, skipSpecial: skipSpecial, responder: responder, anthropic: false,
                                             report: report) { job in
                    let c = job.results[0]
                    let out = ResponsesOutput(format: toolFormat, toolNames: toolNames)
                    _ = out.start()  // as the stream opens its message: an empty answer is an empty message
                    _ = out.push(c.text.text, logprobs: entries(c.logprobs), finish: c.finishReason ?? "stop")
                    return keep(object(status(c.finishReason), out.items, job, c.finishReason, .null), out)
                }
            }

            try check(requests)
            let out = ResponsesOutput(format: toolFormat, toolNames: toolNames)
            let writer = StreamWriter(responder: responder, service: service, requestIDs: requests.map(\.id),
                                      timeout: slowReaderTimeout, observer: observer)
            // A failed answer: an `error` event, then `response.failed` with what was made so far.
            let failed: (APIError) -> [UInt8] = { e in
                let error = out.event("error", [("code", e.code.map(JSON.string) ?? .string(e.type)), ("message", .string(e.message)), ("param", .null)])
                let body = object("failed", out.items, nil, nil, ["code": "server_error", "message": .string(e.message)])
                return SSE.event(named: error) + SSE.event(named: out.event("response.failed", [("response", body)]))
            }
            let job = typedEventJob(requests, stops: chat.opts.stop, skipSpecial: skipSpecial, writer: writer, failed: failed,
                push: { d in out.push(d.text, logprobs: entries(d.logprobs), finish: d.finishReason) },
                onDone: { job in
                    report(job)
                    guard job.error == nil, !job.wasAborted else { responder.end(); return }
                    let finish = job.results[0].finishReason
                    let final = keep(object(status(finish), out.items, job, finish, .null), out)
                    responder.end(after: SSE.event(named: out.event("response." + status(finish), [("response", final)])))
                })
            try submitStream(requests, job: job, responder: responder) {
                responder.startStream(status: .ok, headers: SSE.headers)
                let opening = object("in_progress", [], nil, nil, .null)
                writer.write(SSE.event(named: out.event("response.created", [("response", opening)])))
                writer.write(SSE.event(named: out.event("response.in_progress", [("response", opening)])))
                for e in out.start() { writer.write(SSE.event(named: e)) }
            }
        } catch {
            if plan.store { responseStore?.abandoned(id) }
            throw error
        }
    }

    /// An assistant message's text as chat reads it: a string, or its text (or refusal) parts joined
    /// by newlines (`chatMessages`); nil for anything else.
    static func assistantText(_ message: JSON) -> String? {
        switch message["content"] {
        case let .string(t)?: return t
        case let .array(parts)?:
            let texts = parts.compactMap { p -> String? in
                if case let .string(t)? = p["text"] { return t }
                if case let .string(t)? = p["refusal"] { return t }
                return nil
            }
            return texts.count == parts.count ? texts.joined(separator: "\n") : nil
        default: return nil
        }
    }
}
