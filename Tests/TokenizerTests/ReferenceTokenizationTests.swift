import Tokenizer
import XCTest

/// The default model's tokenizer against llama.cpp / HF `tokenizers` ids
/// (shared/reference/tokenize.jsonl).
final class ReferenceTokenizationTests: XCTestCase {
    func testVocabularyFromGGUF() throws {
        let tok = try TokenizerFixtures.smolLM()
        XCTAssertEqual(tok.vocabularySize, 49152)
        XCTAssertEqual(tok.model, "gpt2")
        XCTAssertEqual(tok.preTokenizer?.kind, .smollm)
        XCTAssertEqual(tok.bosID, 1)
        XCTAssertEqual(tok.eosID, 2)
        XCTAssertFalse(tok.addBOS)
        XCTAssertEqual(tok.tokenText(1), "<|im_start|>")
        XCTAssertTrue(tok.isControl(1))
        XCTAssertFalse(tok.isControl(19556))
        // <|im_end|> is EOS; <|endoftext|> is found by its text.
        XCTAssertEqual(tok.endOfGenerationIDs, [0, 2])
    }

    func testEncodeMatchesReference() throws {
        let tok = try TokenizerFixtures.smolLM()
        let cases = try TokenizerFixtures.referenceCases()
        XCTAssertGreaterThanOrEqual(cases.count, 20)
        for c in cases {
            XCTAssertEqual(tok.encode(c.text), c.ids, "text: \(c.text.debugDescription)")
            XCTAssertEqual(tok.encode(bytes: Array(c.text.utf8), addSpecial: true, parseSpecial: true), c.ids)
        }
    }

    func testDecodeRoundTripsReferenceStrings() throws {
        let tok = try TokenizerFixtures.smolLM()
        for c in try TokenizerFixtures.referenceCases() {
            XCTAssertEqual(tok.decode(c.ids), c.text)
            XCTAssertEqual(tok.decode(tok.encode(c.text)), c.text)
            var stream = StreamingDecoder(tokenizer: tok)
            var streamed = ""
            for id in c.ids { streamed += stream.push(id) }
            streamed += stream.flush()
            XCTAssertEqual(streamed, c.text)
        }
    }

    func testParseSpecialOffSplitsControlTokenText() throws {
        let tok = try TokenizerFixtures.smolLM()
        let text = "<|im_start|>user"
        XCTAssertEqual(tok.encode(text).first, 1)
        let plain = tok.encode(text, parseSpecial: false)
        XCTAssertFalse(plain.contains(1))
        XCTAssertGreaterThan(plain.count, 2)
        XCTAssertEqual(tok.decode(plain), text)
    }

    func testSkipSpecialDropsControlTokens() throws {
        let tok = try TokenizerFixtures.smolLM()
        let ids = tok.encode("<|im_start|>assistant\nHi<|im_end|>")
        XCTAssertEqual(tok.decode(ids, skipSpecial: true), "assistant\nHi")
        XCTAssertEqual(tok.decode(ids), "<|im_start|>assistant\nHi<|im_end|>")
    }

    func testSpecialTokensSharingAPrefix() throws {
        let tok = try TokenizerFixtures.smolLM()
        // "<repo_name>" (3) and "<reponame>" (4) share "<repo".
        XCTAssertEqual(tok.encode("<repo_name>x<reponame><reponame"), [3] + tok.encode("x") + [4] + tok.encode("<reponame"))
    }

    func testEncodeIsThreadSafe() throws {
        let tok = try TokenizerFixtures.smolLM()
        let cases = try TokenizerFixtures.referenceCases()
        let failures = Failures()
        DispatchQueue.concurrentPerform(iterations: 8) { k in
            for _ in 0..<20 {
                for c in cases where tok.encode(c.text) != c.ids { failures.add("\(k): \(c.text)") }
            }
        }
        XCTAssertEqual(failures.all, [])
    }
}

/// Collects failures from concurrent work.
final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func add(_ s: String) { lock.lock(); items.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return items }
}
