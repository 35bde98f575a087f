import XCTest
@testable import API
@testable import Grammar

/// The lazy grammar of Hermes calls under `tool_choice: "auto"`, fed one byte per token: each
/// form the parser takes as a call is held to the tool's schema once its `"arguments"` (or
/// `"parameters"`) key shows.
final class ToolGrammarTests: XCTestCase {
    static let trie = TokenTrie(tokens: (0..<256).map { [UInt8($0)] })
    let schema = #"{"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Lima"]}}, "required": ["city"], "additionalProperties": false}"#

    func grammar() throws -> TokenGrammar {
        try ToolGrammarCache().grammar(format: .hermes, calls: [("get_weather", schema, try GrammarSpec.jsonSchema(schema).compile())],
                                       parallel: false, lazy: true, limits: GrammarLimits(), trie: Self.trie)
    }

    /// Feeds `text` byte by byte: how many bytes were taken before one was refused, and whether
    /// the grammar was holding by then.
    func feed(_ text: String) throws -> (taken: Int, held: Bool) {
        var m = try grammar().matcher(lazy: LazyGrammar(triggers: ToolCallFormat.hermes.lazyTriggers, rearm: false))
        var taken = 0
        for b in text.utf8 {
            guard m.accept(token: Int32(b)) else { break }
            taken += 1
        }
        return (taken, m.isConstraining)
    }

    func testEveryCallFormIsHeldToTheSchema() throws {
        let forms = [("<tool_call>\n{", "}\n</tool_call>"), ("<tool_call>{", "}</tool_call>"), ("```json\n{", "}\n```"),
                     ("{", "}"), ("{{", "}}"), ("{ {", "} }")]
        // `"parameters"`, which the parser takes as the arguments too, is held to the schema alike.
        for (open, close) in forms {
            for key in ["arguments", "parameters"] {
                let good = open + #""name": "get_weather", ""# + key + #"": {"city": "Paris"}"# + close
                let r = try feed(good)
                XCTAssertEqual(r.taken, good.utf8.count, "refused inside \(good)")
                XCTAssertTrue(r.held, good)
                // A city outside the enum is refused at its first byte once the grammar holds.
                let bad = open + #""name": "get_weather", ""# + key + #"": {"city": "Oslo"}"# + close
                XCTAssertEqual(try feed(bad).taken, bad.utf8.count - #"Oslo"}"#.utf8.count - close.utf8.count, bad)
            }
        }
        // Another key is not a call's: the object stays free text, never held.
        let other = #"{"name": "get_weather", "args": {"city": "Oslo"}}"#
        let r = try feed(other)
        XCTAssertEqual(r.taken, other.utf8.count, other)
        XCTAssertFalse(r.held, other)
    }
}
