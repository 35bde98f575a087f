/// Request fields completions and chat accept without acting on them: none changes an answer.
extension OpenAIAPI {
    /// OpenAI's bookkeeping fields (`metadata` and `store: false` go with stored completions,
    /// `service_tier` with its billing, `safety_identifier` and `prompt_cache_key` with its
    /// abuse checks and cache routing) and llama-server's `cache_prompt` (the prefix cache is
    /// always on here). Any other field nobody reads is a 400 (`FieldReader.refuseUnknown`).
    static let ignoredFields: Set<String> = ["metadata", "service_tier", "safety_identifier", "prompt_cache_key", "cache_prompt"]

    /// `store: true` asks OpenAI to keep the completion for later retrieval, which this server
    /// does not do (no GET /v1/chat/completions/{id}): refused rather than silently dropped.
    func refuseStore(_ r: FieldReader) throws {
        if try r.bool("store") == true {
            throw APIError.invalid("`store` is not supported: this server does not keep completions.", param: "store")
        }
    }
}
