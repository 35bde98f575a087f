/// Text ⇄ token ids for a GGUF vocabulary: byte-level BPE (`gpt2`), SentencePiece BPE
/// (`llama`) or WordPiece (`bert`), special tokens in text, and decoding to bytes.
///
/// Immutable after `init` (the BPE word cache is internally locked), so one instance is
/// shared by all threads. Encode and decode accept any input; only `init` throws.
public final class Tokenizer: Sendable {
    private enum Engine {
        case byteLevel(ByteLevelBPE, PreTokenizer)
        case sentencePiece(SentencePieceBPE)
        case wordPiece(WordPiece)
    }

    private let engine: Engine
    private let tokens: [String]
    /// Token type per id (all `.normal` when the file has none).
    private let types: [Int32]
    /// Bytes of every token, flattened: token i is `pieceBytes[pieceStart[i]..<pieceStart[i+1]]`.
    private let pieceBytes: [UInt8]
    private let pieceStart: [Int]
    private let special: SpecialTokenMatcher

    public let model: String
    public let bosID: Int32?
    public let eosID: Int32?
    public let unknownID: Int32?
    public let paddingID: Int32?
    public let addBOS: Bool
    public let addEOS: Bool
    public let addSpacePrefix: Bool
    /// [SEP] for WordPiece: appended after the text when special tokens are added.
    public let separatorID: Int32?
    /// EOS, the vocabulary's `eotIDs`, and tokens named like an end of turn
    /// (`TokenizerVocabulary.endOfGenerationTexts`).
    public let endOfGenerationIDs: Set<Int32>
    /// The fill-in-the-middle prefix, suffix and middle ids (`fillInTheMiddle`), found in `init`: the
    /// only later use of its text → id map, which is not kept (~10 MiB for 262,144 tokens).
    public let fillInTheMiddleIDs: (prefix: Int32, suffix: Int32, middle: Int32)?
    /// Repository-level infill tokens (Qwen2.5-Coder's `<|repo_name|>` and `<|file_sep|>`), found
    /// as llama.cpp finds them; nil where the vocabulary has none.
    public let fimRepositoryID: Int32?
    public let fimFileSeparatorID: Int32?

    public var vocabularySize: Int { tokens.count }

    /// The pre-tokenizer in use; nil for SentencePiece, which has none.
    public var preTokenizer: PreTokenizer? {
        if case .byteLevel(_, let p) = engine { return p }
        return nil
    }

