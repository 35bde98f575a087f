import Model

/// Refuses a base file that cannot describe this model's view of the text, before any
/// evaluation: a KL divergence over another vocabulary or other tokens would be a number
/// without meaning (llama-perplexity only logs the vocabulary mismatch and goes on).
struct KLDivergenceCheck {
    let base: LogitsFile
    let path: String
    let loaded: LoadedModel
    let model: String        // as the user named it, for messages
    let ctxSize: Int?        // -c, if given
    let textFile: String?    // --file, if given

    func run() throws {
        let vocab = loaded.config.vocabSize
        guard base.nVocab == vocab else {
            throw fail("\(path) holds distributions over \(base.nVocab) tokens but \(model) has a vocabulary of \(vocab): "
                       + "the base must come from the same model family (its float twin)")
        }
        if let c = ctxSize, c != base.nCtx {
            throw fail("-c \(c) differs from the \(base.nCtx)-token chunks of \(path): give -c \(base.nCtx) or leave it out")
        }
        // BOS: the writer's tokenizer put it first exactly when it adds one, and this model
        // substitutes it at each chunk's start only when it adds one too.
        let tok = loaded.tokenizer
        if let bos = tok.bosID {
            let startsWithBOS = base.tokens[0] == bos
            if tok.addBOS && !startsWithBOS {
                throw fail("\(path) does not start with \(model)'s BOS token (\(bos)), which this model puts first: "
                           + "its tokens come from another tokenizer")
            }
            if !tok.addBOS && startsWithBOS {
                throw fail("\(path) starts with BOS (\(bos)), which \(model) never adds: its tokens come from another tokenizer")
            }
        }
        guard let textFile else { return }
        let ids = PerplexityChunks.tokenize(try readFile(textFile), with: loaded)
        let n = base.tokens.count
        guard ids.count >= n else {
            throw fail("\(textFile) gives \(ids.count) tokens, fewer than the \(n) of \(path): the base was made from a longer text")
        }
        if let i = zip(ids, base.tokens).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
            throw fail("\(textFile) tokenizes differently from \(path) at token \(i) (\(ids[i]) here, \(base.tokens[i]) "
                       + "there): the base was made from another text or with another tokenizer")
        }
    }

    private func fail(_ s: String) -> PerplexityCommand.Failure { PerplexityCommand.Failure(description: s) }
}
