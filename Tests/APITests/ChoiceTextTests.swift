import XCTest
import Engine
import Model
import Tokenizer
@testable import API

/// Stop sequences against control tokens the answer leaves out (`skip_special_tokens`): a
/// control token generated before a stop keeps its logprobs entry, one inside the stop does not.
final class ChoiceTextTests: XCTestCase {
    // <unk>, <s>, </s>, a control token, and single letters.
    static let tokens = ["<unk>", "<s>", "</s>", "<|im_end|>", "a", "b", "x"]

    func choiceText(stops: [String]) throws -> ChoiceText {
        let v = TokenizerVocabulary(model: "llama", tokens: Self.tokens, tokenTypes: [2, 3, 3, 3, 1, 1, 1],
                                    scores: Array(repeating: 0, count: Self.tokens.count), bosID: 1, eosID: 2, unknownID: 0)
        return ChoiceText(tokenizer: try Tokenizer(v), stops: stops, skipSpecial: true)
    }

    func lp(_ id: Int32) -> TokenLogprob { TokenLogprob(token: id, logprob: -Float(id), top: []) }

    func push(_ c: inout ChoiceText, _ ids: [Int32]) -> (text: String, tokens: [Int32]) {
        var text = "", tokens: [Int32] = []
        for id in ids {
            let piece = c.push(id, lp(id))
            text += piece.text
            tokens += piece.logprobs.map(\.token)
        }
        return (text, tokens)
    }

    func testAControlTokenWhereTheStopBeginsIsKept() throws {
        // "a" is held (it may begin "ax"); <|im_end|> comes; "b" is a stop: the answer is "a", and
        // the control token, generated before "b", keeps its entry.
        var c = try choiceText(stops: ["ax", "b"])
        let out = push(&c, [4, 3, 5])
        XCTAssertEqual(out.text, "a")
        XCTAssertEqual(out.tokens, [4, 3])
        XCTAssertTrue(c.stopped)
    }

    func testAControlTokenInsideTheStopGoes() throws {
        // "a" begins the stop "ab", <|im_end|> comes inside it: both go with the stop.
        var c = try choiceText(stops: ["ab"])
        let out = push(&c, [6, 4, 3, 5])
        XCTAssertEqual(out.text, "x")
        XCTAssertEqual(out.tokens, [6])
    }

    /// Stops whose characters are several code points come from several tokens: "\r" then "\n",
    /// a flag's two regional indicators. Matched as bytes, they still stop the text.
    func testAStopOfACharacterOfSeveralCodePointsMatchesAcrossTokens() throws {
        let tokens = ["<unk>", "<s>", "</s>", "a", "b", "\r", "\n", "\u{1F1EB}", "\u{1F1F7}"]
        func text(stops: [String], _ ids: [Int32]) throws -> (String, String?) {
            let v = TokenizerVocabulary(model: "llama", tokens: tokens, tokenTypes: [2, 3, 3] + Array(repeating: 1, count: 6),
                                        scores: Array(repeating: 0, count: tokens.count), bosID: 1, eosID: 2, unknownID: 0)
            var c = ChoiceText(tokenizer: try Tokenizer(v), stops: stops, skipSpecial: true)
            var out = ids.map { c.push($0, nil).text }.joined()
            out += c.finish().text
            return (out, c.matchedStop)
        }
        XCTAssertEqual(try text(stops: ["\r\n"], [3, 5, 6, 4]).0, "a")
        XCTAssertEqual(try text(stops: ["\r\n"], [3, 5, 6, 4]).1, "\r\n")
        XCTAssertEqual(try text(stops: ["\u{1F1EB}\u{1F1F7}"], [3, 7, 8, 4]).0, "a")
        // A stop the text only begins goes out whole at the end; one that is not there never stops it.
        XCTAssertEqual(try text(stops: ["\r\nb\r"], [3, 5, 6, 4]).0, "a\r\nb")
        XCTAssertEqual(try text(stops: ["a\u{0}"], [3, 4, 3]).0, "aba")
        XCTAssertNil(try text(stops: ["a\u{0}"], [3, 4, 3]).1)
        // The first occurrence where the stop's start repeats ("aab" in "aaab").
        XCTAssertEqual(try text(stops: ["aab"], [4, 3, 3, 3, 4]).0, "ba")
    }

    /// llama-server's `n_indent`: the first line is free; a later line indented less (a blank one
    /// too) ends the text where its code begins, its indentation kept.
    func testALineIndentedLessEndsTheText() throws {
        let tokens = ["<unk>", "<s>", "</s>", "a", "b", "\n", "  ", "    ", "\n\n"]
        func text(_ ids: [Int32]) throws -> (String, Bool) {
            let v = TokenizerVocabulary(model: "llama", tokens: tokens, tokenTypes: [2, 3, 3] + Array(repeating: 1, count: 6),
                                        scores: Array(repeating: 0, count: tokens.count), bosID: 1, eosID: 2, unknownID: 0)
            var c = ChoiceText(tokenizer: try Tokenizer(v), stops: [], skipSpecial: true, rules: .init(minIndent: 4))
            var out = ids.map { c.push($0, nil).text }.joined()
            out += c.finish().text
            return (out, c.endedByRule)
        }
        // "a\n    b\n  b": the third line is indented 2.
        XCTAssertEqual(try text([3, 5, 7, 4, 5, 6, 4, 4]).0, "a\n    b\n  ")
        XCTAssertTrue(try text([3, 5, 7, 4, 5, 6, 4, 4]).1)
        // Indented enough all through: whole.
        XCTAssertEqual(try text([3, 5, 7, 4, 5, 7, 4]).0, "a\n    b\n    b")
        XCTAssertFalse(try text([3, 5, 7, 4, 5, 7, 4]).1)
        // A blank line ends it at its newline (as llama-server: the empty line's indentation is 0).
        XCTAssertEqual(try text([3, 5, 7, 4, 8, 7, 4]).0, "a\n    b\n")
    }

    func testTheTrackerKeepsTheSameTokens() {
        let high = TokenConfidence(logprob: log(0.9), entropy: 1)
        var t = ConfidenceTracker(threshold: 0.2)
        t.add(high, start: 0, end: 1, holdsBytes: false)   // "a"
        t.add(high, start: 1, end: 1, holdsBytes: false)   // a control token, no text
        t.add(high, start: 1, end: 2, holdsBytes: false)   // "b", the stop
        t.dropTokens(startingAt: 1)
        XCTAssertEqual(t.summary.tokens, 2)
        // A token that only left bytes of a character where the stop begins wrote part of it.
        var u = ConfidenceTracker(threshold: 0.2)
        u.add(high, start: 0, end: 1, holdsBytes: false)
        u.add(high, start: 1, end: 1, holdsBytes: true)
        u.add(high, start: 1, end: 3, holdsBytes: false)
        u.dropTokens(startingAt: 1)
        XCTAssertEqual(u.summary.tokens, 1)
    }
}
