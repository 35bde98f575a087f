import Engine
import Foundation
import Grammar
import HTTP
import Model

/// llama-server's own API (not OpenAI's), which its clients call: POST /completion and POST
/// /infill (`InfillEndpoint.swift`) share its sampling names and defaults, its limits for code
/// (`n_indent`, `t_max_predict_ms`) and its answer (`content`, `stop_type`, `timings`, ...), whole or
/// streamed as `data:` events without `[DONE]`.
extension OpenAIAPI {
    /// Fields read as they are into the sampling options (`GenerationOptions`), with llama-server's
    /// names said as those options' where they differ.
    private static let llamaSampling: [(from: String, to: String)] = [
        ("temperature", "temperature"), ("top_k", "top_k"), ("top_p", "top_p"), ("min_p", "min_p"), ("seed", "seed"),
        ("repeat_penalty", "repetition_penalty"), ("presence_penalty", "presence_penalty"),
        ("frequency_penalty", "frequency_penalty"), ("stop", "stop"), ("stream", "stream"), ("ignore_eos", "ignore_eos")]
    /// llama-server's defaults where they differ from OpenAI's.
    private static let llamaDefaults: [(String, JSON)] = [("temperature", 0.8), ("top_k", 40), ("top_p", 0.95), ("min_p", 0.05)]

    /// A checked llama-server request: its prompts (several on /completion, each answered) and
    /// generation requests (`n_cmpl` a prompt, prompt by prompt), and what its answer says.
    struct LlamaNativePlan {
        var prompts: [[Int32]]
        /// `n_cmpl`: the requests of each prompt.
        var perPrompt: Int
        var requests: [GenerationRequest]
        var opts: GenerationOptions
        var rules: ChoiceText.LineRules
        /// `n_predict` as asked (-1, 0 or a count); 0: the prompt only.
        var predict: Int
        /// Per prompt: the context, not `n_predict`, bounds the answer (llama-server's `truncated`
        /// when it fills it).
        var contextBound: [Bool]
        var returnTokens: Bool
        var fields: [String]?
        var adapter: String?
        /// What the log shows of the prompt (with `logging.prompts`).
        var logText: String
        var warmOnly: Bool { predict == 0 }
        /// The prompt of request (and answer) i.
        func prompt(of i: Int) -> [Int32] { prompts[i / perPrompt] }
        func contextBound(of i: Int) -> Bool { contextBound[i / perPrompt] }
    }

