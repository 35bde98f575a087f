import Model

/// The sampling and stopping fields both endpoints share, checked.
struct GenerationOptions {
    var sampling = SamplingParameters()
    var n = 1
    var stop: [String] = []
    var maxTokens: Int?
    var ignoreEOS = false
    var stream = false
    var includeUsage = false
    var seed: UInt64?
    /// `confidence: true` (an extension): each choice carries its AnswerConfidence and spans.
    var confidence = false
    /// `speculative: false` (an extension): no speculative decoding for this request.
    var speculative = true
    /// `skip_special_tokens` (vLLM's extension): whether control tokens the model generates are
    /// left out of the text; nil: the endpoint's default.
    var skipSpecialTokens: Bool?
    /// vLLM's `truncate_prompt_tokens`: only the prompt's last k tokens are read (-1: what fits
    /// beside the answer); `OpenAIAPI.truncatedPrompt` applies it.
    var truncatePromptTokens: Int?

    /// `fewestTokens`: the least `max_tokens` allowed (0 on legacy completions, where `echo`
    /// with `max_tokens: 0` scores a prompt without generating).
    init(_ r: FieldReader, maxTokensKeys: [String], fewestTokens: Int = 1, limits: APILimits, vocabularySize: Int) throws {
        sampling.temperature = Float(try r.double("temperature", 0...2) ?? 1)
        // 0 keeps the most likely token alone, as OpenAI and llama-server take it (vLLM refuses it).
        sampling.topP = Float(try r.double("top_p", 0...1) ?? 1)
        sampling.topK = try r.int("top_k", -1...1_000_000) ?? 0
        if sampling.topK < 0 { sampling.topK = 0 }  // -1 means off, as in vLLM
        sampling.minP = Float(try r.double("min_p", 0...1) ?? 0)
        sampling.presencePenalty = Float(try r.double("presence_penalty", -2...2) ?? 0)
        sampling.frequencyPenalty = Float(try r.double("frequency_penalty", -2...2) ?? 0)
        sampling.repetitionPenalty = Float(try r.double("repetition_penalty", 0.01...10) ?? 1)
        seed = try Self.seed(r)
        n = try r.int("n", 1...limits.maxN) ?? 1
        ignoreEOS = try r.bool("ignore_eos") ?? false
        stream = try r.bool("stream") ?? false
        confidence = try r.bool("confidence") ?? false
        speculative = try r.bool("speculative") ?? true
        skipSpecialTokens = try r.bool("skip_special_tokens")
        truncatePromptTokens = try r.int("truncate_prompt_tokens", -1...Int.max)
        if truncatePromptTokens == 0 {
            throw APIError.invalid("`truncate_prompt_tokens` must be -1 (as many as fit) or at least 1.", param: "truncate_prompt_tokens")
        }
        if let so = r.raw("stream_options") {
            guard case .object = so else { throw APIError.invalid("`stream_options` must be an object.", param: "stream_options") }
            guard stream else { throw APIError.invalid("`stream_options` is only allowed when `stream` is true.", param: "stream_options") }
            let sr = try FieldReader(so)
            func flag(_ key: String) throws -> Bool? {
                guard let v = sr.raw(key) else { return nil }
                guard case let .bool(b) = v else {
                    throw APIError.invalid("`stream_options.\(key)` must be a boolean.", param: "stream_options.\(key)")
                }
                return b
            }
            includeUsage = try flag("include_usage") ?? false
            // OpenAI's random padding of stream events against length side channels: none is added
            // here, so either value streams the same (the SDKs send it when a user sets it).
            _ = try flag("include_obfuscation")
            // vLLM's usage in every chunk: refused with the reason (as `store: true` is), never ignored.
            try sr.refuse(["continuous_usage_stats"], because: "usage comes in the last chunk (`include_usage`)", in: "stream_options")
            try sr.refuseUnknown(ignoring: [], in: "stream_options")
        }
        for key in maxTokensKeys {
            if let m = try r.int(key, fewestTokens...limits.maxTokens) { maxTokens = m }
        }
        stop = try Self.stops(r, limits)
        sampling.logitBias = try Self.logitBias(r, limits, vocabularySize)
    }

