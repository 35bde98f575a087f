import XCTest
@testable import Grammar

/// Lazy matchers: free text until the trigger, the grammar from the trigger's first byte on
/// (a tool call under `tool_choice: "auto"`).
final class LazyMatcherTests: XCTestCase {
    // Token ids: 0 "<call>" (one token, as <tool_call> is), 1 "<", 2 "call>", 3 "a", 4 "b",
    // 5 "</call>", 6 "hi ", 7 "<ca", 8 "ll>a", 9 a control token (no bytes), 10 "</call>hi ".
    let vocab = ["<call>", "<", "call>", "a", "b", "</call>", "hi ", "<ca", "ll>a", "", "</call>hi "]
    func grammar() throws -> TokenGrammar {
        let trie = TokenTrie(tokens: vocab.map { Array($0.utf8) })
        return TokenGrammar(grammar: try GrammarSpec.gbnf(#"root ::= "<call>" "a"+ "</call>""#).compile(), trie: trie)
    }

    func testFreeUntilTheTriggerThenConstrained() throws {
        let g = try grammar()
        var m = g.matcher(lazy: LazyGrammar(triggers: [.init(marker: "<call>")], rearm: false))
        XCTAssertFalse(m.isConstraining)
        XCTAssertEqual(m.mask(), g.unconstrainedMask)
        for t: Int32 in [6, 4, 9, 6] { XCTAssertTrue(m.accept(token: t)) }  // prose, a control token
        XCTAssertTrue(m.canEnd)
        XCTAssertFalse(m.isComplete)
        XCTAssertTrue(m.accept(token: 0))
        XCTAssertTrue(m.isConstraining)
        XCTAssertFalse(m.canEnd)
        let mask = m.mask()
        XCTAssertTrue(mask.contains(3))
        XCTAssertFalse(mask.contains(4))
        XCTAssertFalse(mask.contains(6))
        XCTAssertFalse(m.accept(token: 4), "b is not the grammar's")
        XCTAssertTrue(m.accept(token: 3))
        XCTAssertTrue(m.accept(token: 5))
        XCTAssertTrue(m.isComplete, "without rearm one call ends the answer")
    }

    /// A trigger written across tokens is found, and the grammar takes the bytes after it in
    /// the same token.
    func testTriggerAcrossTokens() throws {
        let g = try grammar()
        var m = g.matcher(lazy: LazyGrammar(triggers: [.init(marker: "<call>")], rearm: false))
        XCTAssertTrue(m.accept(token: 6))
        XCTAssertTrue(m.accept(token: 7))  // "<ca"
        XCTAssertFalse(m.isConstraining)
        XCTAssertTrue(m.accept(token: 8))  // "ll>a": the trigger ends inside, "a" goes to the grammar
        XCTAssertTrue(m.isConstraining)
        XCTAssertTrue(m.accept(token: 5))
        XCTAssertTrue(m.isComplete)

        var n = g.matcher(lazy: LazyGrammar(triggers: [.init(marker: "<call>")], rearm: false))
        XCTAssertTrue(n.accept(token: 1))
        XCTAssertTrue(n.accept(token: 2))
        XCTAssertTrue(n.isConstraining)
        XCTAssertFalse(n.accept(token: 6), "after the trigger, prose is refused")
        XCTAssertTrue(n.isConstraining, "a refused token changes nothing")
    }

    /// With rearm, each whole match frees the text again, also inside the token that ends it.
    func testRearmAfterEachCall() throws {
        let g = try grammar()
        var m = g.matcher(lazy: LazyGrammar(triggers: [.init(marker: "<call>")], rearm: true))
        for t: Int32 in [0, 3, 3, 5] { XCTAssertTrue(m.accept(token: t)) }
        XCTAssertFalse(m.isConstraining)
        XCTAssertFalse(m.isComplete)
        XCTAssertTrue(m.canEnd)
        XCTAssertTrue(m.accept(token: 6))
        XCTAssertTrue(m.accept(token: 0))
        XCTAssertTrue(m.isConstraining)
        XCTAssertTrue(m.accept(token: 3))
        XCTAssertTrue(m.accept(token: 10))  // "</call>hi ": the call ends, "hi " is free text
        XCTAssertFalse(m.isConstraining)
        XCTAssertTrue(m.accept(token: 4))

        var once = g.matcher(lazy: LazyGrammar(triggers: [.init(marker: "<call>")], rearm: false))
        for t: Int32 in [0, 3] { XCTAssertTrue(once.accept(token: t)) }
        XCTAssertFalse(once.accept(token: 10), "without rearm nothing may follow the call")
    }

    /// A matcher without a trigger is the plain one: constrained from the first token.
    func testNoTriggerIsConstrainedFromTheStart() throws {
        let g = try grammar()
        var m = g.matcher(lazy: nil)
        XCTAssertTrue(m.isConstraining)
        XCTAssertFalse(m.accept(token: 6))
        XCTAssertFalse(m.accept(token: 9), "a control token has no bytes for the grammar")
        XCTAssertTrue(m.accept(token: 0))
    }

    /// A trigger that commits only after certain bytes: before them the text is free, and a text
    /// the grammar refuses was no match (the search goes on); an at-start trigger only opens
    /// where nothing but whitespace came before.
    func testTryingUntilCommitAndAtStart() throws {
        // 0 "{", 1 "\"n\":", 2 "1", 3 "2", 4 "}", 5 "x", 6 " ", 7 "```", 8 "json\n{"
        let vocab = ["{", "\"n\":", "1", "2", "}", "x", " ", "```", "json\n{"]
        let trie = TokenTrie(tokens: vocab.map { Array($0.utf8) })
        let g = TokenGrammar(grammar: try GrammarSpec.gbnf(#"root ::= obj | "```json\n" obj "```"\#nobj ::= "{\"n\":" "1"+ "}""#).compile(), trie: trie)
        let lazy = LazyGrammar(triggers: [.init(marker: "{", atStart: true, commitAfter: "\"n\":"),
                                          .init(marker: "```", commitAfter: "\"n\":")], rearm: true)
        var m = g.matcher(lazy: lazy)
        XCTAssertTrue(m.accept(token: 6))
        XCTAssertTrue(m.accept(token: 0))          // "{" after whitespace only: trying
        XCTAssertFalse(m.isConstraining)
        XCTAssertTrue(m.accept(token: 1))          // commits
        XCTAssertTrue(m.isConstraining)
        XCTAssertFalse(m.accept(token: 3), "2 is refused once held")
        for t: Int32 in [2, 4] { XCTAssertTrue(m.accept(token: t)) }
        XCTAssertFalse(m.isConstraining, "free again after the object")
        XCTAssertTrue(m.accept(token: 0))          // right after a match counts as the start
        XCTAssertTrue(m.accept(token: 5))          // refused while trying: no match, free text
        XCTAssertFalse(m.isConstraining)
        XCTAssertTrue(m.accept(token: 0))          // "{" after text: not a start
        XCTAssertTrue(m.accept(token: 1))
        XCTAssertFalse(m.isConstraining)
        XCTAssertTrue(m.accept(token: 7))          // a fence opens anywhere
        XCTAssertTrue(m.accept(token: 8))
        XCTAssertFalse(m.isConstraining)
        XCTAssertTrue(m.accept(token: 1))
        XCTAssertTrue(m.isConstraining)
        XCTAssertTrue(m.accept(token: 2))
        XCTAssertFalse(m.mask().contains(5))

        var code = g.matcher(lazy: lazy)            // a code block is no call
        for t: Int32 in [5, 7, 5, 4, 3, 7] { XCTAssertTrue(code.accept(token: t)) }
        XCTAssertFalse(code.isConstraining)
    }

    /// A trigger with two commit texts (a call's `"arguments"` or `"parameters"`): either commits,
    /// the longer one across tokens too; a text the grammar takes that has neither stays free.
    func testEitherOfTwoCommitTexts() throws {
        // 0 "{", 1 "\"n\":", 2 "\"mm", 3 "\":", 4 "1", 5 "}", 6 "2", 7 "\"o\":"
        let vocab = ["{", "\"n\":", "\"mm", "\":", "1", "}", "2", "\"o\":"]
        let trie = TokenTrie(tokens: vocab.map { Array($0.utf8) })
        let g = TokenGrammar(grammar: try GrammarSpec.gbnf(#"root ::= "{" ("\"n\":" | "\"mm\":" | "\"o\":") "1"+ "}""#).compile(),
                             trie: trie)
        let lazy = LazyGrammar(triggers: [.init(marker: "{", atStart: true, commitAfter: "\"n\":", "\"mm\":")], rearm: false)
        for key: [Int32] in [[1], [2, 3]] {
            var m = g.matcher(lazy: lazy)
            XCTAssertTrue(m.accept(token: 0))
            for t in key { XCTAssertFalse(m.isConstraining); XCTAssertTrue(m.accept(token: t)) }
            XCTAssertTrue(m.isConstraining, "\(key) commits")
            XCTAssertFalse(m.accept(token: 6), "2 is refused once held")
            XCTAssertTrue(m.accept(token: 4))
        }
        var other = g.matcher(lazy: lazy)
        for t: Int32 in [0, 7, 4, 5] { XCTAssertTrue(other.accept(token: t)); XCTAssertFalse(other.isConstraining, "\(t)") }
        XCTAssertEqual(lazy.triggers[0].commitAfter.count, 2)
        XCTAssertTrue(LazyGrammar.Trigger(marker: "<c>").commitAfter.isEmpty, "no commit text: held from the marker")
    }

    /// A token sampled as free text that commits a match and goes on past what the grammar
    /// allows is no match (text again), not a refused token that would end the answer; after a
    /// tagged call the next "{" is not at the start, after a bare one it is.
    func testCommittingTokenThatOverrunsAndRearmStart() throws {
        // 0 "{", 1 "\"n\":", 2 "1", 3 "}", 4 "\"n\":\"x", 5 "<c>", 6 "</c>", 7 " "
        let vocab = ["{", "\"n\":", "1", "}", "\"n\":\"x", "<c>", "</c>", " "]
        let trie = TokenTrie(tokens: vocab.map { Array($0.utf8) })
        let g = TokenGrammar(grammar: try GrammarSpec.gbnf(#"root ::= obj | "<c>" obj "</c>"\#nobj ::= "{\"n\":" "1"+ "}""#).compile(), trie: trie)
        let lazy = LazyGrammar(triggers: [.init(marker: "<c>"), .init(marker: "{", atStart: true, commitAfter: "\"n\":")], rearm: true)
        var m = g.matcher(lazy: lazy)
        XCTAssertTrue(m.accept(token: 0))
        XCTAssertTrue(m.accept(token: 4), "committed and overrun in one token: free text, not refused")
        XCTAssertFalse(m.isConstraining)
        XCTAssertTrue(m.accept(token: 3))

        var tagged = g.matcher(lazy: lazy)
        for t: Int32 in [5, 0, 1, 2, 3, 6] { XCTAssertTrue(tagged.accept(token: t)) }
        XCTAssertFalse(tagged.isConstraining)
        for t: Int32 in [7, 0, 1] { XCTAssertTrue(tagged.accept(token: t)) }
        XCTAssertFalse(tagged.isConstraining, "after a tagged call a bare object is not a call (the parser's rule)")

        var bare = g.matcher(lazy: lazy)
        for t: Int32 in [0, 1, 2, 3] { XCTAssertTrue(bare.accept(token: t)) }
        XCTAssertFalse(bare.isConstraining)
        for t: Int32 in [7, 0, 1] { XCTAssertTrue(bare.accept(token: t)) }
        XCTAssertTrue(bare.isConstraining, "a bare call may follow a bare call")
    }
}