    /// Runs a llama-server request and answers in its shape, whole or streamed: one object, or
    /// with several prompts or `n_cmpl` > 1 an array of them (each with its `index`).
    func answerLlamaNative(_ plan: LlamaNativePlan, route: APIRoute, _ responder: HTTPResponder) throws {
        let (requests, opts, rules, predict, returnTokens, fields) = (plan.requests, plan.opts, plan.rules, plan.predict,
                                                                      plan.returnTokens, plan.fields)
        let (warmOnly, t, n) = (plan.warmOnly, model.tokenizer, plan.requests.count)
        try check(requests)
        let settings: JSON = ["n_predict": JSON(predict), "seed": opts.seed.map { .number(Double($0)) } ?? JSON(-1),
                              "temperature": JSON(opts.sampling.temperature), "top_k": JSON(opts.sampling.topK),
                              "top_p": JSON(opts.sampling.topP), "min_p": JSON(opts.sampling.minP),
                              "repeat_penalty": JSON(opts.sampling.repetitionPenalty),
                              "presence_penalty": JSON(opts.sampling.presencePenalty),
                              "frequency_penalty": JSON(opts.sampling.frequencyPenalty),
                              "stop": .array(opts.stop.map(JSON.string)), "n_indent": JSON(rules.minIndent),
                              "t_max_predict_ms": JSON(Int((rules.maxPredictNanos ?? 0) / 1_000_000)),
                              "ignore_eos": .bool(opts.ignoreEOS), "stream": .bool(opts.stream),
                              "n_cmpl": JSON(plan.perPrompt)]
        let promptTokens = plan.prompts.reduce(0) { $0 + $1.count }
        let report = reporter(responder, route: route, stream: opts.stream, prompt: logPrompts ? plan.logText : nil,
                              adapter: plan.adapter) { _ in promptTokens }
        let promptTexts = plan.prompts.map { t.decode($0) }  // once a prompt, not once an answer
        // Choice i's answer as llama-server gives it (`server_task_result_cmpl_final`), its `content`
        // empty when streamed; `response_fields` picks paths of it.
        let final: (GenerationJob, Int, Bool) -> JSON = { [model] job, i, streamed in
            let c = job.results[i], ids = plan.prompt(of: i)
            let generated = warmOnly ? 0 : c.completionTokens
            let cached = c.cachedTokens
            let stopType = c.finishReason == "length" ? "limit"
                : c.text.endedByRule ? "limit" : c.text.matchedStop != nil ? "word" : c.finishReason == "stop" ? "eos" : "none"
            let (first, last) = job.tokenTimes(of: i)  // the choice's own, as a llama-server slot times its task
            let promptMs = Double((first ?? job.startedAt) &- job.startedAt) / 1e6
            let predictedMs = warmOnly ? 0 : Double((last ?? 0) &- (first ?? 0)) / 1e6
            let evaluated = ids.count - cached
            let timings: JSON = ["cache_n": JSON(cached), "prompt_n": JSON(evaluated), "prompt_ms": .number(promptMs),
                                 "prompt_per_token_ms": .number(evaluated > 0 ? promptMs / Double(evaluated) : 0),
                                 "prompt_per_second": .number(promptMs > 0 ? Double(evaluated) / promptMs * 1000 : 0),
                                 "predicted_n": JSON(generated), "predicted_ms": .number(predictedMs),
                                 "predicted_per_token_ms": .number(generated > 0 ? predictedMs / Double(generated) : 0),
                                 "predicted_per_second": .number(predictedMs > 0 ? Double(generated) / predictedMs * 1000 : 0)]
            let text = warmOnly ? "" : c.text.text
            // The context filled: the answer stopped at its end, not at n_predict.
            let truncated = !warmOnly && plan.contextBound(of: i) && c.finishReason == "length"
            // The ids sampled (a stop string's too, as llama-server keeps them); streamed, they went with the pieces.
            let tokens: [JSON] = returnTokens && !warmOnly && !streamed ? c.sampled.map { JSON(Int($0)) } : []
            let object: JSON = ["index": JSON(i), "content": .string(streamed ? "" : text), "tokens": .array(tokens),
                                "id_slot": 0, "stop": true, "model": .string(model.id), "tokens_predicted": JSON(generated),
                                "tokens_evaluated": JSON(ids.count), "generation_settings": settings,
                                "prompt": .string(promptTexts[i / plan.perPrompt]), "has_new_line": .bool(text.contains("\n")), "truncated": .bool(truncated),
                                "stop_type": .string(stopType), "stopping_word": .string(c.text.matchedStop ?? ""),
                                // The last token sampled is not yet in the cache (as llama-server counts it).
                                "tokens_cached": JSON(ids.count + max(generated - 1, 0)), "timings": timings]
            return fields.map { Self.pick($0, from: object) } ?? object
        }
        let skipSpecial = opts.skipSpecialTokens ?? true

        guard opts.stream else {
            return try submitWholeAnswer(requests, stops: opts.stop, skipSpecial: skipSpecial, responder: responder, anthropic: false,
                                         report: report, rules: rules, keepsTokens: returnTokens) { job in
                n == 1 ? final(job, 0, false) : .array((0..<n).map { final(job, $0, false) })
            }
        }
        let writer = StreamWriter(responder: responder, service: service, requestIDs: requests.map(\.id), timeout: slowReaderTimeout,
                                  observer: observer)
        let running = JobReference()
        let job = GenerationJob(
            service: service, tokenizer: t, requestIDs: requests.map(\.id), stops: opts.stop, observer: observer, skipSpecial: skipSpecial,
            rules: rules, keepsTokens: true,  // each streamed event carries its ids, as llama-server's do
            onDelta: { d in
                switch d.finishReason {
                case "abort": writer.abortedByServer(SSE.event(APIError.serverEnded.json)); return
                case "error": writer.write(SSE.event(APIError.internal("generation failed").json)); return
                default: break
                }
                guard !warmOnly, !d.text.isEmpty || !d.tokens.isEmpty else { return }  // a stop string's ids come without text
                let predicted = running.job?.results[d.choice].text.tokenCount ?? 0
                let partial: JSON = ["index": JSON(d.choice), "content": .string(d.text), "tokens": .array(d.tokens.map { JSON(Int($0)) }),
                                     "stop": false, "id_slot": 0,
                                     "tokens_predicted": JSON(predicted), "tokens_evaluated": JSON(plan.prompt(of: d.choice).count)]
                writer.write(SSE.event(partial))  // `response_fields` picks from the final answer only, as in llama-server
            },
            // Each answer's final event as soon as it ends (a short answer's does not wait for a long
            // one's, as llama-server sends each task's); none for an aborted or failed one.
            onChoiceDone: { i in
                guard let job = running.job, job.error == nil, let reason = job.results[i].finishReason,
                      reason == "stop" || reason == "length" else { return }
                writer.write(SSE.event(final(job, i, true)))
            },
            onDone: { job in
                report(job)
                responder.end()
            })
        running.job = job
        try submitStream(requests, job: job, responder: responder) { responder.startStream(status: .ok, headers: SSE.headers) }
    }

