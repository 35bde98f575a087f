import Tokenizer
import XCTest

/// Malformed vocabularies are typed errors, and small hand-made vocabularies behave as
/// documented (special-token matching, BOS/EOS, end-of-generation ids).
final class VocabularyValidationTests: XCTestCase {
    /// GPT-2's byte → stand-in character table, written out independently of the target.
    static let byteChars: [String] = {
        let printable = Set(Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF))
        var extra: UInt32 = 256
        return (0..<256).map { b -> String in
            var code = UInt32(b)
            if !printable.contains(b) {
                code = extra
                extra += 1
            }
            return Unicode.Scalar(code).map { String(Character($0)) } ?? "?"
        }
    }()

    /// 256 byte tokens, then "ab", "abc", then specials.
    private func smallVocabulary() -> TokenizerVocabulary {
        var tokens = VocabularyValidationTests.byteChars
        var types = [Int32](repeating: 1, count: 256)
        tokens += ["ab", "abc", "<a>", "<a><b>", "<|eot_id|>", "[u]"]
        types += [1, 1, 3, 3, 3, 4]
        return TokenizerVocabulary(model: "gpt2", pre: "gpt2", tokens: tokens, tokenTypes: types,
                                   merges: ["a b", "ab c"], bosID: 258, eosID: 259,
                                   addBOS: true, addEOS: true)
    }

    private func assertThrows(_ v: TokenizerVocabulary, _ expected: TokenizerError,
                              file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try Tokenizer(v), file: file, line: line) { error in
            XCTAssertEqual(error as? TokenizerError, expected, file: file, line: line)
        }
    }

    func testMalformedVocabulariesThrow() {
        var v = smallVocabulary()
        v.tokens = []
        assertThrows(v, .emptyVocabulary)

        v = smallVocabulary()
        v.tokenTypes.removeLast()
        assertThrows(v, .countMismatch(field: "tokenizer.ggml.token_type", expected: 262, actual: 261))

        v = smallVocabulary()
        v.scores = [0, 1]
        assertThrows(v, .countMismatch(field: "tokenizer.ggml.scores", expected: 262, actual: 2))

        v = smallVocabulary()
        v.eosID = 262
        assertThrows(v, .specialIDOutOfRange(name: "eos", id: 262))

        v = smallVocabulary()
        v.bosID = -1
        assertThrows(v, .specialIDOutOfRange(name: "bos", id: -1))

        v = smallVocabulary()
        v.merges.append("abc")
        assertThrows(v, .malformedMerge(index: 2, text: "abc"))

        v = smallVocabulary()
        v.merges.append("abc zz")
        assertThrows(v, .mergeNamesUnknownToken(index: 2, token: "zz"))

        v = smallVocabulary()
        v.merges.append("c a")  // "ca" is not a token
        assertThrows(v, .mergeNamesUnknownToken(index: 2, token: "ca"))

        v = smallVocabulary()
        v.model = "t5"  // Unigram: not implemented ("bert", WordPiece, is: WordPieceTests)
        assertThrows(v, .unsupportedModel("t5"))
    }

    func testSmallVocabularyEncoding() throws {
        let tok = try Tokenizer(smallVocabulary())
        XCTAssertEqual(tok.encode("abc", addSpecial: false), [257])
        XCTAssertEqual(tok.encode("abc"), [258, 257, 259])
        // Longest special token first; "<a>" alone where "<a><b>" does not follow.
        XCTAssertEqual(tok.encode("<a><b><a>", addSpecial: false), [259, 258])
        // Control tokens only with parseSpecial; user-defined ones always. Byte b is id b here.
        XCTAssertEqual(tok.encode("<a>[u]", addSpecial: false, parseSpecial: false), [0x3C, 0x61, 0x3E, 261])
        XCTAssertEqual(tok.encode("<a>[u]", addSpecial: false, parseSpecial: true), [258, 261])
        XCTAssertEqual(tok.endOfGenerationIDs, [259, 260])
        XCTAssertEqual(tok.decode(tok.encode("x<a>abc")), "<a>x<a>abc<a><b>")
        XCTAssertEqual(tok.decode(tok.encode("x<a>abc"), skipSpecial: true), "xabc")
    }

    /// The merge loop (rescan for short words, heap for long ones) against an obvious
    /// string-based BPE on random single-piece words of the real vocabulary.
    func testMergeLoopMatchesNaiveBPE() throws {
        let tok = try TokenizerFixtures.smolLM()
        let file = try GGUFFileLoader.metadata()
        let merges = try XCTUnwrap(file["tokenizer.ggml.merges"]?.stringArray)
        var rank: [String: Int] = [:]
        for (i, m) in merges.enumerated() where rank[m] == nil { rank[m] = i }
        var textToID: [String: Int32] = [:]
        for i in 0..<tok.vocabularySize { textToID[tok.tokenText(Int32(i))] = Int32(i) }

        func naive(_ word: [UInt8]) -> [Int32] {
            var syms = word.map { VocabularyValidationTests.byteChars[Int($0)] }
            while syms.count > 1 {
                var best = Int.max
                var at = -1
                for i in 0..<(syms.count - 1) {
                    if let r = rank[syms[i] + " " + syms[i + 1]], r < best { best = r; at = i }
                }
                if at < 0 { break }
                syms[at] += syms[at + 1]
                syms.remove(at: at + 1)
            }
            return syms.map { textToID[$0] ?? -1 }
        }

        var rng = SeededGenerator(seed: 3)
        let alphabet = Array("etaoinshrdlucmfwypvbgkqjxz".utf8)
        for _ in 0..<400 {
            let n = Int.random(in: 1...120, using: &rng)
            // Skewed letter choice so that long merges happen.
            let word = (0..<n).map { _ in alphabet[min(Int.random(in: 0..<26, using: &rng), Int.random(in: 0..<26, using: &rng))] }
            XCTAssertEqual(tok.encode(bytes: word, addSpecial: false, parseSpecial: false), naive(word),
                           String(decoding: word, as: UTF8.self))
        }
    }
}
