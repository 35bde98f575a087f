import XCTest
@testable import API

/// The Responses API's pieces that need no model: input items said as chat messages (and chat's
/// field names said back as the Responses ones), and output items with their stream events.
final class ResponsesTests: XCTestCase {
    func conversation(_ items: [JSON]) throws -> ResponsesConversation {
        var c = ResponsesConversation()
        c.add(["role": "system", "content": "Be brief."], from: "instructions")
        for (i, item) in items.enumerated() { try c.read(item, at: i) }
        return c
    }

    func testCallsJoinTheAssistantTurnBeforeThemAndOutputsBecomeToolMessages() throws {
        let c = try conversation([
            ["role": "user", "content": "Weather?"],
            ["type": "message", "role": "assistant", "content": [["type": "output_text", "text": "Checking.", "annotations": []]]],
            ["type": "function_call", "call_id": "a", "name": "w", "arguments": "{}"],
            ["type": "function_call", "call_id": "b", "name": "w", "arguments": "{\"x\":1}"],
            ["type": "function_call_output", "call_id": "a", "output": "sun"],
            ["type": "function_call_output", "call_id": "b", "output": [["type": "input_text", "text": "rain"]]],
        ])
        XCTAssertEqual(c.messages.count, 5)
        XCTAssertEqual(c.messages[2]["role"], "assistant")
        guard case let .array(calls)? = c.messages[2]["tool_calls"] else { return XCTFail("no calls joined") }
        XCTAssertEqual(calls.map { $0["id"] }, ["a", "b"])
        XCTAssertEqual(c.messages[2]["content"], [["type": "text", "text": "Checking."]])
        XCTAssertEqual(c.messages[3]["tool_call_id"], "a")
        XCTAssertEqual(c.messages[4]["content"], [["type": "text", "text": "rain"]])
        // Chat's field names, said as the request wrote them.
        let names = [("messages[2].tool_calls[1].id", "input[3].call_id"), ("messages[2].tool_calls[0].function.arguments", "input[2].arguments"),
                     ("messages[2].content[0]", "input[1].content[0]"), ("messages[3].tool_call_id", "input[4].call_id"),
                     ("messages[4].content", "input[5].output"), ("messages[0].content", "instructions"), ("messages", "input"),
                     ("max_tokens", "max_output_tokens"), ("response_format.json_schema.schema", "text.format.schema"),
                     ("tools[3].function.parameters", "tools[3].parameters"), ("tool_choice.function.name", "tool_choice.name"),
                     ("temperature", "temperature")]
        for (chat, responses) in names { XCTAssertEqual(c.rename(chat), responses, chat) }
        let e = c.renamed(.invalid("`messages[3].tool_call_id` answers nothing.", param: "messages[3].tool_call_id"))
        XCTAssertEqual(e.param, "input[4].call_id")
        XCTAssertEqual(e.message, "`input[4].call_id` answers nothing.")
    }

    func testACallWithoutAnAssistantTurnBeforeItOpensOne() throws {
        let c = try conversation([["role": "user", "content": "Hi"], ["type": "function_call", "call_id": "a", "name": "w", "arguments": "{}"]])
        XCTAssertEqual(c.messages[2]["role"], "assistant")
        XCTAssertEqual(c.messages[2]["content"], .null)
        XCTAssertEqual(c.rename("messages[2].tool_calls[0].function.name"), "input[1].name")
    }

    func testBadItemsNameTheirField() {
        let cases: [(JSON, String)] = [
            (["type": "reasoning"], "input[0].type"),
            (["role": "tool", "content": "x"], "input[0].role"),
            (["role": "user", "content": [["type": "input_audio"]]], "input[0].content[0].type"),
            (["role": "user", "content": "x", "zz": 1], "input[0].zz"),
            (["type": "function_call", "name": "w", "arguments": "{}"], "input[0].call_id"),
            (["type": "function_call_output", "call_id": "a"], "input[0].output"),
            ("text", "input[0]"),
        ]
        for (item, param) in cases {
            XCTAssertThrowsError(try conversation([item]), param) { XCTAssertEqual(($0 as? APIError)?.param, param) }
        }
    }

    func types(_ events: [JSON]) -> [String] { events.compactMap { if case let .string(s)? = $0["type"] { return s }; return nil } }

    func testTextThenACallThenTextMakeThreeItemsWhoseEventsAddUp() {
        let out = ResponsesOutput(format: .hermes, toolNames: ["w"])
        XCTAssertEqual(out.start(), [])  // with tools, a message opens with its first text
        var events: [JSON] = []
        for piece in ["Let me check. <tool_", "call>\n{\"name\": \"w\", \"argu", "ments\": {\"c\": 1}}\n</tool_call>", " Done."] {
            events += out.push(piece, logprobs: [], finish: nil)
        }
        events += out.push("", logprobs: [], finish: "stop")
        let items = out.items
        XCTAssertEqual(items.map { $0["type"] }, ["message", "function_call", "message"])
        XCTAssertEqual(items[1]["name"], "w")
        XCTAssertEqual(items[1]["arguments"], "{\"c\": 1}")
        XCTAssertEqual(items.map { $0["status"] }, ["completed", "completed", "completed"])
        let t = types(events)
        XCTAssertEqual(t.first, "response.output_item.added")
        XCTAssertEqual(t.filter { $0 == "response.output_item.added" }.count, 3)
        XCTAssertEqual(t.filter { $0 == "response.output_item.done" }.count, 3)
        XCTAssertEqual(events.map { $0["sequence_number"] }, (0..<events.count).map { JSON($0) })
        // Each item's deltas add up to it.
        for (k, item) in items.enumerated() {
            let deltas = events.filter { $0["output_index"] == JSON(k) && (types([$0]).first?.hasSuffix(".delta") ?? false) }
                .map { if case let .string(s)? = $0["delta"] { return s }; return "" }.joined()
            let whole = item["type"] == "function_call" ? item["arguments"] : item["content"].flatMap { if case let .array(p) = $0 { return p.first?["text"] }; return nil }
            XCTAssertEqual(JSON.string(deltas), whole, "item \(k)")
        }
    }

    func testALengthFinishLeavesTheMessageIncompleteAndKeepsItsLogprobs() {
        let out = ResponsesOutput(format: nil, toolNames: [])
        let opening = types(out.start())
        XCTAssertEqual(opening, ["response.output_item.added", "response.content_part.added"])
        let lp: JSON = ["token": "Hi", "logprob": -0.5]
        _ = out.push("Hi", logprobs: [lp], finish: nil)
        let tail = types(out.push(" there", logprobs: [lp], finish: "length"))
        XCTAssertEqual(tail, ["response.output_text.delta", "response.output_text.done", "response.content_part.done", "response.output_item.done"])
        let item = out.items[0]
        XCTAssertEqual(item["status"], "incomplete")
        guard case let .array(parts)? = item["content"] else { return XCTFail() }
        XCTAssertEqual(parts[0]["text"], "Hi there")
        XCTAssertEqual(parts[0]["logprobs"], [lp, lp])
    }
}