    /// The fields of a llama-server request other than its prompt: sampling in its names (over its
    /// defaults), `n_predict`, the code limits, what the answer holds, and bookkeeping accepted
    /// without effect.
    struct LlamaNativeOptions {
        var opts: GenerationOptions
        var rules: ChoiceText.LineRules
        var predict: Int
        var returnTokens: Bool
        var fields: [String]?
        /// `n_cmpl`: answers to the one prompt (choice i draws with `seed + i`).
        var n: Int
        var chosen: (name: String, adapter: String?, adapters: [LoraSelection])
        /// `grammar` (GBNF) or `json_schema`, as llama-server takes them.
        var grammar: TokenGrammar?
    }

    func llamaNativeOptions(_ r: FieldReader) throws -> LlamaNativeOptions {
        let t = model.tokenizer
        // `model` (an adapter's name picks it; any other name is this model, as llama-server
        // ignores it) and llama-server's per-request `lora` list.
        let chosen = try requestedModel(r, unknownIsBase: true)
        let n = try r.int("n_cmpl", 1...limits.maxN) ?? 1
        let grammar = try constrainedGrammar(r)
        // Bookkeeping of llama-server's that changes no answer here: its slots and prompt cache
        // (the prefix cache is always on), its prompt-time limit, its sampler order (top-k, top-p
        // and min-p are applied in one order here, as in chat).
        _ = try r.bool("cache_prompt")
        _ = try r.int("id_slot", -1...Int.max)
        _ = try r.int("t_max_prompt_ms", -1...Int.max)
        _ = try r.int("n_keep", -1...Int.max)
        _ = try r.int("repeat_last_n", -1...Int.max)
        switch r.raw("samplers") {
        case nil, .string?: break  // the names, or llama-server's letters ("kfypmxt")
        case let .array(items)? where items.allSatisfy({ if case .string = $0 { return true }; return false }): break
        default: throw APIError.invalid("`samplers` must be a string or an array of strings.", param: "samplers")
        }
        if let p = try r.double("typical_p", 0...1), p != 1 { throw APIError.invalid("`typical_p` is not supported (only 1, its off value).", param: "typical_p") }
        if let m = try r.int("mirostat", 0...2), m != 0 { throw APIError.invalid("`mirostat` is not supported (only 0, its off value).", param: "mirostat") }
        if let n = try r.int("n_probs", 0...Int.max), n != 0 { throw APIError.invalid("`n_probs` is not supported here; ask /v1/completions with `logprobs`.", param: "n_probs") }
        let returnTokens = try r.bool("return_tokens") ?? false
        let fields = try Self.llamaResponseFields(r)
        // Any count: past what the context leaves, the answer runs to its end (`llamaNativeRequest`).
        let given = try r.int("n_predict", -1...Int.max), maxTokens = try r.int("max_tokens", -1...Int.max)
        let predict = given ?? maxTokens ?? -1
        let rules = ChoiceText.LineRules(minIndent: try r.int("n_indent", 0...Int.max) ?? 0,
                                         maxPredictNanos: (try r.int("t_max_predict_ms", -1...Int.max)).flatMap { $0 > 0 ? UInt64(min($0, 1 << 40)) * 1_000_000 : nil })
        // The sampling fields, said in GenerationOptions' names over llama-server's defaults.
        var body: [(String, JSON)] = Self.llamaDefaults.filter { d in !Self.llamaSampling.contains { $0.to == d.0 && r.has($0.from) } }
        for (from, to) in Self.llamaSampling { if let v = r.raw(from) { body.append((to, v)) } }
        if let b = r.raw("logit_bias") { body.append(("logit_bias", try Self.llamaLogitBias(b))) }
        let opts: GenerationOptions
        do {
            opts = try GenerationOptions(try FieldReader(.object(body)), maxTokensKeys: [], limits: limits, vocabularySize: t.vocabularySize)
        } catch let e as APIError {
            let back = Self.llamaSampling.first { $0.to == e.param }?.from
            throw back.map { b in e.renamingFields { $0 == e.param ? b : $0 } } ?? e
        }
        return LlamaNativeOptions(opts: opts, rules: rules, predict: predict, returnTokens: returnTokens, fields: fields, n: n,
                                  chosen: chosen, grammar: grammar)
    }

