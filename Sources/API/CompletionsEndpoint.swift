import Engine
import Foundation
import HTTP
import Tokenizer

/// POST /v1/completions.
extension OpenAIAPI {
    /// A checked completions request: what to submit and how to answer.
    struct CompletionPlan {
        var requests: [GenerationRequest]
        var opts: GenerationOptions
        var echo: Bool
        var logprobs: Int?
        var prompts: [[Int32]]
        /// The prompts came as text (the tokenizer added any BOS), not as token ids.
        var promptsAreText: Bool
        var id: String
        var modelName: String
        var adapter: String?
    }

    /// Reads and checks a completions body; throws the APIError a client gets.
    func completionPlan(_ json: JSON) throws -> CompletionPlan {
        let r = try FieldReader(json)
        let chosen = try requestedModel(r)  // the model field and `lora` (LoraEndpoints.swift)
        if let b = try r.int("best_of", 1...limits.maxN) {
            let n = try r.int("n", 1...limits.maxN) ?? 1
            // OpenAI's rule is best_of ≥ n; picking the n best of more candidates is not done here.
            if b < n { throw APIError.invalid("`best_of` must be at least `n` (\(n)), got \(b).", param: "best_of") }
            if b > n {
                throw APIError.invalid("`best_of` greater than `n` is not supported (every generated choice is returned): ask for `n: \(b)` instead, or leave `best_of` out.",
                                       param: "best_of")
            }
        }
        _ = try r.string("user")
        try refuseStore(r)
        try checkIgnoredFields(r)
        var opts = try GenerationOptions(r, maxTokensKeys: ["max_tokens"], fewestTokens: 0, limits: limits, vocabularySize: model.tokenizer.vocabularySize)
        let grammar = try constrainedGrammar(r)  // response_format and its aliases (ResponseFormat.swift)
        let echo = try r.bool("echo") ?? false
        let logprobs = try r.int("logprobs", 0...limits.maxLogprobs)
        let suffix = try r.string("suffix")
        if suffix != nil && echo {
            throw APIError.invalid("`echo` cannot be combined with `suffix`: the prompt is a prefix and a suffix.", param: "echo")
        }
        if suffix != nil && opts.truncatePromptTokens != nil {
            // Cut from its start, a fill-in-the-middle prompt would lose its prefix and its marks.
            throw APIError.invalid("`truncate_prompt_tokens` cannot be combined with `suffix`.", param: "truncate_prompt_tokens")
        }
        let prompts = try promptTokens(r, suffix: suffix).map { try truncatedPrompt($0, opts.truncatePromptTokens, answer: opts.maxTokens ?? 16) }
        try checkQueueRoom(prompts.count * opts.n, param: prompts.count > 1 ? "prompt" : "n")
        let maxTokens = opts.maxTokens ?? 16
        opts.maxTokens = maxTokens
        let id = "cmpl-" + Self.randomID()
        var requests: [GenerationRequest] = []
        for (p, ids) in prompts.enumerated() {
            let share = echo && logprobs != nil && opts.n > 1 ? SharedPromptLogprobs() : nil
            for i in 0..<opts.n {
                var req = GenerationRequest(
                    id: "\(id)-\(p)-\(i)", promptTokens: ids, sampling: opts.sampling(forChoice: i),
                    maxTokens: maxTokens, ignoreEOS: opts.ignoreEOS, logprobs: logprobs,
                    promptLogprobs: echo ? logprobs : nil)
                if opts.n > 1 { req.shareGroup = "\(id)-\(p)" }
                req.promptLogprobsShare = share
                req.grammar = grammar
                req.measureConfidence = confidenceThreshold(requested: opts.confidence) != nil
                req.confidenceRequested = opts.confidence
                req.speculative = opts.speculative
                req.adapters = chosen.adapters
                requests.append(req)
            }
        }
        try r.refuseUnknown()
        let promptsAreText: Bool
        switch r.raw("prompt") {
        case .string?: promptsAreText = true
        case let .array(items)?: promptsAreText = items.allSatisfy { if case .string = $0 { return true }; return false }
        default: promptsAreText = false
        }
        return CompletionPlan(requests: requests, opts: opts, echo: echo, logprobs: logprobs, prompts: prompts,
                              promptsAreText: promptsAreText, id: id,
                              modelName: chosen.name, adapter: chosen.adapter)
    }

