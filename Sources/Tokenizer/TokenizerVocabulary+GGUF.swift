import GGUF

extension TokenizerVocabulary {
    public struct MissingVocabulary: Error, CustomStringConvertible {
        public var description: String { "the model file has no tokenizer.ggml.tokens" }
    }

    /// `tokenizer.ggml.*` metadata → vocabulary, with llama.cpp's defaults where a key
    /// is absent (SentencePiece: BOS and space prefix on; byte-level BPE: off).
    public init(metadata m: [String: GGUFValue]) throws {
        guard let tokens = m["tokenizer.ggml.tokens"]?.stringArray else { throw MissingVocabulary() }
        let model = m["tokenizer.ggml.model"]?.stringValue ?? "llama"
        func id(_ key: String) -> Int32? { m[key]?.intValue.flatMap { Int32(exactly: $0) } }
        let isSPM = model == "llama"
        self.init(
            model: model,
            pre: m["tokenizer.ggml.pre"]?.stringValue ?? "default",
            tokens: tokens,
            tokenTypes: m["tokenizer.ggml.token_type"]?.int32Array ?? [],
            scores: m["tokenizer.ggml.scores"]?.floatArray ?? [],
            merges: m["tokenizer.ggml.merges"]?.stringArray ?? [],
            bosID: id("tokenizer.ggml.bos_token_id"),
            eosID: id("tokenizer.ggml.eos_token_id"),
            unknownID: id("tokenizer.ggml.unknown_token_id"),
            paddingID: id("tokenizer.ggml.padding_token_id"),
            eotIDs: [id("tokenizer.ggml.eot_token_id"), id("tokenizer.ggml.eom_token_id")].compactMap { $0 },
            addBOS: m["tokenizer.ggml.add_bos_token"]?.boolValue ?? isSPM,
            addEOS: m["tokenizer.ggml.add_eos_token"]?.boolValue ?? false,
            addSpacePrefix: m["tokenizer.ggml.add_space_prefix"]?.boolValue ?? isSPM)
    }
}