    /// Any 64-bit integer, signed or not, as OpenAI takes it (clients draw 63-bit seeds), -1 as
    /// none. Read from the number's text, so seeds past 2^53 stay distinct; one written with a
    /// point or an exponent (`5.0`, `1e3`) counts when whole.
    private static func seed(_ r: FieldReader) throws -> UInt64? {
        guard let v = r.raw("seed") else { return nil }
        let bad = APIError.invalid("`seed` must be an integer between -2^63 and 2^64 - 1.", param: "seed")
        guard case let .number(n, text) = v else { throw bad }
        let value: UInt64
        if let text = v.integerText {
            if let u = UInt64(text) { value = u } else if let i = Int64(text) { value = UInt64(bitPattern: i) } else { throw bad }
        } else {
            // Exactly whole doubles of the range (2^64 itself is past it).
            guard n.isFinite, n == n.rounded(), n >= -9_223_372_036_854_775_808, n < 18_446_744_073_709_551_616 else { throw bad }
            value = n < 0 ? UInt64(bitPattern: Int64(n)) : UInt64(n)
        }
        // -1 is "no seed" in llama-server and vLLM, and clients ported from them send it.
        return value == UInt64.max && (text?.hasPrefix("-") ?? (n < 0)) ? nil : value
    }

    private static func stops(_ r: FieldReader, _ limits: APILimits) throws -> [String] {
        guard let v = r.raw("stop") else { return [] }
        switch v {
        case let .string(s):
            guard !s.isEmpty else { throw APIError.invalid("`stop` must not be empty.", param: "stop") }
            guard s.unicodeScalars.count <= limits.maxStopLength else {
                throw APIError.invalid("`stop` sequences can be at most \(limits.maxStopLength) characters (code points) long.", param: "stop")
            }
            return [s]
        case let .array(items):
            guard items.count <= limits.maxStops else {
                throw APIError.invalid("`stop` can have at most \(limits.maxStops) sequences, got \(items.count).", param: "stop")
            }
            return try items.map {
                guard case let .string(s) = $0, !s.isEmpty else {
                    throw APIError.invalid("`stop` must be a string or an array of non-empty strings.", param: "stop")
                }
                guard s.unicodeScalars.count <= limits.maxStopLength else {
                    throw APIError.invalid("`stop` sequences can be at most \(limits.maxStopLength) characters (code points) long.", param: "stop")
                }
                return s
            }
        default:
            throw APIError.invalid("`stop` must be a string or an array of strings.", param: "stop")
        }
    }

    private static func logitBias(_ r: FieldReader, _ limits: APILimits, _ vocab: Int) throws -> [Int32: Float] {
        guard let v = r.raw("logit_bias") else { return [:] }
        guard case let .object(fields) = v else {
            throw APIError.invalid("`logit_bias` must be an object mapping token ids to numbers.", param: "logit_bias")
        }
        guard fields.count <= limits.maxLogitBias else {
            throw APIError.invalid("`logit_bias` can have at most \(limits.maxLogitBias) entries.", param: "logit_bias")
        }
        var out: [Int32: Float] = [:]
        for (k, b) in fields {
            // Digits as the id is written ("12", not "+12" or "012"): two spellings of one id
            // would silently override each other.
            guard k.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), k == "0" || !k.hasPrefix("0"),
                  let id = Int32(k), Int(id) < vocab else {
                throw APIError.invalid("`logit_bias` keys must be token ids between 0 and \(vocab - 1), got \"\(k)\".", param: "logit_bias")
            }
            guard case let .number(x, _) = b, (-100...100).contains(x) else {
                throw APIError.invalid("`logit_bias` values must be numbers between -100 and 100.", param: "logit_bias")
            }
            out[id] = Float(x)
        }
        return out
    }

    /// Sampling for choice `i` of `n`: distinct seeds so choices differ yet reproduce.
    func sampling(forChoice i: Int) -> SamplingParameters {
        var s = sampling
        s.seed = seed.map { $0 &+ UInt64(i) }
        return s
    }
}