    public init(_ vocab: TokenizerVocabulary) throws {
        let n = vocab.tokens.count
        guard n > 0 else { throw TokenizerError.emptyVocabulary }
        guard n < Int(Int32.max) else { throw TokenizerError.tooManyTokens(n) }
        if !vocab.tokenTypes.isEmpty && vocab.tokenTypes.count != n {
            throw TokenizerError.countMismatch(field: "tokenizer.ggml.token_type", expected: n, actual: vocab.tokenTypes.count)
        }
        if !vocab.scores.isEmpty && vocab.scores.count != n {
            throw TokenizerError.countMismatch(field: "tokenizer.ggml.scores", expected: n, actual: vocab.scores.count)
        }
        func checked(_ name: String, _ id: Int32?) throws -> Int32? {
            guard let id else { return nil }
            guard id >= 0 && Int(id) < n else { throw TokenizerError.specialIDOutOfRange(name: name, id: id) }
            return id
        }
        bosID = try checked("bos", vocab.bosID)
        eosID = try checked("eos", vocab.eosID)
        unknownID = try checked("unknown", vocab.unknownID)
        paddingID = try checked("padding", vocab.paddingID)
        separatorID = try checked("separator", vocab.separatorID)
        var eog = Set<Int32>()
        for id in vocab.eotIDs { eog.insert(try checked("eot", id) ?? id) }
        if let eosID { eog.insert(eosID) }
        eog.formUnion(vocab.detectedEndOfGenerationIDs)
        endOfGenerationIDs = eog

        model = vocab.model
        addBOS = vocab.addBOS
        addEOS = vocab.addEOS
        addSpacePrefix = vocab.addSpacePrefix
        tokens = vocab.tokens
        if vocab.tokenTypes.isEmpty {
            // No types in the file: all normal, except that SentencePiece "<0xXX>" pieces
            // are taken as byte tokens so byte fallback still works.
            types = vocab.tokens.map { t in
                vocab.model == "llama" && SentencePieceBPE.byteValue(ofPiece: t) != nil
                    ? TokenType.byte.rawValue : TokenType.normal.rawValue
            }
        } else {
            types = vocab.tokenTypes
        }

        var textToID: [String: Int32] = [:]
        textToID.reserveCapacity(n)
        for (i, t) in vocab.tokens.enumerated() { textToID[t] = Int32(i) }  // later ids win, as llama.cpp
        fillInTheMiddleIDs = Self.fillInTheMiddle(vocab.fimIDs, n, textToID)
        fimRepositoryID = ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"].lazy.compactMap { textToID[$0] }.first
        fimFileSeparatorID = textToID["<|file_sep|>"]

        let isByteLevel: Bool
        switch vocab.model {
        case "gpt2": isByteLevel = true
        case "llama", "bert": isByteLevel = false
        default: throw TokenizerError.unsupportedModel(vocab.model)
        }

        // Bytes of each token, computed once so decoding is a copy.
        var bytes: [UInt8] = []
        var starts: [Int] = [0]
        starts.reserveCapacity(n + 1)
        for i in 0..<n {
            bytes.append(contentsOf: Tokenizer.bytes(ofToken: vocab.tokens[i], type: types[i], byteLevel: isByteLevel))
            starts.append(bytes.count)
        }
        pieceBytes = bytes
        pieceStart = starts

        var special = SpecialTokenMatcher()
        for i in 0..<n {
            switch types[i] {
            case TokenType.control.rawValue, TokenType.unknown.rawValue:
                special.insert(Array(vocab.tokens[i].utf8), id: Int32(i), alwaysMatched: false)
            case TokenType.userDefined.rawValue:
                special.insert(Array(vocab.tokens[i].utf8), id: Int32(i), alwaysMatched: true)
            default:
                break
            }
        }
        self.special = special

        if isByteLevel {
            let pre = PreTokenizer(name: vocab.pre)
            let ignoreMerges = pre.kind == .llama3
            var bytesToID = PieceTable()
            if ignoreMerges {
                for i in 0..<n where types[i] == TokenType.normal.rawValue {
                    bytesToID.insert(Array(bytes[starts[i]..<starts[i + 1]]), id: Int32(i))
                }
            }
            let bpe = try ByteLevelBPE(tokens: vocab.tokens, textToID: textToID, merges: vocab.merges,
                                       ignoreMerges: ignoreMerges, bytesToID: bytesToID)
            engine = .byteLevel(bpe, pre)
        } else if vocab.model == "bert" {
            engine = .wordPiece(WordPiece(tokens: vocab.tokens, unknownID: unknownID,
                                          lowercase: vocab.lowercase, stripAccents: vocab.stripAccents))
        } else {
            engine = .sentencePiece(SentencePieceBPE(tokens: vocab.tokens, types: types, scores: vocab.scores,
                                                     unknownID: unknownID))
        }
    }

    private static func bytes(ofToken text: String, type: Int32, byteLevel: Bool) -> [UInt8] {
        switch type {
        case TokenType.control.rawValue, TokenType.userDefined.rawValue:
            return Array(text.utf8)  // stored verbatim, not in the byte-level alphabet
        case TokenType.unknown.rawValue where !byteLevel:
            return Array(text.utf8)
        case TokenType.unused.rawValue:
            return []  // placeholders such as Qwen's [PAD151700]: no text (llama.cpp's token_to_piece)
        default:
            break
        }
        if byteLevel { return ByteLevelAlphabet.decode(text) }
        if type == TokenType.byte.rawValue, let b = SentencePieceBPE.byteValue(ofPiece: text) {
            return [b]
        }
        // "▁" (E2 96 81) stands for a space.
        var out: [UInt8] = []
        let u = Array(text.utf8)
        var i = 0
        while i < u.count {
            if i + 2 < u.count && u[i] == 0xE2 && u[i + 1] == 0x96 && u[i + 2] == 0x81 {
                out.append(0x20)
                i += 3
            } else {
                out.append(u[i])
                i += 1
            }
        }
        return out
    }

