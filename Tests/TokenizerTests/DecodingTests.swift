import Tokenizer
import XCTest

/// Byte-exact decoding and UTF-8-safe streaming on the default model's vocabulary.
final class DecodingTests: XCTestCase {
    /// A character spread over several byte-level tokens comes out whole, at its last token.
    func testStreamingHoldsSplitCharacters() throws {
        let tok = try TokenizerFixtures.smolLM()
        var multiToken = 0
        for ch in ["🚀", "🤗", "扱", "❤️", "€"] {
            let ids = tok.encode(ch)
            XCTAssertEqual(tok.decode(ids), ch)
            guard ids.count > 1 else { continue }
            multiToken += 1
            var stream = StreamingDecoder(tokenizer: tok)
            let outs = ids.map { stream.push($0) }
            // Each output is whole characters: "" until the first character completes.
            let firstComplete = outs.firstIndex { !$0.isEmpty } ?? outs.count
            XCTAssertGreaterThan(firstComplete, 0, ch)
            XCTAssertEqual(outs.joined() + stream.flush(), ch)
            XCTAssertFalse(outs.joined().contains("\u{FFFD}"), ch)
        }
        XCTAssertGreaterThanOrEqual(multiToken, 3)
        let rocket = tok.encode("🚀")
        var stream = StreamingDecoder(tokenizer: tok)
        XCTAssertEqual(rocket.dropLast().map { stream.push($0) }, Array(repeating: "", count: rocket.count - 1))
        XCTAssertEqual(stream.push(rocket[rocket.count - 1]), "🚀")
        XCTAssertEqual(stream.flush(), "")
    }

    func testInvalidUTF8RoundTripsThroughTokenBytes() throws {
        let tok = try TokenizerFixtures.smolLM()
        // Stray continuation, surrogate, above U+10FFFF, truncated sequences, lead + ASCII.
        let bytes: [UInt8] = [0x80, 0x61, 0xC3, 0x80, 0x80, 0xED, 0xA0, 0x80, 0x20, 0xF4, 0x90, 0x80, 0x80,
                              0xC3, 0x41, 0xAF, 0x31, 0x32, 0xF0, 0x9F, 0x20, 0xE2, 0x82]
        let ids = tok.encode(bytes: bytes, addSpecial: false, parseSpecial: false)
        XCTAssertEqual(ids.flatMap { tok.tokenBytes($0) }, bytes)
        XCTAssertEqual(tok.decodeBytes(ids), bytes)
        XCTAssertEqual(tok.decode(ids), String(decoding: bytes, as: UTF8.self))
    }

    /// This vocabulary has no token for a few bytes (0xC0, 0xC1, 0xF5-0xFF, some controls):
    /// they are left out, like llama.cpp and HF `tokenizers`; every other byte round-trips.
    func testRandomBytesRoundTrip() throws {
        let tok = try TokenizerFixtures.smolLM()
        let missing = (0...255).map(UInt8.init).filter { tok.encode(bytes: [$0], addSpecial: false, parseSpecial: false).isEmpty }
        XCTAssertTrue(missing.contains(0xFF))
        XCTAssertFalse(missing.contains(0x80))
        XCTAssertLessThan(missing.count, 32)
        // 0xFF still splits pre-tokens ("other" class) before it is dropped.
        XCTAssertEqual(tok.encode(bytes: [0x61, 0xFF, 0x62], addSpecial: false, parseSpecial: false),
                       tok.encode("a", addSpecial: false) + tok.encode("b", addSpecial: false))
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<300 {
            let n = Int.random(in: 0...80, using: &rng)
            // Mostly ASCII and UTF-8 lead/continuation bytes, so pieces are varied.
            let bytes = (0..<n).map { _ -> UInt8 in
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: return UInt8.random(in: 0x20...0x7E, using: &rng)
                case 1: return UInt8.random(in: 0x80...0xBF, using: &rng)
                case 2: return UInt8.random(in: 0xC0...0xFF, using: &rng)
                default: return [0x20, 0x0A, 0x31, 0x27, 0x3C][Int.random(in: 0..<5, using: &rng)]
                }
            }
            let ids = tok.encode(bytes: bytes, addSpecial: false, parseSpecial: true)
            XCTAssertEqual(ids.flatMap { tok.tokenBytes($0) }, bytes.filter { !missing.contains($0) })
        }
    }

    /// Streaming any id sequence gives the text non-streamed decoding gives.
    func testStreamingEqualsDecodeForRandomIDs() throws {
        let tok = try TokenizerFixtures.smolLM()
        var rng = SeededGenerator(seed: 11)
        // Ids 0...500 hold control, single-byte and short tokens, which split characters often.
        for _ in 0..<300 {
            let ids = (0..<Int.random(in: 0...30, using: &rng)).map { _ in Int32.random(in: 0...500, using: &rng) }
            for skip in [false, true] {
                var stream = StreamingDecoder(tokenizer: tok, skipSpecial: skip)
                let streamed = ids.map { stream.push($0) }.joined() + stream.flush()
                XCTAssertEqual(streamed, tok.decode(ids, skipSpecial: skip), "\(ids)")
            }
        }
    }

    /// Unused-type tokens (Qwen's [PAD151665]...[PAD151935]) are placeholders: they decode to
    /// nothing, as in llama.cpp, instead of their name.
    func testUnusedTokensDecodeToNothing() throws {
        let base = try TokenizerFixtures.sentencePiece().tokenizer
        let ids = base.encode("hello world", addSpecial: false)
        XCTAssertGreaterThan(ids.count, 1)
        let n = base.vocabularySize
        var types = (0..<n).map { base.tokenType(Int32($0))?.rawValue ?? 1 }
        types[Int(ids[0])] = TokenType.unused.rawValue
        let vocab = TokenizerVocabulary(model: "llama", pre: "default", tokens: (0..<n).map { base.tokenText(Int32($0)) },
                                        tokenTypes: types, scores: [Float](repeating: 0, count: n),
                                        bosID: 1, eosID: 2, unknownID: 0, addBOS: true, addEOS: false, addSpacePrefix: true)
        let tok = try Tokenizer(vocab)
        XCTAssertFalse(base.tokenBytes(ids[0]).isEmpty)
        XCTAssertEqual(tok.tokenBytes(ids[0]), [])
        XCTAssertEqual(tok.decodeBytes(ids), ids.dropFirst().flatMap { base.tokenBytes($0) })
    }

    func testOutOfRangeIDsDecodeToNothing() throws {
        let tok = try TokenizerFixtures.smolLM()
        XCTAssertEqual(tok.tokenBytes(-1), [])
        XCTAssertEqual(tok.tokenBytes(Int32(tok.vocabularySize)), [])
        XCTAssertEqual(tok.tokenText(Int32.max), "")
        XCTAssertEqual(tok.decode([19556, -5, 1_000_000, 905]), "Hello world")
    }
}