    /// `logit_bias` in either of llama-server's forms: OpenAI's object, or `[[id, bias]]` pairs
    /// where `false` bans the token (said here as -100, the bias that does).
    private static func llamaLogitBias(_ v: JSON) throws -> JSON {
        guard case let .array(pairs) = v else { return v }
        let bad = APIError.invalid("`logit_bias` must be an object or an array of [token id, bias or false] pairs.", param: "logit_bias")
        return .object(try pairs.map { pair in
            guard case let .array(p) = pair, p.count == 2, case let .number(id, _) = p[0], id == id.rounded(), id >= 0 else { throw bad }
            switch p[1] {
            case .bool(false): return (String(Int(id)), -100)
            case .number: return (String(Int(id)), p[1])
            default: throw bad
            }
        })
    }

    /// The generation requests of llama-server prompts, `n_cmpl` each, prompt by prompt (its
    /// answers' order): `predict` -1 runs until the model or the context ends, 0 runs the prompt
    /// only (one token computed and dropped), into the prefix cache.
    func llamaNativeRequest(_ prompts: [[Int32]], _ o: LlamaNativeOptions, prefix: String, logText: String) throws -> LlamaNativePlan {
        try checkQueueRoom(prompts.count * o.n, param: prompts.count > 1 ? "prompt" : "n_cmpl", countName: "n_cmpl")
        let id = prefix + Self.randomID()
        let eog = model.tokenizer.endOfGenerationIDs
        var requests: [GenerationRequest] = [], contextBound: [Bool] = []
        for (p, ids) in prompts.enumerated() {
            // A count past what the context leaves runs to the context's end (llama-server's
            // `truncated`), as -1 does; a prompt that fills the context is still a 400.
            let room = min(service.contextLength, service.cacheCapacity) - ids.count
            let maxTokens = o.predict == 0 ? 1 : o.predict > 0 ? min(o.predict, max(room, 1)) : max(room, 1)
            contextBound.append(o.predict != 0 && maxTokens < o.predict || o.predict < 0)
            for i in 0..<o.n {
                var sampling = o.opts.sampling(forChoice: i)
                // llama-server's `ignore_eos` bans the end-of-generation tokens (vLLM's, chat's here,
                // samples them and goes on).
                if o.opts.ignoreEOS { for t in eog { sampling.logitBias[t] = -100 } }
                var r = GenerationRequest(id: "\(id)-\(p)-\(i)", promptTokens: ids, sampling: sampling,
                                          maxTokens: maxTokens, ignoreEOS: o.opts.ignoreEOS, logprobs: nil)
                if o.n > 1 { r.shareGroup = "\(id)-\(p)" }
                r.adapters = o.chosen.adapters
                r.grammar = o.grammar
                requests.append(r)
            }
        }
        return LlamaNativePlan(prompts: prompts, perPrompt: o.n, requests: requests, opts: o.opts, rules: o.rules, predict: o.predict,
                               contextBound: contextBound, returnTokens: o.returnTokens,
                               fields: o.fields, adapter: o.chosen.adapter, logText: logText)
    }

    /// The job a stream's pieces come from, for its token count (set once, before it is submitted).
    private final class JobReference: @unchecked Sendable {
        weak var job: GenerationJob?
    }

    /// `response_fields`: paths (`timings/prompt_n`) of the answer to give, each under its path.
    private static func llamaResponseFields(_ r: FieldReader) throws -> [String]? {
        guard let v = r.raw("response_fields") else { return nil }
        guard case let .array(items) = v else { throw APIError.invalid("`response_fields` must be an array of strings.", param: "response_fields") }
        return try items.map { item in
            guard case let .string(s) = item else { throw APIError.invalid("`response_fields` must be an array of strings.", param: "response_fields") }
            return s
        }
    }

    /// The values at `paths` of `object`, keyed by path; a path that leads nowhere is left out.
    static func pick(_ paths: [String], from object: JSON) -> JSON {
        .object(paths.compactMap { path in
            var current: JSON? = object
            for key in path.split(separator: "/", omittingEmptySubsequences: false) { current = current?[String(key)] }
            return current.map { (path, $0) }
        })
    }
}