    func completions(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        let plan = try completionPlan(try Self.parseBody(request))
        let (requests, opts, echo, logprobs, prompts) = (plan.requests, plan.opts, plan.echo, plan.logprobs, plan.prompts)
        let created = Int(Date().timeIntervalSince1970)
        let fields = CompletionWire(id: plan.id, created: created, model: plan.modelName, fingerprint: fingerprint)
        let tokenizer = model.tokenizer
        // The BOS the vocabulary puts before a text prompt is not text the caller wrote: the echo
        // leaves it out, and its logprob entry with it. Token ids are echoed as given.
        let hidden = prompts.map { plan.promptsAreText && tokenizer.addBOS && $0.first != nil && $0.first == tokenizer.bosID ? 1 : 0 }
        let echoed = echo ? prompts.indices.map { Array(prompts[$0].dropFirst(hidden[$0])) } : []
        let echoText = echoed.map { tokenizer.decode($0) }
        // What decoding left out of the tokens' own text at the start (a SentencePiece vocabulary's
        // leading space): the echo's logprob offsets count from the text returned.
        let unshown = echoText.indices.map { p -> Int in
            let raw = String(decoding: echoed[p].flatMap { tokenizer.tokenBytes($0) }, as: UTF8.self)
            return raw.hasSuffix(echoText[p]) ? raw.utf16.count - echoText[p].utf16.count : 0
        }
        let n = opts.n
        let includeUsage = opts.includeUsage
        let stream = opts.stream
        let wantConfidence = opts.confidence
        let threshold = confidenceThreshold(requested: opts.confidence)
        // Generated control tokens give no text (OpenAI's and vLLM's answers); the echo keeps the prompt's.
        let skipSpecial = opts.skipSpecialTokens ?? true
        let promptText = logPrompts ? prompts.map { tokenizer.decode($0) }.joined(separator: "\n") : nil
        let report = reporter(responder, route: .completions, stream: stream, prompt: promptText, adapter: plan.adapter) { $0.usage.prompt / n }

        if opts.stream {
            try check(requests)
            // A slow reader pauses the stream's sequences instead of overrunning the buffer.
            let writer = StreamWriter(responder: responder, service: service, requestIDs: requests.map(\.id),
                                      timeout: slowReaderTimeout, observer: observer)
            let job = GenerationJob(
                service: service, tokenizer: tokenizer, requestIDs: requests.map(\.id), stops: opts.stop, observer: observer,
                confidenceThreshold: threshold, skipSpecial: skipSpecial,
                onDelta: { d in
                    if let p = d.promptLogprobs {
                        // The echoed prompt goes out with its logprobs once they are known.
                        if echo && logprobs != nil {
                            let lp = Logprobs.completions(tokenizer, Array(p.dropFirst(hidden[d.choice / n])),
                                                          firstToken: echoed[d.choice / n].first, startOffset: -unshown[d.choice / n])
                            writer.write(SSE.event(fields.chunk(index: d.choice, text: echoText[d.choice / n], logprobs: lp,
                                                                   finish: nil, includeUsage: includeUsage)))
                        }
                        return
                    }
                    switch d.finishReason {
                    case "abort": writer.abortedByServer(); return
                    case "error": writer.write(SSE.event(APIError.internal("generation failed").json)); return
                    default: break
                    }
                    // Offsets count from the start of the choice's whole text, echo included.
                    let shift = echo ? echoText[d.choice / n].utf16.count : 0
                    let conf: JSON? = wantConfidence ? d.confidenceJSON(shift: shift) : Optional.none
                    if d.text.isEmpty && d.logprobs.isEmpty && d.finishReason == nil && conf == nil { return }
                    let start = d.offset + shift
                    let lp: JSON = logprobs == nil ? .null
                        : Logprobs.completions(tokenizer, d.logprobs, startOffset: start, textlessSpecialFrom: skipSpecial ? 0 : nil)
                    writer.write(SSE.event(fields.chunk(index: d.choice, text: d.text, logprobs: lp,
                                                           finish: d.finishReason, includeUsage: includeUsage, confidence: conf)))
                },
                onDone: { job in
                    report(job)
                    if includeUsage {
                        let u = job.usage
                        writer.write(SSE.event(fields.usageChunk(prompt: u.prompt / n, completion: u.completion,
                                                                 cached: job.cachedPromptTokens(n: n))))
                    }
                    responder.end(after: SSE.done)
                })
            try submitStream(requests, job: job, responder: responder) {
                responder.startStream(status: .ok, headers: SSE.headers)
                if echo && logprobs == nil {  // with logprobs, the echo waits for the prompt's (above)
                    for c in requests.indices {
                        writer.write(SSE.event(fields.chunk(index: c, text: echoText[c / n], logprobs: .null,
                                                               finish: nil, includeUsage: includeUsage)))
                    }
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
                    let choices: [JSON] = job.results.enumerated().map { c, choice in
                        let text = choice.text.text
                        var lp: JSON = .null
                        if logprobs != nil {
                            var entries: [TokenLogprob?] = choice.logprobs
                            if echo { entries = Array((choice.promptLogprobs ?? []).dropFirst(hidden[c / n])) + entries }
                            lp = Logprobs.completions(tokenizer, entries, firstToken: echo ? echoed[c / n].first : nil,
                                                      startOffset: echo ? -unshown[c / n] : 0,
                                                      textlessSpecialFrom: skipSpecial ? entries.count - choice.logprobs.count : nil)
                        }
                        var item: [(String, JSON)] = [("index", JSON(c)), ("text", .string(echo ? echoText[c / n] + text : text)),
                                                        ("logprobs", lp), ("finish_reason", .string(choice.finishReason ?? "stop"))]
                        if wantConfidence {
                            item.append(("confidence", choice.confidenceJSON(shift: echo ? echoText[c / n].utf16.count : 0)))
                        }
                        return .object(item)
                    }
                    let u = job.usage
                    responder.respond(.json(fields.whole(choices: choices, prompt: u.prompt / n, completion: u.completion,
                                                         cached: job.cachedPromptTokens(n: n))))
                })
            try submitAll(requests, job: job)
            responder.onCancel { job.cancel() }
        }
    }