    // MARK: - Encoding

    /// Ids of `text`. `addSpecial`: BOS/EOS as the vocabulary asks (`addBOS`, `addEOS`).
    /// `parseSpecial`: control tokens written in the text (e.g. "<|im_start|>") become
    /// their ids; user-defined tokens always do (as llama.cpp).
    public func encode(_ text: String, addSpecial: Bool = true, parseSpecial: Bool = true) -> [Int32] {
        var text = text
        return text.withUTF8 { encode(buffer: $0, addSpecial: addSpecial, parseSpecial: parseSpecial) }
    }

    /// Ids of exact bytes; invalid UTF-8 is kept byte for byte (byte-level tokens or
    /// `<0xXX>` fallback). A byte the vocabulary has no token for at all is left out
    /// (byte-level) or becomes the unknown id (SentencePiece), as the reference
    /// tokenizers do.
    public func encode(bytes: [UInt8], addSpecial: Bool = true, parseSpecial: Bool = true) -> [Int32] {
        bytes.withUnsafeBufferPointer { encode(buffer: $0, addSpecial: addSpecial, parseSpecial: parseSpecial) }
    }

    /// Ids of a rendered chat prompt: special tokens parsed, except in `plain` (sorted, disjoint
    /// UTF-8 byte ranges of `text`, text a message holds), read as with `parseSpecial` false, so
    /// "<|im_end|>" written in a message stays text instead of closing its turn.
    public func encode(_ text: String, addSpecial: Bool, plain: [Range<Int>]) -> [Int32] {
        var text = text
        return text.withUTF8 { encode(buffer: $0, addSpecial: addSpecial, parseSpecial: true, plain: plain) }
    }

    /// The UTF-8 byte ranges of `text` that `encode` reads as control tokens only when special
    /// tokens are parsed.
    public func controlTextRanges(_ text: String) -> [Range<Int>] {
        var text = text
        return text.withUTF8 { special.parsedOnlyRanges($0) }
    }

