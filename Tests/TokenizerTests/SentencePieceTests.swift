import Tokenizer
import XCTest

/// SentencePiece BPE against the `sentencepiece` package's own ids for a model it
/// trained (Fixtures/spm_bpe.json, made by scripts/make_tokenizer_fixtures.py).
final class SentencePieceTests: XCTestCase {
    func testEncodeMatchesSentencePiece() throws {
        let (tok, cases) = try TokenizerFixtures.sentencePiece()
        XCTAssertGreaterThanOrEqual(cases.count, 20)
        for c in cases {
            // sentencepiece neither adds BOS nor reads "<s>" in text as a control token.
            XCTAssertEqual(tok.encode(c.text, addSpecial: false, parseSpecial: false), c.ids,
                           "text: \(c.text.debugDescription)")
        }
    }

    /// A piece with "▁" inside turns off word-by-word encoding; the whole-text path must
    /// give sentencepiece's ids as well (the extra piece occurs in no test string).
    func testWholeTextPathMatchesSentencePiece() throws {
        let obj = try XCTUnwrap(TokenizerFixtures.json("spm_bpe.json") as? [String: Any])
        var tokens = try XCTUnwrap(obj["tokens"] as? [String])
        var scores = try XCTUnwrap(obj["scores"] as? [Double]).map { Float($0) }
        var types = try XCTUnwrap(obj["token_types"] as? [Int]).map { Int32($0) }
        tokens.append("q▁q")
        scores.append(-10_000)
        types.append(1)
        let tok = try Tokenizer(TokenizerVocabulary(model: "llama", tokens: tokens, tokenTypes: types, scores: scores,
                                                    bosID: 1, eosID: 2, unknownID: 0, addSpacePrefix: true))
        let (_, cases) = try TokenizerFixtures.sentencePiece()
        for c in cases {
            XCTAssertEqual(tok.encode(c.text, addSpecial: false, parseSpecial: false), c.ids, c.text.debugDescription)
        }
    }

    /// Without token types, "<0xXX>" pieces are still byte tokens.
    func testVocabularyWithoutTypesKeepsByteFallback() throws {
        let obj = try XCTUnwrap(TokenizerFixtures.json("spm_bpe.json") as? [String: Any])
        let tokens = try XCTUnwrap(obj["tokens"] as? [String])
        let scores = try XCTUnwrap(obj["scores"] as? [Double]).map { Float($0) }
        let tok = try Tokenizer(TokenizerVocabulary(model: "llama", tokens: tokens, scores: scores,
                                                    bosID: 1, eosID: 2, unknownID: 0, addSpacePrefix: true))
        let (_, cases) = try TokenizerFixtures.sentencePiece()
        for c in cases where !c.text.contains("<") {
            XCTAssertEqual(tok.encode(c.text, addSpecial: false, parseSpecial: false), c.ids, c.text.debugDescription)
            XCTAssertEqual(tok.decode(c.ids), c.text)
        }
    }

    func testByteFallbackIsExercised() throws {
        let (tok, cases) = try TokenizerFixtures.sentencePiece()
        let byteTokens = cases.flatMap(\.ids).filter { tok.tokenType($0) == .byte }
        XCTAssertGreaterThan(byteTokens.count, 10)
    }

    func testDecodeRoundTrip() throws {
        let (tok, cases) = try TokenizerFixtures.sentencePiece()
        for c in cases {
            XCTAssertEqual(tok.decode(c.ids), c.text, "text: \(c.text.debugDescription)")
            let withBOS = tok.encode(c.text, addSpecial: true, parseSpecial: false)
            XCTAssertEqual(withBOS.first, 1)
            XCTAssertEqual(tok.decode(withBOS, skipSpecial: true), c.text)
            var stream = StreamingDecoder(tokenizer: tok, skipSpecial: true)
            var streamed = ""
            for id in withBOS { streamed += stream.push(id) }
            XCTAssertEqual(streamed + stream.flush(), c.text)
        }
    }

    /// A continuation keeps the space of its first piece; a sequence start drops the
    /// space that encoding added.
    func testLeadingSpaceOnlyRemovedAtSequenceStart() throws {
        let (tok, _) = try TokenizerFixtures.sentencePiece()
        let ids = tok.encode("the world", addSpecial: false)
        XCTAssertEqual(tok.decode(ids), "the world")
        XCTAssertEqual(String(decoding: tok.decodeBytes(ids, fromSequenceStart: false), as: UTF8.self), " the world")
        var stream = StreamingDecoder(tokenizer: tok, fromSequenceStart: false)
        XCTAssertEqual(ids.map { stream.push($0) }.joined() + stream.flush(), " the world")
    }

    func testControlTokensInTextAndSpacePrefixAfterThem() throws {
        let (tok, _) = try TokenizerFixtures.sentencePiece()
        let ids = tok.encode("<s>the</s>", addSpecial: false, parseSpecial: true)
        // As llama.cpp: a space prefix starts each text run after a special token.
        XCTAssertEqual(ids, [1] + tok.encode("the", addSpecial: false) + [2])
        XCTAssertEqual(tok.decode(ids, skipSpecial: true), "the")
        XCTAssertEqual(tok.encode("", addSpecial: true), [1])
    }

    func testInvalidUTF8UsesByteFallback() throws {
        let (tok, _) = try TokenizerFixtures.sentencePiece()
        let bytes: [UInt8] = [0x61, 0xFF, 0xC3, 0x28, 0xE2, 0x82]
        let ids = tok.encode(bytes: bytes, addSpecial: false, parseSpecial: false)
        XCTAssertEqual(ids.flatMap { tok.tokenBytes($0) }, [0x20] + bytes)
        XCTAssertEqual(tok.decodeBytes(ids), bytes)
    }
}
