import XCTest
import Model
import Tokenizer

/// A draft model must share the target's tokenizer: the check names the first difference.
final class SpeculativeDraftCheckTests: XCTestCase {
    func testADraftWithAnotherTokenizerIsRefusedNamingTheDifference() {
        let t = TokenizerVocabulary(model: "gpt2", pre: "qwen2", tokens: ["a", "b", "c"], tokenTypes: [1, 1, 1], eosID: 2)
        XCTAssertNil(SpeculativeDraftCheck.difference(target: t, draft: t))
        var d = t
        d.tokens = ["a", "b", "c", "d"]; d.tokenTypes = [1, 1, 1, 1]
        XCTAssertEqual(SpeculativeDraftCheck.difference(target: t, draft: d), "vocabulary of 4 tokens (the target's has 3)")
        d = t; d.tokens[1] = "x"
        XCTAssertEqual(SpeculativeDraftCheck.difference(target: t, draft: d), "token 1 is \"x\" (the target's is \"b\")")
        d = t; d.pre = "llama3"
        XCTAssertEqual(SpeculativeDraftCheck.difference(target: t, draft: d), "pre-tokenizer llama3 (the target's is qwen2)")
        d = t; d.eosID = 1
        XCTAssertEqual(SpeculativeDraftCheck.difference(target: t, draft: d), "EOS id 1 (the target's is 2)")
    }
}
