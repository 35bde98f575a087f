import Grammar
import Tokenizer

extension ServerApp {
    /// Structured outputs' compiled grammars for the served vocabulary, with the configured limits.
    static func grammarCache(_ c: JetonConfig, tokenizer: Tokenizer) -> GrammarCache {
        var limits = GrammarLimits()
        limits.maxSourceBytes = c.int("grammar.max_schema_bytes")
        limits.maxNesting = c.int("grammar.max_nesting")
        limits.maxSymbols = c.int("grammar.max_symbols")
        limits.maxCompileSeconds = Double(c.int("grammar.compile_timeout_ms")) / 1000
        limits.maxWhitespace = c.int("grammar.max_whitespace")
        return GrammarCache(trie: TokenTrie(tokenizer: tokenizer), limits: limits, capacity: c.int("grammar.cache_size"),
                            masksPerGrammar: c.int("grammar.masks_per_grammar"))
    }
}
