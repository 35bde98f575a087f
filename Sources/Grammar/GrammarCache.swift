import Foundation
import Synchronization

/// Compiled grammars of one vocabulary, by their text, least recently used out first, so a
/// schema sent with every request compiles once. Safe from any thread; two requests that
/// miss on the same text at once may both compile it (the second result is kept).
public final class GrammarCache: Sendable {
    public let trie: TokenTrie
    public let limits: GrammarLimits
    public let capacity: Int
    public let masksPerGrammar: Int
    private struct State {
        var entries: [String: (grammar: TokenGrammar, used: UInt64)] = [:]
        var clock: UInt64 = 0
    }
    private let state = Mutex(State())

    public init(trie: TokenTrie, limits: GrammarLimits = .init(), capacity: Int = 64, masksPerGrammar: Int = 256) {
        self.trie = trie
        self.limits = limits
        self.capacity = max(capacity, 1)
        self.masksPerGrammar = masksPerGrammar
    }

    /// The grammar for `spec`, compiled now or found; throws `GrammarError`.
    public func grammar(_ spec: GrammarSpec) throws -> TokenGrammar {
        let key = spec.key
        let found: TokenGrammar? = state.withLock { s in
            s.clock += 1
            guard let e = s.entries[key] else { return nil }
            s.entries[key] = (e.grammar, s.clock)
            return e.grammar
        }
        if let found { return found }
        // Compiled outside the lock: it may take up to the compile timeout.
        let g = TokenGrammar(grammar: try spec.compile(limits: limits), trie: trie, maxCachedMasks: masksPerGrammar)
        let capacity = capacity
        state.withLock { s in
            if s.entries.count >= capacity, let oldest = s.entries.min(by: { $0.value.used < $1.value.used })?.key {
                s.entries[oldest] = nil
            }
            s.entries[key] = (g, s.clock)
        }
        return g
    }

    public var count: Int { state.withLock { $0.entries.count } }
}
