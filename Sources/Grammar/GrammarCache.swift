import Foundation

/// Compiled grammars of one vocabulary, by their text, least recently used out first, so a
/// schema sent with every request compiles once. Safe from any thread; two requests that
/// miss on the same text at once may both compile it (the second result is kept).
public final class GrammarCache: @unchecked Sendable {
    public let trie: TokenTrie
    public let limits: GrammarLimits
    public let capacity: Int
    public let masksPerGrammar: Int
    private let lock = NSLock()
    private var entries: [String: (grammar: TokenGrammar, used: UInt64)] = [:]
    private var clock: UInt64 = 0

    public init(trie: TokenTrie, limits: GrammarLimits = .init(), capacity: Int = 64, masksPerGrammar: Int = 256) {
        self.trie = trie
        self.limits = limits
        self.capacity = max(capacity, 1)
        self.masksPerGrammar = masksPerGrammar
    }

    /// The grammar for `spec`, compiled now or found; throws `GrammarError`.
    public func grammar(_ spec: GrammarSpec) throws -> TokenGrammar {
        let key = spec.key
        lock.lock()
        clock += 1
        if let e = entries[key] {
            entries[key] = (e.grammar, clock)
            lock.unlock()
            return e.grammar
        }
        lock.unlock()
        let g = TokenGrammar(grammar: try spec.compile(limits: limits), trie: trie, maxCachedMasks: masksPerGrammar)
        lock.lock()
        defer { lock.unlock() }
        if entries.count >= capacity, let oldest = entries.min(by: { $0.value.used < $1.value.used })?.key {
            entries[oldest] = nil
        }
        entries[key] = (g, clock)
        return g
    }

    public var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return entries.count
    }
}
