import XCTest
@testable import API

/// The Messages API's pieces that need no model: content blocks said as chat messages (and chat's
/// field names said back as the Messages ones), content blocks with their stream events, and
/// Anthropic's error envelope.
final class MessagesTests: XCTestCase {
    func conversation(_ messages: [JSON], system: JSON? = nil) throws -> MessagesConversation {
        var c = MessagesConversation()
        if let system { try c.readSystem(system) }
        for (i, m) in messages.enumerated() { try c.read(m, at: i) }
        return c
    }

    func testToolUseBlocksAreCallsAndToolResultsToolMessagesInOrder() throws {
        let c = try conversation([
            ["role": "user", "content": "Weather?"],
            ["role": "assistant", "content": [["type": "thinking", "thinking": "hm", "signature": "s"],
                                              ["type": "text", "text": "Checking."],
                                              ["type": "tool_use", "id": "a", "name": "w", "input": ["city": "Paris"]],
                                              ["type": "tool_use", "id": "b", "name": "w", "input": [:]]]],
            ["role": "user", "content": [["type": "tool_result", "tool_use_id": "a", "content": "sun"],
                                         ["type": "tool_result", "tool_use_id": "b", "content": [["type": "text", "text": "rain"]], "is_error": true],
                                         ["type": "text", "text": "Thanks."]]],
        ], system: [["type": "text", "text": "Be brief.", "cache_control": ["type": "ephemeral"]]])
        XCTAssertEqual(c.messages.map { $0["role"] }, ["system", "user", "assistant", "tool", "tool", "user"])
        XCTAssertEqual(c.messages[2]["content"], [["type": "text", "text": "Checking."]])
        guard case let .array(calls)? = c.messages[2]["tool_calls"] else { return XCTFail("no calls") }
        XCTAssertEqual(calls.map { $0["id"] }, ["a", "b"])
        XCTAssertEqual(calls[0]["function"]?["arguments"], "{\"city\":\"Paris\"}")
        XCTAssertEqual(c.messages[3]["tool_call_id"], "a")
        XCTAssertEqual(c.messages[4]["content"], [["type": "text", "text": "rain"]])
        XCTAssertEqual(c.messages[5]["content"], [["type": "text", "text": "Thanks."]])
        // Chat's field names, said as the request wrote them.
        let names = [("messages[2].tool_calls[1].id", "messages[1].content[3].id"),
                     ("messages[2].tool_calls[0].function.arguments", "messages[1].content[2].input"),
                     ("messages[2].tool_calls[0].function.name", "messages[1].content[2].name"),
                     ("messages[2].content[0]", "messages[1].content[1]"), ("messages[3].tool_call_id", "messages[2].content[0].tool_use_id"),
                     ("messages[4].content[0]", "messages[2].content[1].content[0]"), ("messages[5].content[0].text", "messages[2].content[2].text"),
                     ("messages[0].content[0]", "system[0]"), ("max_completion_tokens", "max_tokens"), ("stop[2]", "stop_sequences[2]"),
                     ("response_format.json_schema.schema", "output_format.schema"), ("tools[3].function.parameters", "tools[3].input_schema"),
                     ("tool_choice.function.name", "tool_choice.name"), ("temperature", "temperature")]
        for (chat, messages) in names { XCTAssertEqual(c.rename(chat), messages, chat) }
        let e = c.renamed(.invalid("`messages[3].tool_call_id` answers nothing.", param: "messages[3].tool_call_id"))
        XCTAssertEqual(e.param, "messages[2].content[0].tool_use_id")
        XCTAssertEqual(e.message, "`messages[2].content[0].tool_use_id` answers nothing.")
    }

    func testADocumentIsItsTitleAndText() throws {
        let c = try conversation([["role": "user", "content": [["type": "document", "title": "T",
                                                                "source": ["type": "text", "media_type": "text/plain", "data": "Body."]]]]])
        XCTAssertEqual(c.messages[0]["content"], [["type": "text", "text": "T\n\nBody."]])
    }

    func testBadBlocksNameTheirField() {
        let cases: [(JSON, String)] = [
            (["role": "tool", "content": "x"], "messages[0].role"),
            (["role": "user", "content": [["type": "image", "source": [:]]]], "messages[0].content[0].type"),
            (["role": "user", "content": [["type": "text", "text": "x", "zz": 1]]], "messages[0].content[0].zz"),
            (["role": "user", "content": [["type": "tool_use", "id": "a", "name": "w", "input": [:]]]], "messages[0].content[0].type"),
            (["role": "assistant", "content": [["type": "tool_use", "id": "a", "name": "w", "input": "x"]]], "messages[0].content[0].input"),
            (["role": "assistant", "content": [["type": "tool_result", "tool_use_id": "a"]]], "messages[0].content[0].type"),
            (["role": "user", "content": [["type": "tool_result", "tool_use_id": "a", "content": 5]]], "messages[0].content[0].content"),
            (["role": "user", "content": []], "messages[0].content"),
            ("text", "messages[0]"),
        ]
        for (message, param) in cases {
            XCTAssertThrowsError(try conversation([message]), param) { XCTAssertEqual(($0 as? APIError)?.param, param) }
        }
    }

