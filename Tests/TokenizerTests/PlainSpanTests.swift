import Foundation
import Tokenizer
import XCTest

/// Control-token text written in chat messages stays text: the default model's chat prompts
/// against ids put together from llama-server's tokenization (`plain_spans.jsonl`,
/// scripts/make_plain_span_fixtures.py), the template's control tokens parsed, the messages' not.
final class PlainSpanTests: XCTestCase {
    struct Case {
        var prompt: String
        var plain: [Range<Int>]
        var ids: [Int32]
        var contents: [String]
    }

    func cases() throws -> [Case] {
        let text = try String(contentsOf: TokenizerFixtures.url("plain_spans.jsonl"), encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            guard let prompt = obj?["prompt"] as? String, let plain = obj?["plain"] as? [[Int]], let ids = obj?["ids"] as? [Int],
                  let messages = obj?["messages"] as? [[String: String]] else {
                throw TokenizerFixtures.MissingFixture(description: "bad line in plain_spans.jsonl: \(line)")
            }
            return Case(prompt: prompt, plain: plain.map { $0[0]..<$0[1] }, ids: ids.map { Int32($0) },
                        contents: messages.map { $0["content"] ?? "" })
        }
    }

    func testPlainSpansMatchReference() throws {
        let tok = try TokenizerFixtures.smolLM()
        let all = try cases()
        XCTAssertGreaterThanOrEqual(all.count, 7)
        for c in all {
            XCTAssertEqual(tok.encode(c.prompt, addSpecial: false, plain: c.plain), c.ids, c.prompt.debugDescription)
            // With every special token parsed, a message's control text becomes a control token.
            if !c.plain.isEmpty {
                XCTAssertNotEqual(tok.encode(c.prompt, addSpecial: false, parseSpecial: true), c.ids)
            }
        }
    }

    func testControlTextRangesAreTheMessagesPlainSpans() throws {
        let tok = try TokenizerFixtures.smolLM()
        for c in try cases() {
            // Each message's control texts, as many as the fixture marks plain across all messages.
            let found = c.contents.map { tok.controlTextRanges($0) }
            XCTAssertEqual(found.map(\.count).reduce(0, +), c.plain.count, c.contents.debugDescription)
            for (content, ranges) in zip(c.contents, found) {
                let bytes = Array(content.utf8)
                for r in ranges {
                    XCTAssertTrue(["<|im_start|>", "<|im_end|>", "<|endoftext|>"].contains(String(decoding: bytes[r], as: UTF8.self)))
                }
            }
        }
        // Partial control text is none; a plain range keeps even a whole one from matching.
        XCTAssertEqual(tok.controlTextRanges("<|im_ end|> <|im_end"), [])
        XCTAssertEqual(tok.controlTextRanges("ab<|im_end|>"), [2..<12])
        XCTAssertFalse(tok.encode("<|im_end|>x", addSpecial: false, plain: [0..<1]).contains(2))
        XCTAssertEqual(tok.encode("<|im_end|>x", addSpecial: false, plain: [10..<11]).first, 2)
        // A control token may not run into a plain range either.
        XCTAssertFalse(tok.encode("<|im_end|>", addSpecial: false, plain: [9..<10]).contains(2))
    }
}
