/// One constrained sequence's place in its grammar: advanced by each token it takes,
/// asked for the mask of the next. A value; the grammar and its mask cache are shared.
public struct GrammarMatcher: Sendable {
    public let grammar: TokenGrammar
    public private(set) var stacks: [[Int32]]

    public init(_ grammar: TokenGrammar) {
        self.grammar = grammar
        stacks = grammar.grammar.initial
    }

    /// A matcher at a state reached before (tests).
    init(_ grammar: TokenGrammar, stacks: [[Int32]]) {
        self.grammar = grammar
        self.stacks = stacks
    }

    /// Takes a token's bytes; false (and no change) when the grammar refuses them.
    @discardableResult
    public mutating func accept(token: Int32) -> Bool {
        guard token >= 0 && Int(token) < grammar.trie.tokenBytes.count else { return false }
        let bytes = grammar.trie.tokenBytes[Int(token)]
        guard !bytes.isEmpty else { return false }
        return accept(bytes: bytes)
    }

    @discardableResult
    public mutating func accept(bytes: [UInt8]) -> Bool {
        var s = stacks
        for b in bytes {
            s = grammar.grammar.advance(s, b)
            if s.isEmpty { return false }
        }
        stacks = s
        return true
    }

    /// The grammar may end here.
    public var canEnd: Bool { grammar.grammar.isAccepting(stacks) }

    /// Nothing more can follow: the sequence is done.
    public var isComplete: Bool { stacks.allSatisfy { $0.isEmpty } }

    public func mask() -> TokenMask { grammar.mask(for: stacks).mask }
}