    func types(_ events: [JSON]) -> [String] { events.compactMap { if case let .string(s)? = $0["type"] { return s }; return nil } }

    func testTextThenACallThenTextMakeThreeBlocksWhoseEventsAddUp() {
        let out = MessagesOutput(format: .hermes, toolNames: ["w"])
        var events: [JSON] = []
        for piece in ["Let me check. <tool_", "call>\n{\"name\": \"w\", \"argu", "ments\": {\"c\": 1}}\n</tool_call>", " Done."] {
            events += out.push(piece, finished: false)
        }
        events += out.push("", finished: true)
        XCTAssertTrue(out.calledTools)
        let content = out.content
        XCTAssertEqual(content.map { $0["type"] }, ["text", "tool_use", "text"])
        XCTAssertEqual(content[1]["input"], ["c": 1])
        XCTAssertEqual(content[1]["name"], "w")
        XCTAssertEqual(types(events).filter { $0 == "content_block_start" }.count, 3)
        XCTAssertEqual(types(events).filter { $0 == "content_block_stop" }.count, 3)
        // The deltas of each block add up to it.
        for (k, block) in content.enumerated() {
            let deltas = events.filter { $0["type"] == "content_block_delta" && $0["index"] == JSON(k) }
            let joined = deltas.compactMap { d -> String? in
                if case let .string(s)? = d["delta"]?["text"] ?? d["delta"]?["partial_json"] { return s }
                return nil
            }.joined()
            if block["type"] == "text" { XCTAssertEqual(.string(joined), block["text"]) } else { XCTAssertEqual(JSON.parse(Array(joined.utf8)), block["input"]) }
        }
    }

    func testACallCutShortKeepsWhatItsJSONHoldsAsTheStreamGivesIt() {
        let out = MessagesOutput(format: .hermes, toolNames: ["w"])
        _ = out.push("<tool_call>\n{\"name\": \"w\", \"arguments\": {\"c\": 1, \"d\": \"Par", finished: false)
        _ = out.push("", finished: true)
        XCTAssertFalse(out.calledTools)
        XCTAssertEqual(out.content, [["type": "tool_use", "id": out.content.first?["id"] ?? .null, "name": "w", "input": ["c": 1]]])
    }

    /// What the anthropic SDK's stream reader (jiter 0.x, `from_json(partial_mode=True)`) gave for
    /// each start of a JSON text, on 2026-12-07.
    func testPartialJSONReadsAsTheSDKReadsAStreamedInput() {
        let cases: [(String, JSON?)] = [
            ("", nil), ("{", [:]), ("{\"", [:]), ("{\"ci", [:]), ("{\"city\"", [:]), ("{\"city\":", [:]),
            ("{\"city\": \"Par", [:]), ("{\"city\": \"Paris\"", ["city": "Paris"]), ("{\"city\": \"Paris\",", ["city": "Paris"]),
            ("{\"n\": 12", ["n": 12]), ("{\"n\": 1.", [:]), ("{\"n\": -", [:]), ("{\"a\": [1, 2", ["a": [1, 2]]),
            ("{\"a\": [1, {\"b\": tr", ["a": [1, [:]]]), ("{\"a\": [\"x\", \"y", ["a": ["x"]]), ("{\"a\": {\"b\": [", ["a": ["b": []]]),
            ("{\"t\": tru", [:]), ("{\"t\": true", ["t": true]), ("{\"t\": nul", [:]), ("{\"s\": \"a\\", [:]),
            ("{\"a\": [{\"b\": 1}, {\"c", ["a": [["b": 1], [:]]]), ("{\"x\": 1} ", ["x": 1]), ("{\"a\": 1e", [:]), ("{\"a\": \"\\u00", [:]),
        ]
        for (text, want) in cases { XCTAssertEqual(PartialJSON.parse(text), want, text) }
        // jiter's depth limit: 200 levels read, more not (nor a stack overflow at 100,000).
        XCTAssertNotNil(PartialJSON.parse(String(repeating: "[", count: 200)))
        XCTAssertNil(PartialJSON.parse(String(repeating: "[", count: 201)))
        XCTAssertNil(PartialJSON.parse(String(repeating: "{\"a\": ", count: 100_000)))
    }

