import Grammar
import Tokenizer

extension ServerApp {
    /// Structured outputs' compiled grammars for the served vocabulary, with the configured limits.
    static func grammarCache(_ c: JetonConfig, tokenizer: Tokenizer) -> GrammarCache {
        var limits = GrammarLimits()
        limits.maxSourceBytes = c[\.grammarMaxSchemaBytes]
        limits.maxNesting = c[\.grammarMaxNesting]
        limits.maxSymbols = c[\.grammarMaxSymbols]
        limits.maxCompileSeconds = Double(c[\.grammarCompileTimeoutMs]) / 1000
        limits.maxWhitespace = c[\.grammarMaxWhitespace]
        return GrammarCache(trie: TokenTrie(tokenizer: tokenizer), limits: limits, capacity: c[\.grammarCacheSize],
                            masksPerGrammar: c[\.grammarMasksPerGrammar])
    }
}