    private func encode(buffer: UnsafeBufferPointer<UInt8>, addSpecial: Bool, parseSpecial: Bool,
                        plain: [Range<Int>] = []) -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(buffer.count / 3 + 2)
        if addSpecial && addBOS, let bosID { out.append(bosID) }
        let fragments = special.partition(buffer, parseSpecial: parseSpecial, plain: plain)
        switch engine {
        case .byteLevel(let bpe, let pre):
            for fragment in fragments {
                switch fragment {
                case .token(let id):
                    out.append(id)
                case .text(let range):
                    let text = UnsafeBufferPointer(rebasing: buffer[range])
                    for piece in pre.split(text) {
                        bpe.encode(UnsafeBufferPointer(rebasing: text[piece]), into: &out)
                    }
                }
            }
        case .sentencePiece(let spm):
            // As llama.cpp: the space prefix goes before the text at the start and after
            // each special token.
            var afterSpecial = true
            for fragment in fragments {
                switch fragment {
                case .token(let id):
                    out.append(id)
                    afterSpecial = true
                case .text(let range):
                    var escaped: [UInt8] = []
                    escaped.reserveCapacity(range.count + 3)
                    if addSpacePrefix && afterSpecial { escaped.append(contentsOf: [0xE2, 0x96, 0x81]) }
                    for b in buffer[range] {
                        if b == 0x20 { escaped.append(contentsOf: [0xE2, 0x96, 0x81]) } else { escaped.append(b) }
                    }
                    spm.encode(escaped, into: &out)
                    afterSpecial = false
                }
            }
        case .wordPiece(let wpm):
            for fragment in fragments {
                switch fragment {
                case .token(let id): out.append(id)
                case .text(let range): wpm.encode(UnsafeBufferPointer(rebasing: buffer[range]), into: &out)
                }
            }
            if addSpecial, let separatorID { out.append(separatorID) }
        }
        if addSpecial && addEOS, let eosID { out.append(eosID) }
        return out
    }

    // MARK: - Vocabulary queries

    public func tokenText(_ id: Int32) -> String {
        guard id >= 0 && Int(id) < tokens.count else { return "" }
        return tokens[Int(id)]
    }

    public func tokenType(_ id: Int32) -> TokenType? {
        guard id >= 0 && Int(id) < types.count else { return nil }
        return TokenType(rawValue: types[Int(id)])
    }

    public func isControl(_ id: Int32) -> Bool {
        id >= 0 && Int(id) < types.count && types[Int(id)] == TokenType.control.rawValue
    }

    /// Control and unknown tokens: the ones `skipSpecial` leaves out.
    public func isSpecial(_ id: Int32) -> Bool {
        guard id >= 0 && Int(id) < types.count else { return false }
        let t = types[Int(id)]
        return t == TokenType.control.rawValue || t == TokenType.unknown.rawValue
    }

    // MARK: - Decoding

    /// Raw bytes a token stands for; control tokens give their text; unknown ids give none.
    public func tokenBytes(_ id: Int32) -> [UInt8] {
        guard id >= 0 && Int(id) < tokens.count else { return [] }
        return Array(pieceBytes[pieceStart[Int(id)]..<pieceStart[Int(id) + 1]])
    }

    /// Text of `ids` (invalid UTF-8 replaced by U+FFFD), read as the start of a sequence:
    /// see `decodeBytes`.
    public func decode(_ ids: [Int32], skipSpecial: Bool = false) -> String {
        String(decoding: decodeBytes(ids, skipSpecial: skipSpecial), as: UTF8.self)
    }

    /// Bytes of `ids`. With `fromSequenceStart` and a SentencePiece vocabulary that adds a
    /// space prefix, the first token after an optional BOS loses one leading space, which
    /// `encode` added (llama.cpp's detokenize does the same). Pass false to decode a
    /// continuation, such as generated tokens after a prompt.
    public func decodeBytes(_ ids: [Int32], skipSpecial: Bool = false, fromSequenceStart: Bool = true) -> [UInt8] {
        var out: [UInt8] = []
        var state = LeadingSpaceState(tokenizer: self, fromSequenceStart: fromSequenceStart)
        for id in ids { appendBytes(of: id, skipSpecial: skipSpecial, state: &state, into: &out) }
        return out
    }

    /// Tracks whether the space prefix is still to be removed (shared with `StreamingDecoder`).
    struct LeadingSpaceState {
        var pending: Bool
        var seen = 0

        init(tokenizer: Tokenizer, fromSequenceStart: Bool) {
            switch tokenizer.engine {
            case .sentencePiece: pending = fromSequenceStart && tokenizer.addSpacePrefix
            case .wordPiece: pending = fromSequenceStart  // every word starts with "▁"
            case .byteLevel: pending = false
            }
        }
    }

    func appendBytes(of id: Int32, skipSpecial: Bool, state: inout LeadingSpaceState, into out: inout [UInt8]) {
        defer { state.seen += 1 }
        guard id >= 0 && Int(id) < tokens.count else { return }
        var strip = false
        if state.pending {
            if !(state.seen == 0 && id == bosID) {
                state.pending = false
                strip = !isSpecial(id)
            }
        }
        if skipSpecial && isSpecial(id) { return }
        var s = pieceStart[Int(id)]
        let e = pieceStart[Int(id) + 1]
        if strip && s < e && pieceBytes[s] == 0x20 { s += 1 }
        out.append(contentsOf: pieceBytes[s..<e])
    }
}