    func testClaudeCodesBillingHeaderIsLeftOutOfTheSystemPrompt() throws {
        let blocks = try conversation([["role": "user", "content": "Hi"]], system: [
            ["type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.37; cch=fa690;"], ["type": "text", "text": "Be brief."]])
        XCTAssertEqual(blocks.messages[0]["content"], [["type": "text", "text": "Be brief."]])
        XCTAssertEqual(blocks.rename("messages[0].content[0]"), "system[1]")
        let plain = try conversation([["role": "user", "content": "Hi"]], system: "x-anthropic-billing-header: cch=1;\nBe brief.")
        XCTAssertEqual(plain.messages[0]["content"], "Be brief.")
        let only = try conversation([["role": "user", "content": "Hi"]], system: [["type": "text", "text": "x-anthropic-billing-header: cch=2;"]])
        XCTAssertEqual(only.messages.map { $0["role"] }, ["user"])
    }

    func testToolUseClearingKeepsTheLastUsesAndTheExcludedTools() throws {
        // Two assistant turns: calls a (read), b (ls) in the first, c (read) in the second, each answered.
        let c = try conversation([
            ["role": "user", "content": "Go."],
            ["role": "assistant", "content": [["type": "tool_use", "id": "a", "name": "read", "input": ["p": "1"]],
                                              ["type": "tool_use", "id": "b", "name": "ls", "input": ["p": "2"]]]],
            ["role": "user", "content": [["type": "tool_result", "tool_use_id": "a", "content": "one"],
                                         ["type": "tool_result", "tool_use_id": "b", "content": "two"]]],
            ["role": "assistant", "content": [["type": "tool_use", "id": "c", "name": "read", "input": ["p": "3"]]]],
            ["role": "user", "content": [["type": "tool_result", "tool_use_id": "c", "content": "three"]]],
        ])
        func edit(_ body: JSON) throws -> ToolUseClearing {
            try ToolUseClearing(try FieldReader(body, parent: "e"), at: "e")
        }
        XCTAssertEqual(ToolUseClearing.toolUses(c.messages).map(\.id), ["a", "b", "c"])
        let results = { (m: [JSON]) in m.filter { $0["role"] == "tool" }.map { $0["content"] } }
        // Keep 1: a and b cleared; inputs of `read` only.
        var e = try edit(["keep": ["type": "tool_uses", "value": 1], "clear_tool_inputs": ["read"]])
        guard let (m1, n1) = e.apply(to: c.messages) else { return XCTFail("nothing cleared") }
        XCTAssertEqual(n1, 2)
        XCTAssertEqual(results(m1), [.string(ToolUseClearing.placeholder), .string(ToolUseClearing.placeholder), "three"])
        guard case let .array(calls)? = m1[1]["tool_calls"] else { return XCTFail("no calls") }
        XCTAssertEqual(calls.map { $0["function"]?["arguments"] }, ["{}", "{\"p\":\"2\"}"])
        // `ls` excluded, keep 0: a and c.
        e = try edit(["keep": ["type": "tool_uses", "value": 0], "exclude_tools": ["ls"]])
        XCTAssertEqual(e.apply(to: c.messages).map { results($0.messages) },
                       [.string(ToolUseClearing.placeholder), "two", .string(ToolUseClearing.placeholder)])
        // Keeping more uses than there are, or excluding every tool, clears nothing.
        XCTAssertNil(try edit([:]).apply(to: c.messages))
        XCTAssertNil(try edit(["keep": ["type": "tool_uses", "value": 0], "exclude_tools": ["read", "ls"]]).apply(to: c.messages))
        // Triggers: more tokens than the value (default 100,000), or more tool uses.
        XCTAssertFalse(try edit([:]).triggered(promptTokens: 100_000, toolUses: 50))
        XCTAssertTrue(try edit([:]).triggered(promptTokens: 100_001, toolUses: 0))
        let byUses = try edit(["trigger": ["type": "tool_uses", "value": 2]])
        XCTAssertTrue(byUses.triggered(promptTokens: 1, toolUses: 3))
        XCTAssertFalse(byUses.triggered(promptTokens: 1_000_000, toolUses: 2))
    }

    func testErrorsOnAnthropicRoutesUseItsEnvelope() {
        let e = APIError.invalid("`max_tokens` is required.", param: "max_tokens")
        XCTAssertEqual(e.anthropicJSON, ["type": "error", "error": ["type": "invalid_request_error", "message": "`max_tokens` is required."]])
        XCTAssertEqual(APIError.modelNotFound("x").anthropicType, "not_found_error")
        XCTAssertEqual(APIError.queueFull("full").anthropicType, "rate_limit_error")
        XCTAssertEqual(APIError.serverEnded.anthropicType, "overloaded_error")
        XCTAssertEqual(APIError.internal("x").anthropicType, "api_error")
        let r = APIError.queueFull("full").response(anthropic: true)
        XCTAssertEqual(r.status.code, 429)
        XCTAssertEqual(r.headers["Retry-After"], "1")
        XCTAssertEqual(JSON.parse(r.body)?["type"], "error")
        XCTAssertEqual(JSON.parse(APIError.queueFull("full").response(anthropic: false).body)?["error"]?["code"], "queue_full")
    }
}
