import Foundation
import Tokenizer
import XCTest

/// Hand-written scanners against Python `regex` applying the same patterns
/// (Fixtures/pretokenizer_splits.json, made by scripts/make_tokenizer_fixtures.py).
final class PreTokenizerTests: XCTestCase {
    private func cases() throws -> [[String: Any]] {
        let obj = try TokenizerFixtures.json("pretokenizer_splits.json") as? [String: Any]
        return try XCTUnwrap(obj?["cases"] as? [[String: Any]])
    }

    private func check(_ kind: PreTokenizer.Kind, key: String) throws {
        let pre = PreTokenizer(kind: kind)
        let all = try cases()
        XCTAssertGreaterThanOrEqual(all.count, 30)
        for c in all {
            let text = try XCTUnwrap(c["text"] as? String)
            let expected = try XCTUnwrap(c[key] as? [String])
            XCTAssertEqual(pre.split(text), expected, "\(key): \(text.debugDescription)")
        }
    }

    func testGPT2Pattern() throws { try check(.gpt2, key: "gpt2") }
    func testLlama3Pattern() throws { try check(.llama3, key: "llama3") }
    func testQwen2Pattern() throws { try check(.qwen2, key: "qwen2") }
    func testSmolLMPattern() throws { try check(.smollm, key: "smollm") }

    func testNamesMapToKinds() {
        XCTAssertEqual(PreTokenizer(name: "smollm").kind, .smollm)
        XCTAssertEqual(PreTokenizer(name: "llama-bpe").kind, .llama3)
        XCTAssertEqual(PreTokenizer(name: "qwen2").kind, .qwen2)
        XCTAssertEqual(PreTokenizer(name: "gpt2").kind, .gpt2)
        XCTAssertEqual(PreTokenizer(name: "something-new").kind, .gpt2)
    }

    /// Every byte, valid or not, lands in exactly one piece, in order.
    func testSplitCoversInvalidUTF8() {
        let bytes: [UInt8] = [0x61, 0xFF, 0x20, 0xE2, 0x82, 0x62, 0xC3, 0x20, 0x31, 0x32, 0x80, 0xF0, 0x9F, 0x9A]
        for kind in PreTokenizer.Kind.allCases {
            let ranges = PreTokenizer(kind: kind).split(bytes: bytes)
            var next = 0
            for r in ranges {
                XCTAssertEqual(r.lowerBound, next, "\(kind)")
                XCTAssertFalse(r.isEmpty, "\(kind)")
                next = r.upperBound
            }
            XCTAssertEqual(next, bytes.count, "\(kind)")
        }
    }
}

/// Chunked scanning of long texts gives the splits of scanning them whole.
final class PreTokenizerChunkingTests: XCTestCase {
    func testChunkingDoesNotChangeSplits() throws {
        var rng = SeededGenerator(seed: 5)
        let pieces = try TokenizerFixtures.referenceCases().map(\.text)
            + ["a", " b", "  c", "\n", "!! x", "x ", "'s t", "12 ab", "\u{00A0}q", "é z", "\r\n y"]
        var text = ""
        for _ in 0..<400 { text += pieces[Int.random(in: 0..<pieces.count, using: &rng)] }
        let bytes = Array(text.utf8)
        for kind in PreTokenizer.Kind.allCases {
            var whole = PreTokenizer(kind: kind)
            whole.chunkSize = Int.max
            let expected = whole.split(bytes: bytes)
            for size in [1, 2, 7, 64, 1000] {
                var chunked = PreTokenizer(kind: kind)
                chunked.chunkSize = size
                XCTAssertEqual(chunked.split(bytes: bytes), expected, "\(kind) chunk \(size)")
            }
        }
    }
}
