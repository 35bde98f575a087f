import Foundation
import GGUF
import Tokenizer
import XCTest

/// WordPiece (BERT uncased) on nomic-embed-text-v1.5's vocabulary (Fixtures/nomic_bert_vocab.txt)
/// against two reference engines on hard strings: Hugging Face's BERT tokenizer, the model's own
/// (Fixtures/wordpiece_hf.jsonl, Tests/cli/make_wordpiece_hf_fixture.py), on every string, and
/// llama.cpp's `llama-tokenize` (Fixtures/wordpiece_llama_cpp.jsonl, Tests/cli/make_wordpiece_fixture.py)
/// wherever it agrees with Hugging Face.
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

    func cases(_ file: String = "wordpiece_hf.jsonl") throws -> [(text: String, ids: [Int32])] {
        let text = try String(contentsOf: TokenizerFixtures.url(file), encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            guard let t = obj?["text"] as? String, let ids = obj?["ids"] as? [Int] else {
                throw TokenizerFixtures.MissingFixture(description: "bad line in \(file): \(line)")
            }
            return (t, ids.map { Int32($0) })
        }
    }

    func testMatchesHuggingFace() throws {
        let tok = try Self.tokenizer.get()
        XCTAssertEqual(tok.vocabularySize, 30522)
        let all = try cases()
        XCTAssertGreaterThanOrEqual(all.count, 40)
        for c in all {
            XCTAssertEqual(tok.encode(c.text), c.ids, "text: \(c.text.debugDescription)")
            XCTAssertEqual(tok.encode(bytes: Array(c.text.utf8)), c.ids)
        }
        // Korean syllables that share their first jamo stay apart (llama.cpp gives them one id list).
        XCTAssertEqual(Set(["한국", "호감", "학교"].map { tok.encode($0) }).count, 3)
    }

    /// Where llama.cpp and Hugging Face agree (all but Korean, Indic vowel signs and words over
    /// 100 characters), Jeton gives llama.cpp's ids too.
    func testMatchesLlamaCppWhereItAgreesWithHuggingFace() throws {
        let tok = try Self.tokenizer.get()
        let hf = Dictionary(try cases().map { ($0.text, $0.ids) }, uniquingKeysWith: { a, _ in a })
        var agreeing = 0, differing: [String] = []
        for c in try cases("wordpiece_llama_cpp.jsonl") {
            guard hf[c.text] == c.ids else { differing.append(c.text); continue }
            agreeing += 1
            XCTAssertEqual(tok.encode(c.text), c.ids, "text: \(c.text.debugDescription)")
        }
        XCTAssertGreaterThanOrEqual(agreeing, 30)
        XCTAssertEqual(differing.count, 5, "\(differing)")
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