    /// `prompt` as token ids: a string, strings, token ids, or arrays of token ids. With
    /// `suffix`, each text prompt is the part before the gap of a fill-in-the-middle prompt
    /// (code models: Qwen2.5-Coder, StarCoder, DeepSeek-Coder); token ids are refused then.
    func promptTokens(_ r: FieldReader, suffix: String? = nil) throws -> [[Int32]] {
        guard let p = r.raw("prompt") else { throw APIError.invalid("`prompt` is required.", param: "prompt") }
        let t = model.tokenizer
        if suffix != nil && t.fillInTheMiddleIDs == nil {
            throw APIError.invalid("`suffix` needs a model with fill-in-the-middle tokens (such as Qwen2.5-Coder); `\(model.id)` has none.",
                                   param: "suffix", code: "fim_not_supported")
        }
        func text(_ s: String) -> [Int32] {
            suffix.map { t.fillInTheMiddle(prefix: s, suffix: $0) ?? [] } ?? t.encode(s, addSpecial: true, parseSpecial: true)
        }
        let bad = APIError.invalid("`prompt` must be a string, an array of strings, an array of token ids, or an array of arrays of token ids.", param: "prompt")
        var out: [[Int32]]
        switch p {
        case let .string(s): out = [text(s)]
        case let .array(items):
            let texts = items.allSatisfy { if case .string = $0 { return true }; return false }
            if suffix != nil && (items.isEmpty || !texts) {
                throw APIError.invalid("With `suffix`, `prompt` must be text (a string or an array of strings).", param: "prompt")
            }
            guard !items.isEmpty else { throw APIError.invalid("`prompt` must not be empty.", param: "prompt") }
            if texts {
                out = items.map { if case let .string(s) = $0 { return text(s) }; return [] }
            } else if items.allSatisfy({ $0.tokenID != nil }) {
                out = [items.compactMap(\.tokenID)]
            } else if items.allSatisfy({ if case let .array(a) = $0 { return a.allSatisfy { $0.tokenID != nil } }; return false }) {
                out = items.map { if case let .array(a) = $0 { return a.compactMap(\.tokenID) }; return [] }
            } else { throw bad }
        default: throw bad
        }
        guard out.count <= limits.maxPrompts else {
            throw APIError.invalid("`prompt` can hold at most \(limits.maxPrompts) prompts.", param: "prompt")
        }
        for ids in out {
            guard !ids.isEmpty else { throw APIError.invalid("`prompt` must not be empty.", param: "prompt") }
            if let bad = ids.first(where: { Int($0) >= t.vocabularySize }) {
                throw APIError.invalid("token id \(bad) in `prompt` is outside the vocabulary of \(t.vocabularySize).", param: "prompt")
            }
        }
        return out
    }
}

/// The fixed fields of one completions response, and its chunk shapes.
struct CompletionWire {
    let id: String
    let created: Int
    let model: String
    let fingerprint: String

    private var head: [(String, JSON)] {
        [("id", .string(id)), ("object", "text_completion"), ("created", JSON(created)), ("model", .string(model)),
         ("system_fingerprint", .string(fingerprint))]
    }

    func chunk(index: Int, text: String, logprobs: JSON, finish: String?, includeUsage: Bool, confidence: JSON? = nil) -> JSON {
        var choice: [(String, JSON)] = [("index", JSON(index)), ("text", .string(text)), ("logprobs", logprobs),
                                        ("finish_reason", JSON(finish))]
        if let confidence { choice.append(("confidence", confidence)) }
        return .object(head + [("choices", [.object(choice)])] + (includeUsage ? [("usage", .null)] : []))
    }

    func usageChunk(prompt: Int, completion: Int, cached: Int) -> JSON {
        .object(head + [("choices", []), ("usage", usage(prompt, completion, cached: cached))])
    }

    func whole(choices: [JSON], prompt: Int, completion: Int, cached: Int) -> JSON {
        .object(head + [("choices", .array(choices)), ("usage", usage(prompt, completion, cached: cached))])
    }
}

/// OpenAI's usage object; `cached`: prompt tokens the prefix cache served (its
/// `prompt_tokens_details.cached_tokens`); `predicted`: a chat request's prediction's proposals
/// (`completionDetails`).
func usage(_ prompt: Int, _ completion: Int, cached: Int, predicted: (accepted: Int, rejected: Int)? = nil) -> JSON {
    ["prompt_tokens": JSON(prompt), "completion_tokens": JSON(completion), "total_tokens": JSON(prompt + completion),
     "prompt_tokens_details": ["cached_tokens": JSON(cached)], "completion_tokens_details": completionDetails(predicted: predicted)]
}
