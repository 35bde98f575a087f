/// One constrained sequence's place in its grammar: advanced by each token it takes,
/// asked for the mask of the next. A value; the grammar and its mask cache are shared.
///
/// A lazy matcher (`LazyGrammar`) lets the text run free until a trigger; the grammar then
/// holds from the trigger's marker on (at once, or once the match is certain), and with
/// `rearm` the text is free again after each whole match.
public struct GrammarMatcher: Sendable {
    public let grammar: TokenGrammar
    public private(set) var stacks: [[Int32]]
    private let lazy: LazyGrammar?
    private var phase: Phase = .holding
    /// The trigger of the current (or last) match.
    private var opened: Int?

    enum Phase: Sendable, Equatable {
        /// Free text; `tail`: its last bytes, which may begin a marker; `sawText`: other than
        /// whitespace since the start or the last match.
        case waiting(tail: [UInt8], sawText: Bool)
        /// Free text the grammar has taken since trigger `trigger`'s marker (`taken`: its last
        /// bytes): a match until it refuses one, held once they end with one of its commit texts.
        case trying(trigger: Int, taken: [UInt8])
        /// The grammar holds.
        case holding
    }

    public init(_ grammar: TokenGrammar) {
        self.grammar = grammar
        stacks = grammar.grammar.initial
        lazy = nil
    }

    /// A lazy matcher: free text until one of `lazy`'s triggers.
    public init(_ grammar: TokenGrammar, lazy: LazyGrammar) {
        self.grammar = grammar
        stacks = grammar.grammar.initial
        self.lazy = lazy.triggers.isEmpty ? nil : lazy
        if self.lazy != nil { phase = .waiting(tail: [], sawText: false) }
    }

    /// A matcher at a state reached before (tests).
    init(_ grammar: TokenGrammar, stacks: [[Int32]]) {
        self.grammar = grammar
        self.stacks = stacks
        lazy = nil
    }

    /// False while a lazy matcher's text is free: every token is allowed.
    public var isConstraining: Bool { phase == .holding }

    /// Takes a token's bytes; false (and no change) when the grammar refuses them.
    @discardableResult
    public mutating func accept(token: Int32) -> Bool {
        guard token >= 0 && Int(token) < grammar.trie.tokenBytes.count else { return !isConstraining }
        let bytes = grammar.trie.tokenBytes[Int(token)]
        guard !bytes.isEmpty else { return !isConstraining }  // a control token is free text too
        return accept(bytes: bytes)
    }

    @discardableResult
    public mutating func accept(bytes: [UInt8]) -> Bool {
        var next = self
        guard next.take(bytes[...]) else { return false }
        self = next
        return true
    }

    private mutating func take(_ bytes: ArraySlice<UInt8>) -> Bool {
        var rest = bytes
        // The grammar began holding inside these bytes: they were sampled as free text, so a
        // byte it refuses after that means no match, not a token to refuse.
        var heldHere = false
        scan: while !rest.isEmpty {
            switch phase {
            case let .waiting(tail, sawText):
                let lazy = lazy!
                let text = tail + rest
                guard let (k, start) = lazy.firstMatch(in: text[...], sawText: sawText) else {
                    phase = .waiting(tail: Array(text.suffix(lazy.keep)),
                                     sawText: sawText || !text.allSatisfy(LazyGrammar.isSpace))
                    return true
                }
                stacks = grammar.grammar.initial
                opened = k
                phase = lazy.triggers[k].commitAfter.isEmpty ? .holding : .trying(trigger: k, taken: [])
                heldHere = heldHere || phase == .holding
                rest = text[start...]
            case let .trying(k, taken):
                let commits = lazy!.triggers[k].commitAfter, longest = commits.map(\.count).max() ?? 0
                var kept = taken, s = stacks, i = rest.startIndex, refused = false, committed = false
                while i < rest.endIndex {
                    let next = grammar.grammar.advance(s, rest[i])
                    if next.isEmpty { refused = true; break }
                    s = next
                    kept = Array((kept + [rest[i]]).suffix(longest))
                    i += 1
                    if commits.contains(where: { kept.suffix($0.count).elementsEqual($0) }) { committed = true; break }
                }
                if refused {
                    // Not a match after all: the search goes on from the refused byte (past it if
                    // nothing was taken, so a marker the grammar refuses cannot loop).
                    phase = .waiting(tail: [], sawText: true)
                    if kept.isEmpty && i == rest.startIndex { i += 1 }
                } else {
                    stacks = s
                    phase = committed ? .holding : .trying(trigger: k, taken: kept)
                    heldHere = heldHere || committed
                }
                rest = rest[i...]
            case .holding:
                var s = stacks
                var i = rest.startIndex
                while i < rest.endIndex {
                    if lazy?.rearm == true && s.allSatisfy({ $0.isEmpty }) { break }
                    let next = grammar.grammar.advance(s, rest[i])
                    if next.isEmpty {
                        guard heldHere else { return false }
                        phase = .waiting(tail: [], sawText: true)
                        rest = rest[(i == rest.startIndex ? i + 1 : i)...]  // a refused first byte cannot loop
                        continue scan
                    }
                    s = next
                    i += 1
                }
                stacks = s
                if lazy?.rearm == true && s.allSatisfy({ $0.isEmpty }) {
                    // A whole match: free text again (a call may follow a call). Only a match that
                    // had to begin the answer (a bare object) lets the next one begin there too.
                    stacks = grammar.grammar.initial
                    phase = .waiting(tail: [], sawText: !(opened.map { lazy!.triggers[$0].atStart } ?? false))
                }
                rest = rest[i...]
            }
        }
        return true
    }

    /// The grammar may end here.
    public var canEnd: Bool { !isConstraining || grammar.grammar.isAccepting(stacks) }

    /// Nothing more can follow: the sequence is done.
    public var isComplete: Bool { isConstraining && stacks.allSatisfy { $0.isEmpty } }

    public func mask() -> TokenMask { isConstraining ? grammar.mask(for: stacks).mask : grammar.unconstrainedMask }
}
