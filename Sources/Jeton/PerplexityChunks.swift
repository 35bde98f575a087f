import Model

/// llama-perplexity's chunking of a tokenized text (tools/perplexity/perplexity.cpp,
/// `perplexity()` and `kl_divergence()`): the first `count` runs of `nCtx` tokens, each
/// evaluated from an empty cache; when the model asks for BOS, the chunk's first token is
/// replaced by BOS for the evaluation (the file keeps the original). Positions `nCtx/2`
/// to `nCtx − 2` are scored, each predicting the token after it, so every scored
/// prediction sees at least half a chunk of context.
struct PerplexityChunks {
    /// The smallest chunk with a scored position.
    static let minimumContext = 3

    let tokens: [Int32]  // [count · nCtx] at least
    let nCtx: Int
    let count: Int
    let bos: Int32?      // substituted for each chunk's first token, or nil when the model adds none

    static func scored(nCtx: Int) -> Int { nCtx - 1 - nCtx / 2 }

    var first: Int { nCtx / 2 }
    var scoredPerChunk: Int { Self.scored(nCtx: nCtx) }

    /// The tokens a chunk's scored positions predict, [scoredPerChunk].
    func targets(_ chunk: Int) -> ArraySlice<Int32> {
        let start = chunk * nCtx
        return tokens[(start + first + 1)..<(start + nCtx)]
    }

    /// Logits of chunk `chunk`'s scored positions, [scoredPerChunk, vocab]. The first half is
    /// evaluated without logits, and the chunk's last token not at all: no scored prediction
    /// depends on it, and causal attention keeps the others' logits as in one whole pass.
    func logits(_ chunk: Int, generator gen: Generator) throws -> [Float] {
        let start = chunk * nCtx
        var input = Array(tokens[start..<(start + nCtx - 1)])  // [nCtx − 1]
        if let bos { input[0] = bos }
        gen.reset()
        _ = try gen.evaluate(Array(input[..<first]))
        return try gen.evaluate(Array(input[first...]), all: true)
    }

    /// A text's tokens as llama-perplexity takes them: the file's bytes without one final
    /// newline, special-token text left as text, BOS when the model adds it and never EOS.
    static func tokenize(_ bytes: [UInt8], with loaded: LoadedModel) -> [Int32] {
        var text = bytes
        if text.last == UInt8(ascii: "\n") { text.removeLast() }
        let tok = loaded.tokenizer
        var ids = tok.encode(bytes: text, addSpecial: false, parseSpecial: false)
        if tok.addBOS, let bos = tok.bosID { ids.insert(bos, at: 0) }
        return ids
    }

    /// What the model substitutes at each chunk's start (llama.cpp's add_bos).
    static func bos(of loaded: LoadedModel) -> Int32? {
        loaded.tokenizer.addBOS ? loaded.tokenizer.bosID : nil
    }
}
