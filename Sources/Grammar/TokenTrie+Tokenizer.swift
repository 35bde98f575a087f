import Tokenizer

extension TokenTrie {
    /// The tokenizer's vocabulary, control tokens left out.
    public convenience init(tokenizer: Tokenizer) {
        let n = tokenizer.vocabularySize
        var tokens: [[UInt8]] = []
        tokens.reserveCapacity(n)
        var excluded = Set<Int32>()
        for id in 0..<Int32(n) {
            tokens.append(tokenizer.tokenBytes(id))
            if tokenizer.isSpecial(id) || tokenizer.tokenType(id) == .unused { excluded.insert(id) }
        }
        self.init(tokens: tokens, excluded: excluded)
    }
}
