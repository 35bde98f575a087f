import GGUF
import Tokenizer

extension TokenizerVocabulary {
    /// Reads the `tokenizer.ggml.*` metadata of a model file.
    public init(gguf file: GGUFFile) throws {
        let m = file.metadata
        guard let tokens = m["tokenizer.ggml.tokens"]?.stringArray else {
            throw GGUFError.missingKey("tokenizer.ggml.tokens")
        }
        func id(_ key: String) -> Int32? { m[key]?.intValue.flatMap { Int32(exactly: $0) } }
        let model = m["tokenizer.ggml.model"]?.stringValue ?? "gpt2"
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
            // llama.cpp's defaults when the keys are absent: SentencePiece models add BOS.
            addBOS: m["tokenizer.ggml.add_bos_token"]?.boolValue ?? (model == "llama"),
            addEOS: m["tokenizer.ggml.add_eos_token"]?.boolValue ?? false,
            addSpacePrefix: m["tokenizer.ggml.add_space_prefix"]?.boolValue ?? (model == "llama"))
    }
}
