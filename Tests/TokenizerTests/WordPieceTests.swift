import Foundation
import GGUF
import Tokenizer
import XCTest

/// WordPiece (BERT uncased, as llama.cpp runs it) on nomic-embed-text-v1.5's vocabulary
/// (Fixtures/nomic_bert_vocab.txt) against llama.cpp's `llama-tokenize` ids for hard strings
/// (Fixtures/wordpiece_llama_cpp.jsonl; Tests/cli/make_wordpiece_fixture.py makes both).
final class WordPieceTests: XCTestCase {
    static let tokenizer: Result<Tokenizer, Error> = Result {
        let text = try String(contentsOf: TokenizerFixtures.url("nomic_bert_vocab.txt"), encoding: .utf8)
        var tokens = text.components(separatedBy: "\n")
        if tokens.last == "" { tokens.removeLast() }
        let special: Set<String> = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        let meta: [String: GGUFValue] = [
            "tokenizer.ggml.model": .string("bert"),
            "tokenizer.ggml.tokens": .array(tokens.map { .string($0) }),
            "tokenizer.ggml.token_type": .array(tokens.map { .int32(special.contains($0) ? 3 : 1) }),
            "tokenizer.ggml.bos_token_id": .uint32(101),
            "tokenizer.ggml.eos_token_id": .uint32(102),
            "tokenizer.ggml.unknown_token_id": .uint32(100),
            "tokenizer.ggml.seperator_token_id": .uint32(102),
            "tokenizer.ggml.padding_token_id": .uint32(0),
        ]
        return try Tokenizer(TokenizerVocabulary(metadata: meta))
    }

    func cases() throws -> [(text: String, ids: [Int32])] {
        let text = try String(contentsOf: TokenizerFixtures.url("wordpiece_llama_cpp.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            guard let t = obj?["text"] as? String, let ids = obj?["ids"] as? [Int] else {
                throw TokenizerFixtures.MissingFixture(description: "bad line in wordpiece_llama_cpp.jsonl: \(line)")
            }
            return (t, ids.map { Int32($0) })
        }
    }

    func testMatchesLlamaCpp() throws {
        let tok = try Self.tokenizer.get()
        XCTAssertEqual(tok.vocabularySize, 30522)
        let all = try cases()
        XCTAssertGreaterThanOrEqual(all.count, 30)
        for c in all {
            XCTAssertEqual(tok.encode(c.text), c.ids, "text: \(c.text.debugDescription)")
            XCTAssertEqual(tok.encode(bytes: Array(c.text.utf8)), c.ids)
        }
    }

    func testSpecialTokensAndOptions() throws {
        let tok = try Self.tokenizer.get()
        XCTAssertEqual(tok.encode("hello world", addSpecial: false), [7592, 2088])
        // [CLS] written in the text is the control token unless special parsing is off.
        XCTAssertEqual(tok.encode("[CLS]", addSpecial: false), [101])
        XCTAssertFalse(tok.encode("[CLS]", addSpecial: false, parseSpecial: false).contains(101))
        XCTAssertEqual(tok.decode(tok.encode("Hello, World"), skipSpecial: true), "hello , world")
    }

    func testInvalidUTF8IsDropped() throws {
        let tok = try Self.tokenizer.get()
        XCTAssertEqual(tok.encode(bytes: [0x68, 0x69, 0xFF, 0x20, 0xC3]), tok.encode("hi"))
    }

    /// The model file's own vocabulary gives the same ids (when it is pulled).
    func testRealModelVocabulary() throws {
        let dir = ProcessInfo.processInfo.environment["JETON_MODELS"] ?? (NSHomeDirectory() + "/.cache/jeton/models")
        let path = dir + "/nomic-embed-text-v1.5.f16.gguf"
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("nomic-embed-text-v1.5 is not downloaded: run `jeton pull nomic-embed-text-v1.5`")
        }
        let tok = try Tokenizer(TokenizerVocabulary(metadata: try GGUFFile(path: path).metadata))
        for c in try cases() { XCTAssertEqual(tok.encode(c.text), c.ids, "text: \(c.text.debugDescription)") }
    }
}
