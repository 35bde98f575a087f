import XCTest
@testable import Grammar

/// Masks of grammars whose states hold many stacks at once (nested repetitions that can split
/// a text in many ways): made from determinized state sets, they equal the matcher's own
/// verdict token by token, and a grammar switches to them only once a walk overruns its budget.
final class StateSetWalkTests: XCTestCase {
    /// Every string of 1 to 4 characters over a small alphabet, and a few longer ones.
    static let trie: TokenTrie = {
        let alphabet = Array("ab .,".utf8)
        var tokens: [[UInt8]] = []
        var level: [[UInt8]] = [[]]
        for _ in 1...4 {
            level = level.flatMap { s in alphabet.map { s + [$0] } }
            tokens += level
        }
        tokens += ["abc def", " ab, ba.", "é", "ab\n"].map { Array($0.utf8) }
        return TokenTrie(tokens: tokens)
    }()

    /// The matcher's verdict on each token: what a mask must say.
    func truth(_ g: TokenGrammar, _ stacks: [[Int32]]) -> TokenMask {
        var mask = TokenMask(count: Self.trie.vocabularySize)
        mask.allowsEnd = g.grammar.isAccepting(stacks)
        let m = GrammarMatcher(g, stacks: stacks)
        for id in 0..<Self.trie.vocabularySize {
            var n = m
            if n.accept(token: Int32(id)) { mask.insert(Int32(id)) }
        }
        return mask
    }

    func states(_ g: TokenGrammar, along texts: [String]) -> [[[Int32]]] {
        var out = [g.grammar.initial]
        for t in texts {
            var m = g.matcher()
            for b in t.utf8 {
                guard m.accept(bytes: [b]) else { break }
                out.append(m.stacks)
            }
        }
        return out
    }

    func testStateSetMasksEqualTheMatcher() throws {
        let cases: [(GrammarSpec, [String])] = [
            (.regex("([a-z ]{0,20}[.,]?){0,40}"), ["ab ab. b a, bb"]),
            (.regex("(((.*)*)*)*"), ["ab x"]),
            (.regex("(.*a){5}x"), ["babab aa"]),
            (.regex("(\\w*\\s*\\w*)*"), ["ab ba x"]),
            (.jsonSchema(#"{"type":"object","properties":{"a":{"type":"string"}}}"#), [#"{"a": "b x"#]),
        ]
        for (spec, texts) in cases {
            let g = TokenGrammar(grammar: try spec.compile(), trie: Self.trie)
            let sets = StateSetWalk(grammar: g.grammar)
            for (i, s) in states(g, along: texts).enumerated() where i % 3 == 0 {
                XCTAssertEqual(sets.mask(s, trie: Self.trie), truth(g, s), "\(spec.key) at \(s.count) stacks")
            }
            XCTAssertGreaterThan(sets.setCount, 1)
        }
    }

    /// The ambiguous grammar overruns the walk's budget and switches; its masks (through the
    /// cache, as the engine asks) still equal the matcher's verdict. An ordinary grammar stays
    /// on the stack-by-stack walk.
    func testSwitchOnlyWhenTheWalkOverruns() throws {
        let ambiguous = TokenGrammar(grammar: try GrammarSpec.regex("([a-z ]{0,20}[.,]?){0,40}").compile(), trie: Self.trie)
        for (i, s) in states(ambiguous, along: ["ab ab. b a, bb ab a"]).enumerated() where i % 3 == 0 {
            XCTAssertEqual(ambiguous.mask(for: s).mask, truth(ambiguous, s))
        }
        XCTAssertTrue(ambiguous.walksStateSets)
        let plain = TokenGrammar(grammar: try GrammarSpec.regex("[a-z]+( [a-z]+)*[.,]").compile(), trie: Self.trie)
        for s in states(plain, along: ["ab ba xx."]) {
            XCTAssertEqual(plain.mask(for: s).mask, truth(plain, s))
        }
        XCTAssertFalse(plain.walksStateSets)
    }
}
