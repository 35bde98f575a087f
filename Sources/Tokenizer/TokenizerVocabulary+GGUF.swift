import GGUF

extension TokenizerVocabulary {
    public struct MissingVocabulary: Error, CustomStringConvertible {
        public var description: String { "the model file has no tokenizer.ggml.tokens" }
    }

    /// `tokenizer.ggml.*` metadata → vocabulary, with llama.cpp's defaults where a key
    /// is absent (SentencePiece: BOS and space prefix on; byte-level BPE: off; WordPiece:
    /// [CLS] and [SEP] on).
    public init(metadata m: [String: GGUFValue]) throws {
        guard let tokens = m["tokenizer.ggml.tokens"]?.stringArray else { throw MissingVocabulary() }
        let model = m["tokenizer.ggml.model"]?.stringValue ?? "llama"
        func id(_ key: String) -> Int32? { m[key]?.intValue.flatMap { Int32(exactly: $0) } }
        let isSPM = model == "llama", isWPM = model == "bert"
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
            addBOS: m["tokenizer.ggml.add_bos_token"]?.boolValue ?? (isSPM || isWPM),
            addEOS: m["tokenizer.ggml.add_eos_token"]?.boolValue ?? false,
            addSpacePrefix: m["tokenizer.ggml.add_space_prefix"]?.boolValue ?? isSPM)
        // llama.cpp's current keys, then the ones older CodeLlama files carry.
        let fim = ["pre", "suf", "mid"].compactMap { id("tokenizer.ggml.fim_\($0)_token_id") }
        let old = ["prefix", "suffix", "middle"].compactMap { id("tokenizer.ggml.\($0)_token_id") }
        if fim.count == 3 { fimIDs = fim } else if old.count == 3 { fimIDs = old }
        if isWPM {
            // As llama.cpp: [CLS] 101 / [SEP] 102 / [UNK] 100 unless the file says otherwise; [SEP] is added
            // unless add_sep_token is false; strip_accents follows lowercase unless given.
            if bosID == nil { bosID = 101 }
            if unknownID == nil { unknownID = 100 }
            let addSep = m["tokenizer.ggml.add_sep_token"]?.boolValue ?? true
            separatorID = addSep ? (id("tokenizer.ggml.seperator_token_id") ?? 102) : nil
            lowercase = m["tokenizer.ggml.normalizer.lowercase"]?.boolValue ?? true
            stripAccents = m["tokenizer.ggml.normalizer.strip_accents"]?.boolValue ?? lowercase
        }
    }
}
