/// Request fields completions and chat accept without acting on them: none changes an answer.
extension OpenAIAPI {
    /// OpenAI's tiers (an unknown one is a 400 there too).
    static let serviceTiers: Set<String> = ["auto", "default", "flex", "scale", "priority"]
    /// OpenAI's prompt-cache lifetimes (`prompt_cache_retention`; `in-memory` as the SDKs' types
    /// spelt it for a while); here the prefix cache keeps what fits, whatever is asked.
    static let cacheRetentions: Set<String> = ["in_memory", "in-memory", "24h"]

    /// `store: true` asks OpenAI to keep the completion for later retrieval, which this server
    /// does not do (no GET /v1/chat/completions/{id}): refused rather than silently dropped.
    func refuseStore(_ r: FieldReader) throws {
        if try r.bool("store") == true {
            throw APIError.invalid("`store` is not supported: this server does not keep completions.", param: "store")
        }
    }

    /// OpenAI's bookkeeping fields (`metadata` and `store: false` go with stored completions,
    /// `service_tier` with its billing, `safety_identifier`, `prompt_cache_key` and
    /// `prompt_cache_retention` with its abuse checks and cache routing) and llama-server's
    /// `cache_prompt` (the prefix cache is always on here), read and not acted on; any field nobody reads is a 400
    /// (`FieldReader.refuseUnknown`). They still have OpenAI's types and bounds: a client whose
    /// request OpenAI would refuse (a number as `metadata`, an unknown tier) hears it here too.
    func checkIgnoredFields(_ r: FieldReader) throws {
        _ = try r.string("safety_identifier")
        _ = try r.string("prompt_cache_key")
        _ = try r.bool("cache_prompt")
        if let retention = try r.string("prompt_cache_retention"), !Self.cacheRetentions.contains(retention) {
            throw APIError.invalid("`prompt_cache_retention` must be \"in_memory\" or \"24h\", got \"\(retention)\".",
                                   param: "prompt_cache_retention")
        }
        if let tier = try r.string("service_tier"), !Self.serviceTiers.contains(tier) {
            throw APIError.invalid("`service_tier` must be one of \(Self.serviceTiers.sorted().map { "\"\($0)\"" }.joined(separator: ", ")), got \"\(tier)\".",
                                   param: "service_tier")
        }
        guard let metadata = r.raw("metadata") else { return }
        guard case let .object(pairs) = metadata else {
            throw APIError.invalid("`metadata` must be an object of string values.", param: "metadata")
        }
        guard pairs.count <= 16 else {
            throw APIError.invalid("`metadata` holds at most 16 pairs, got \(pairs.count).", param: "metadata")
        }
        for (key, value) in pairs {
            guard key.unicodeScalars.count <= 64 else {
                throw APIError.invalid("`metadata` keys are at most 64 characters, got \(key.unicodeScalars.count).", param: "metadata")
            }
            guard case let .string(s) = value else {
                throw APIError.invalid("`metadata.\(key)` must be a string.", param: "metadata")
            }
            guard s.unicodeScalars.count <= 512 else {
                throw APIError.invalid("`metadata.\(key)` is at most 512 characters, got \(s.unicodeScalars.count).", param: "metadata")
            }
        }
    }
}
