/// Everything the tokenizer needs from a model file, as plain values.
///
/// Field names follow the GGUF `tokenizer.ggml.*` metadata keys so that a loader can
/// fill them one to one. Nothing is validated here; `Tokenizer.init` checks consistency.
public struct TokenizerVocabulary: Sendable {
    /// `tokenizer.ggml.model`: "gpt2" (byte-level BPE), "llama" (SentencePiece BPE) or "bert" (WordPiece).
    public var model: String
    /// `tokenizer.ggml.pre`: pre-tokenizer name ("smollm", "gpt2", "llama-bpe", "qwen2", ...).
    /// Unknown names behave as "default" (the GPT-2 pattern).
    public var pre: String
    /// `tokenizer.ggml.tokens`, indexed by token id.
    public var tokens: [String]
    /// `tokenizer.ggml.token_type` (see `TokenType`); may be empty (all normal).
    public var tokenTypes: [Int32]
    /// `tokenizer.ggml.scores`; may be empty (all zero).
    public var scores: [Float]
    /// `tokenizer.ggml.merges` ("left right"), rank = index; empty for "llama".
    public var merges: [String]
    public var bosID: Int32?
    public var eosID: Int32?
    public var unknownID: Int32?
    public var paddingID: Int32?
    /// Extra end-of-generation ids. `Tokenizer` also adds the ids of well-known
    /// end-of-turn token texts it finds (see `detectedEndOfGenerationIDs`).
    public var eotIDs: [Int32]
    /// Fill-in-the-middle prefix, suffix and middle ids when the file names them
    /// (`tokenizer.ggml.fim_pre/suf/mid_token_id`); else `Tokenizer` looks for known texts.
    public var fimIDs: [Int32] = []
    public var addBOS: Bool
    public var addEOS: Bool
    /// SentencePiece `add_dummy_prefix`: a space is put before raw text.
    public var addSpacePrefix: Bool
    /// WordPiece: `tokenizer.ggml.seperator_token_id` ([SEP]), appended with the special tokens.
    public var separatorID: Int32? = nil
    /// WordPiece normalization (`tokenizer.ggml.normalizer.*`; llama.cpp's defaults: both on).
    public var lowercase = true
    public var stripAccents = true

    public init(
        model: String = "gpt2",
        pre: String = "default",
        tokens: [String] = [],
        tokenTypes: [Int32] = [],
        scores: [Float] = [],
        merges: [String] = [],
        bosID: Int32? = nil,
        eosID: Int32? = nil,
        unknownID: Int32? = nil,
        paddingID: Int32? = nil,
        eotIDs: [Int32] = [],
        addBOS: Bool = false,
        addEOS: Bool = false,
        addSpacePrefix: Bool = false
    ) {
        self.model = model
        self.pre = pre
        self.tokens = tokens
        self.tokenTypes = tokenTypes
        self.scores = scores
        self.merges = merges
        self.bosID = bosID
        self.eosID = eosID
        self.unknownID = unknownID
        self.paddingID = paddingID
        self.eotIDs = eotIDs
        self.addBOS = addBOS
        self.addEOS = addEOS
        self.addSpacePrefix = addSpacePrefix
    }

    /// Token texts that end a turn in common chat formats (the list llama.cpp uses),
    /// for models whose metadata names only an EOS.
    public static let endOfGenerationTexts: Set<String> = [
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
        "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<｜end▁of▁sentence｜>",
        // Qwen2.5-Coder's fill-in-the-middle and repository tokens end an infill (as in llama.cpp).
        "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
    ]

    /// Ids of tokens whose text is in `endOfGenerationTexts`.
    public var detectedEndOfGenerationIDs: [Int32] {
        var ids: [Int32] = []
        for (i, t) in tokens.enumerated() where TokenizerVocabulary.endOfGenerationTexts.contains(t) {
            ids.append(Int32(i))
        }
        return ids
    }
}

/// Values of `tokenizer.ggml.token_type`.
public enum TokenType: Int32, Sendable {
    case normal = 1
    case unknown = 2
    case control = 3
    case userDefined = 4
    case unused = 5
    case byte = 6
}
