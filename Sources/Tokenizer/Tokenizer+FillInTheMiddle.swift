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

    /// llama-server's `/infill` prompt, built as its `format_prompt_infill` builds it: the
    /// repository header and the `extra` files (`<|repo_name|>myproject`, then `<|file_sep|>name`
    /// and text for each, then `<|file_sep|>filename`; without those tokens, a snippet marker
    /// between files), as much of its end as fits `context - batch + 2` tokens (llama-server's budget with
    /// its default n_predict of -1); BOS where
    /// the vocabulary adds one; `<prefix>` and the prefix's last 3/4 of `batch` tokens, then
    /// `prompt` (its special-token text read as tokens); `<suffix>` and the suffix's first
    /// `batch`/4 − 2 − |prompt| tokens; `<middle>`. nil without fill-in-the-middle tokens.
    public func repositoryInfill(prefix: String, suffix: String, extra: [(filename: String, text: String)], prompt: String,
                                 batch: Int, context: Int) -> [Int32]? {
        guard let fim = fillInTheMiddleIDs else { return nil }
        func plain(_ s: String) -> [Int32] { encode(s, addSpecial: false, parseSpecial: false) }
        var files: [Int32] = []
        if let rep = fimRepositoryID { files += [rep] + plain("myproject\n") }
        for chunk in extra {
            if let sep = fimFileSeparatorID { files += [sep] + plain(chunk.filename + "\n") } else { files += plain("\n\n--- snippet ---\n\n") }
            files += plain(chunk.text)
        }
        if let sep = fimFileSeparatorID { files += [sep] + plain("filename\n") }
        let promptIDs = encode(prompt, addSpecial: false, parseSpecial: true)
        let before = plain(prefix), after = plain(suffix)
        let takeBefore = min(before.count, 3 * (batch / 4))
        let takeAfter = min(after.count, max(0, batch / 4 - (2 + promptIDs.count)))
        let takeFiles = min(max(0, context - batch + 2), files.count)
        var ids = Array(files.suffix(takeFiles))
        if addBOS, let bos = bosID { ids.append(bos) }
        ids += [fim.prefix] + before.suffix(takeBefore) + promptIDs
        ids += [fim.suffix] + after.prefix(takeAfter)
        ids.append(fim.middle)
        return ids
    }
}
