/// Fill-in-the-middle prompts for code models (OpenAI's `suffix`, llama-server's infill).
extension Tokenizer {
    /// Token texts of the families that write their infill prompt prefix, suffix, middle.
    static let fimTexts: [(String, String, String)] = [
        ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),   // Qwen2.5-Coder
        ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),         // StarCoder, SantaCoder
        ("<｜fim▁begin｜>", "<｜fim▁hole｜>", "<｜fim▁end｜>"),    // DeepSeek-Coder
    ]

    /// The prefix, suffix and middle token ids: the file's own (ids outside the vocabulary are
    /// ignored, not a reason to refuse the model), else the first family whose three texts are all
    /// in the vocabulary; nil for a model that cannot fill in.
    static func fillInTheMiddle(_ fromFile: [Int32], _ n: Int, _ textToID: [String: Int32])
        -> (prefix: Int32, suffix: Int32, middle: Int32)? {
        if fromFile.count == 3 && fromFile.allSatisfy({ $0 >= 0 && Int($0) < n }) { return (fromFile[0], fromFile[1], fromFile[2]) }
        for (p, s, m) in fimTexts {
            if let a = textToID[p], let b = textToID[s], let c = textToID[m] { return (a, b, c) }
        }
        return nil
    }

    /// The prompt that asks for the text between `prefix` and `suffix`, in prefix-suffix-middle
    /// order as llama.cpp's infill writes it (without its repository header): BOS where the
    /// vocabulary adds one, then <prefix> text before <suffix> text after <middle>. The texts
    /// are read literally (a special token's text in code stays text). nil without the tokens.
    public func fillInTheMiddle(prefix: String, suffix: String) -> [Int32]? {
        guard let fim = fillInTheMiddleIDs else { return nil }
        var ids: [Int32] = addBOS ? bosID.map { [$0] } ?? [] : []
        ids.append(fim.prefix)
        ids += encode(prefix, addSpecial: false, parseSpecial: false)
        ids.append(fim.suffix)
        ids += encode(suffix, addSpecial: false, parseSpecial: false)
        ids.append(fim.middle)
        return ids
    }
}
