import XCTest
@testable import API
@testable import Grammar

/// The tool-call parsers on answers written the way each family's documentation shows them
/// (Qwen's function-calling guide, Meta's Llama 3.1 prompt format, Mistral's tokenizer docs),
/// fed whole and cut at every byte: the events must be the same however the text arrives.
final class ToolCallParserTests: XCTestCase {
    struct Call: Equatable {
        var name: String
        var arguments: String
    }

    /// Content and calls after feeding `pieces`; ids are numbered so runs compare.
    func parse(_ format: ToolCallFormat, _ pieces: [String], names: Set<String> = []) -> (content: String, calls: [Call], events: [ToolCallParser.Event]) {
        var n = 0
        var p = ToolCallParser(format: format, toolNames: names, makeID: { n += 1; return "id\(n)" })
        var events: [ToolCallParser.Event] = []
        for piece in pieces { events += p.push(piece) }
        events += p.finish()
        var content = ""
        var calls: [Call] = []
        for e in events {
            switch e {
            case let .content(s): content += s
            case let .start(i, _, name): XCTAssertEqual(i, calls.count); calls.append(Call(name: name, arguments: ""))
            case let .arguments(i, s): calls[i].arguments += s
            }
        }
        return (content, calls, events)
    }

    /// Whole, one character at a time, and in pieces of 3: the same content and calls.
    func check(_ format: ToolCallFormat, _ text: String, content: String, calls: [Call], names: Set<String> = [],
               file: StaticString = #filePath, line: UInt = #line) {
        let chars = text.map(String.init)
        let threes = stride(from: 0, to: chars.count, by: 3).map { chars[$0..<min($0 + 3, chars.count)].joined() }
        for pieces in [[text], chars, threes] {
            let r = parse(format, pieces, names: names)
            XCTAssertEqual(r.content, content, "content, \(pieces.count) pieces", file: file, line: line)
            XCTAssertEqual(r.calls, calls, "calls, \(pieces.count) pieces", file: file, line: line)
        }
    }

    // MARK: - Qwen / Hermes

    func testHermesParallelCallsFromQwenGuide() {
        let text = """
        <tool_call>
        {"name": "get_current_temperature", "arguments": {"location": "San Francisco, CA, USA"}}
        </tool_call>
        <tool_call>
        {"name": "get_temperature_date", "arguments": {"location": "San Francisco, CA, USA", "date": "2024-10-01"}}
        </tool_call>
        """
        check(.hermes, text, content: "", calls: [
            Call(name: "get_current_temperature", arguments: #"{"location": "San Francisco, CA, USA"}"#),
            Call(name: "get_temperature_date", arguments: #"{"location": "San Francisco, CA, USA", "date": "2024-10-01"}"#),
        ])
    }

    func testHermesTextBeforeCallAndPlainAnswers() {
        check(.hermes, "Let me check.\n<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": [1, {\"b\": \"}\"}]}}\n</tool_call>",
              content: "Let me check.", calls: [Call(name: "f", arguments: #"{"a": [1, {"b": "}"}]}"#)])
        check(.hermes, "The capital of France is Paris.", content: "The capital of France is Paris.", calls: [])
        check(.hermes, "a < b and <tool> is not a call", content: "a < b and <tool> is not a call", calls: [])
        check(.hermes, "Tags: <tool_call>not json</tool_call> end", content: "Tags: <tool_call>not json</tool_call> end", calls: [])
    }

    func testHermesHoldsBackAPartialTag() {
        var p = ToolCallParser(format: .hermes)
        XCTAssertEqual(p.push("Sure <tool_"), [.content("Sure")])
        XCTAssertEqual(p.push("x"), [.content(" <tool_x")])
    }

    func testHermesStreamsNameFirstThenArgumentPieces() {
        let r = parse(.hermes, ["<tool_call>\n{\"name\": \"get", "_weather\", \"arguments\": {\"ci", "ty\": \"Paris\"}}\n</tool_call>"])
        XCTAssertEqual(r.events, [
            .start(index: 0, id: "id1", name: "get_weather"),
            .arguments(index: 0, "{\"ci"),
            .arguments(index: 0, "ty\": \"Paris\"}"),
        ])
    }

    func testHermesOtherKeyOrderAndUnclosedCall() {
        check(.hermes, "<tool_call>\n{\"arguments\": {\"x\": 1}, \"name\": \"f\"}\n</tool_call>", content: "", calls: [Call(name: "f", arguments: #"{"x":1}"#)])
        // Ended (EOS) before the closing tag: still a call.
        check(.hermes, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 1}}", content: "", calls: [Call(name: "f", arguments: #"{"x": 1}"#)])
    }

    /// Cut short (max_tokens, a stop string) before the name is complete: neither a call nor
    /// markup in the content; after it, a call with the arguments written so far (as OpenAI's).
    func testHermesCallCutShort() {
        check(.hermes, "<tool_call>\n{\"name\": \"get", content: "", calls: [])
        check(.hermes, "Checking.\n<tool_call>\n{\"", content: "Checking.", calls: [])
        check(.hermes, "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"city\": \"Pa", content: "",
              calls: [Call(name: "f", arguments: #"{"city": "Pa"#)])
        // Cut inside the marker itself (max_tokens 1-3 of a forced call), or after a whole call.
        for cut in ["<", "<tool", "\n<tool_call"] { check(.hermes, cut, content: "", calls: []) }
        let whole = "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>"
        check(.hermes, whole + "\n<tool", content: "", calls: [Call(name: "f", arguments: "{}")])
        check(.hermes, whole + "\n", content: "", calls: [Call(name: "f", arguments: "{}")])
        // Text that merely ends with "<" keeps it.
        check(.hermes, "a <", content: "a <", calls: [])
        var p = ToolCallParser(format: .hermes)
        _ = p.push("<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": ")
        _ = p.finish()
        XCTAssertTrue(p.cutShort, "arguments cut short: not a finished call")
        var q = ToolCallParser(format: .hermes)
        _ = q.push(whole)
        _ = q.finish()
        XCTAssertFalse(q.cutShort)
    }

    /// Qwen2.5-Coder often writes its call as a Markdown JSON block: a call only if it names a tool.
    func testHermesFencedCallFromQwenCoder() {
        let text = "```json\n{\n  \"name\": \"get_weather\",\n  \"arguments\": {\n    \"city\": \"Paris\"\n  }\n}\n```"
        check(.hermes, text, content: "", calls: [Call(name: "get_weather", arguments: "{\n    \"city\": \"Paris\"\n  }")], names: ["get_weather"])
        check(.hermes, text, content: text, calls: [], names: ["other"])
        let code = "Use this:\n```python\nprint(1)\n```\nDone."
        check(.hermes, code, content: code, calls: [], names: ["get_weather"])
        // Not JSON: a code block for the user (a stream gives nothing out of it until it is whole).
        let invalid = "```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": Paris}}\n```"
        check(.hermes, invalid, content: invalid, calls: [], names: ["get_weather"])
        // Cut by max_tokens or a stop string once its head named a tool (where the grammar holds
        // it to a call): a call cut short, with the arguments written so far (found by a user's
        // test: the block was given back as content, while a forced call kept its arguments).
        for (cut, arguments) in [("```json\n{\n  \"name\": \"get_weather\",\n  \"arguments\": {\n    \"city", "{\n    \"city"),
                                 ("```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}", #"{"city": "Paris"}"#)] {
            check(.hermes, cut, content: "", calls: [Call(name: "get_weather", arguments: arguments)], names: ["get_weather"])
            var q = ToolCallParser(format: .hermes, toolNames: ["get_weather"])
            _ = q.push(cut)
            _ = q.finish()
            XCTAssertTrue(q.cutShort, "finish_reason length or stop, never tool_calls")
        }
        // Cut right before the arguments value, in every form: a call with no arguments, cut short
        // (a fenced block and a bare object were content, a tagged call dropped). Before the key
        // is whole, or naming no tool, it stays what it was.
        let weather: Set<String> = ["get_weather", "get_time"]
        for head in ["```json\n{\"name\": \"get_weather\", \"arguments\": ", "<tool_call>\n{\"name\": \"get_weather\", \"arguments\":",
                     "{\"name\": \"get_weather\", \"arguments\": ", "{{\"name\": \"get_weather\", \"arguments\":\n"] {
            check(.hermes, head, content: "", calls: [Call(name: "get_weather", arguments: "")], names: weather)
            var q = ToolCallParser(format: .hermes, toolNames: weather)
            _ = q.push(head)
            _ = q.finish()
            XCTAssertTrue(q.cutShort, head)
        }
        check(.hermes, "```json\n{\"name\": \"get_weather\", \"argu", content: "```json\n{\"name\": \"get_weather\", \"argu", calls: [], names: weather)
        check(.hermes, "{\"name\": \"Bob\", \"arguments\": ", content: "{\"name\": \"Bob\", \"arguments\": ", calls: [], names: weather)
        // A block's second call cut in its head: the first is whole (the block was all content);
        // the second is dropped before its name ended, a call cut short right before its arguments.
        let first = "```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n"
        let paris = Call(name: "get_weather", arguments: #"{"city": "Paris"}"#)
        check(.hermes, first + "{\"name\": \"get_ti", content: "", calls: [paris], names: weather)
        check(.hermes, first + "{\"name\": \"get_time\", \"arguments\": ", content: "",
              calls: [paris, Call(name: "get_time", arguments: "")], names: weather)
        var q = ToolCallParser(format: .hermes, toolNames: weather)
        _ = q.push(first + "{\"name\": \"get_ti")
        _ = q.finish()
        XCTAssertFalse(q.cutShort, "the calls given out are whole")
        // Complete but ended before the closing fence (EOS): a call.
        check(.hermes, "```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}",
              content: "", calls: [Call(name: "get_weather", arguments: #"{"city": "Paris"}"#)], names: ["get_weather"])
        // A complete object followed by other text than the closing fence is known to be a code
        // block at once: its text goes out without waiting for the end of the answer.
        var p = ToolCallParser(format: .hermes, toolNames: ["get_weather"])
        let shown = p.push("```json\n{\"name\": \"get_weather\", \"arguments\": {}}\nHere is why")
        XCTAssertEqual(shown.map { e -> String in if case let .content(t) = e { return t }; return "?" }.joined(),
                       "```json\n{\"name\": \"get_weather\", \"arguments\": {}}\nHere is why")
        // Text after the block stays content.
        check(.hermes, "```json\n{\"name\": \"get_weather\", \"arguments\": {}}\n```\nChecking.",
              content: "\nChecking.", calls: [Call(name: "get_weather", arguments: "{}")], names: ["get_weather"])
        // Several calls in one block (Qwen2.5-Coder-1.5B asked for two tools, temperature 0): each
        // must name a tool, else the whole block is code.
        let two = "```json\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n{\"name\": \"get_time\", \"arguments\": {\"tz\": \"Europe/Paris\"}}\n```"
        check(.hermes, two, content: "", calls: [Call(name: "get_weather", arguments: #"{"city": "Paris"}"#),
                                                 Call(name: "get_time", arguments: #"{"tz": "Europe/Paris"}"#)],
              names: ["get_weather", "get_time"])
        check(.hermes, two, content: two, calls: [], names: ["get_weather"])
        let cutSecond = "```json\n{\"name\": \"get_weather\", \"arguments\": {}}\n{\"name\": \"get_time\", \"argu"
        // Its second call cut in its head: the first is whole (the block was all content before).
        check(.hermes, cutSecond, content: "", calls: [Call(name: "get_weather", arguments: "{}")], names: ["get_weather", "get_time"])
    }

    /// Qwen2.5-Coder-0.5B, asked for a tool under `tool_choice: auto`, often answers with the bare
    /// call object and no tag (temperature 0, "What is 2+2?" with a get_weather tool: the first
    /// call below, with "New York"): a call when it names one of the request's tools; any other
    /// JSON stays content.
    func testHermesBareCallObjectThatBeginsTheAnswer() {
        let names: Set<String> = ["get_weather", "get_time"]
        let one = "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}"
        check(.hermes, one, content: "", calls: [Call(name: "get_weather", arguments: #"{"city": "Paris"}"#)], names: names)
        check(.hermes, "\n " + one + "\n", content: "", calls: [Call(name: "get_weather", arguments: #"{"city": "Paris"}"#)], names: names)
        // Two calls, one per line; then text after a call stays content.
        check(.hermes, one + "\n{\"name\": \"get_time\", \"arguments\": {}}", content: "",
              calls: [Call(name: "get_weather", arguments: #"{"city": "Paris"}"#), Call(name: "get_time", arguments: "{}")], names: names)
        check(.hermes, one + "\nDone.", content: "\nDone.", calls: [Call(name: "get_weather", arguments: #"{"city": "Paris"}"#)], names: names)
        // Not a tool's name, another shape, invalid JSON, JSON after text, or no tools: content.
        for text in ["{\"name\": \"Bob\", \"arguments\": {}}", "{\"city\": \"Paris\"}", "{\"name\": \"get_weather\", \"arguments\": {\"city\": Paris}}",
                     "Call: " + one, "[1, 2]"] {
            check(.hermes, text, content: text, calls: [], names: names)
            check(.hermes, "\n " + text, content: "\n " + text, calls: [], names: names)
        }
        check(.hermes, one, content: one, calls: [])
        // Cut short inside the arguments: a call cut short, with the arguments written so far (as
        // a fenced or tagged call; it was dropped, no call and no content).
        let cut = "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Pa"
        check(.hermes, cut, content: "", calls: [Call(name: "get_weather", arguments: #"{"city": "Pa"#)], names: names)
        check(.hermes, one + "\n" + cut, content: "", calls: [Call(name: "get_weather", arguments: #"{"city": "Paris"}"#),
                                                              Call(name: "get_weather", arguments: #"{"city": "Pa"#)], names: names)
        // After a call, one cut before its name is whole is dropped with the space before it (a
        // cut at 19-27 tokens of Qwen2.5-Coder-0.5B asked for two cities gave it as content).
        for tail in ["\n\n{\"name\": \"get_weath", "\n{\"na", "\n{"] {
            check(.hermes, one + tail, content: "", calls: [Call(name: "get_weather", arguments: #"{"city": "Paris"}"#)], names: names)
        }
        check(.hermes, one + "\n{\"city\": 1", content: "\n{\"city\": 1", calls: [Call(name: "get_weather", arguments: #"{"city": "Paris"}"#)], names: names)
        // A name no tool has (or can still have) is JSON the answer writes: content.
        for tail in ["\n\n{\"name\": \"Alice\", \"", "\n{\"name\": \"get_x", "\n{\"name\": \"get_weather\" , \"id"] {
            check(.hermes, one + tail, content: tail, calls: [Call(name: "get_weather", arguments: #"{"city": "Paris"}"#)], names: names)
        }
        var p = ToolCallParser(format: .hermes, toolNames: names)
        _ = p.push(cut)
        _ = p.finish()
        XCTAssertTrue(p.cutShort)
    }

    /// Qwen2.5-Coder's chat template shows a call as `{{"name": <function-name>, "arguments": …}}` (the
    /// braces doubled inside a Jinja string), and Qwen2.5-Coder-1.5B copies them: "What's the
    /// weather in Paris?" with a get_weather tool under `auto`, temperature 0, answered
    /// `{{"name": "get_weather", "arguments": {"city": "Paris"}}}`. The inner object is the call,
    /// the outer braces are dropped; anything else stays content, the outer brace included.
    func testHermesCallInDoubledBracesAsQwensTemplateShowsIt() {
        let names: Set<String> = ["get_weather", "get_time"]
        let paris = Call(name: "get_weather", arguments: #"{"city": "Paris"}"#)
        let doubled = "{{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}}"
        check(.hermes, doubled, content: "", calls: [paris], names: names)
        check(.hermes, "\n" + doubled + "\n", content: "", calls: [paris], names: names)
        check(.hermes, "{ {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}} }", content: "", calls: [paris], names: names)
        check(.hermes, doubled + "\nDone.", content: "\nDone.", calls: [paris], names: names)
        // A closing brace missing at the end (a stop string, max_tokens): still the call.
        check(.hermes, String(doubled.dropLast()), content: "", calls: [paris], names: names)
        // In a <tool_call> block, as the template's example is: parsed whole once the block ends.
        check(.hermes, "<tool_call>\n" + doubled + "\n</tool_call>", content: "",
              calls: [Call(name: "get_weather", arguments: #"{"city":"Paris"}"#)], names: names)
        check(.hermes, "<tool_call>\n" + String(doubled.dropLast()) + "\n</tool_call>", content: "",
              calls: [Call(name: "get_weather", arguments: #"{"city":"Paris"}"#)], names: names)
        // Not a tool's name, not valid JSON, or not a call's shape: content, braces and all.
        for text in ["{{\"name\": \"Bob\", \"arguments\": {}}}", "{{\"name\": \"get_weather\", \"arguments\": {\"city\": Paris}}}",
                     "{{\"city\": \"Paris\"}}", "{{ x }}"] {
            check(.hermes, text, content: text, calls: [], names: names)
            check(.hermes, "\n" + text, content: "\n" + text, calls: [], names: names)
        }
        // Cut short inside the arguments: a call cut short, with the arguments written so far.
        let cut = "{{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Pa"
        check(.hermes, cut, content: "", calls: [Call(name: "get_weather", arguments: #"{"city": "Pa"#)], names: names)
        var p = ToolCallParser(format: .hermes, toolNames: names)
        _ = p.push(cut)
        _ = p.finish()
        XCTAssertTrue(p.cutShort)
    }

    /// Arguments written again after a whole parse keep each number as the model wrote it (as
    /// vLLM's json.loads/json.dumps keeps an integer of any length): not rounded through a Double.
    func testArgumentNumbersKeepTheirText() {
        let names: Set<String> = ["get_order"]
        let args = #"{"order_id": 12345678901234567891, "ratio": 1.0, "small": -2.5e-7, "items": [9007199254740993]}"#
        let exact = #"{"order_id":12345678901234567891,"ratio":1.0,"small":-2.5e-7,"items":[9007199254740993]}"#
        // Doubled braces in a block: parsed whole once the block ends.
        check(.hermes, "<tool_call>\n{{\"name\": \"get_order\", \"arguments\": \(args)}}\n</tool_call>", content: "",
              calls: [Call(name: "get_order", arguments: exact)], names: names)
        // OpenAI's shape echoed in a block, keys in another order.
        check(.hermes, "<tool_call>\n{\"arguments\": \(args), \"name\": \"get_order\"}\n</tool_call>", content: "",
              calls: [Call(name: "get_order", arguments: exact)], names: names)
    }

    // MARK: - Llama 3.x

    func testLlama3JSONCallFromMetaPromptFormat() {
        check(.llama3, #"{"name": "get_current_conditions", "parameters": {"location": "San Francisco, CA", "unit": "Fahrenheit"}}"#,
              content: "", calls: [Call(name: "get_current_conditions", arguments: #"{"location": "San Francisco, CA", "unit": "Fahrenheit"}"#)])
        check(.llama3, #"<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris"}}; {"name": "get_time", "parameters": {}}"#,
              content: "", calls: [Call(name: "get_weather", arguments: #"{"city": "Paris"}"#), Call(name: "get_time", arguments: "{}")])
        check(.llama3, "The weather in Paris is sunny.", content: "The weather in Paris is sunny.", calls: [])
        check(.llama3, #"{"answer": 42}"#, content: #"{"answer": 42}"#, calls: [])
    }

    // MARK: - Mistral

    func testMistralArrayCallsFromTokenizerV3() {
        check(.mistral, #"[TOOL_CALLS] [{"name": "retrieve_payment_status", "arguments": {"transaction_id": "T1001"}}, {"name": "retrieve_payment_date", "arguments": {"transaction_id": "T1001"}}]"#,
              content: "", calls: [
                Call(name: "retrieve_payment_status", arguments: #"{"transaction_id": "T1001"}"#),
                Call(name: "retrieve_payment_date", arguments: #"{"transaction_id": "T1001"}"#),
              ])
    }

    func testMistralNamedArgsFromTokenizerV11() {
        check(.mistral, #"[TOOL_CALLS]get_current_weather[ARGS]{"location": "Paris, France", "format": "celsius"}[TOOL_CALLS]get_time[ARGS]{}"#,
              content: "", calls: [
                Call(name: "get_current_weather", arguments: #"{"location": "Paris, France", "format": "celsius"}"#),
                Call(name: "get_time", arguments: "{}"),
              ])
        check(.mistral, "Bonjour ! [Note] rien à appeler.", content: "Bonjour ! [Note] rien à appeler.", calls: [])
    }

    // MARK: - detection and grammar

    func testFormatDetection() throws {
        // Qwen2.5-Coder's own template (from its GGUF), kept beside the tests.
        let path = #filePath.replacingOccurrences(of: "ToolCallParserTests.swift", with: "Fixtures/qwen2.5-coder.chat_template.jinja")
        let qwen = try String(contentsOfFile: path, encoding: .utf8)
        XCTAssertEqual(ToolCallFormat.detect(template: qwen), .hermes)
        XCTAssertNil(ToolCallFormat.detect(template: "{% for message in messages %}{{ message['content'] }}{% endfor %}"))
        XCTAssertEqual(ToolCallFormat.detect(template: "{% if tools %}[AVAILABLE_TOOLS]{% endif %}[TOOL_CALLS]"), .mistral)
        XCTAssertEqual(ToolCallFormat.detect(template: "{% if tools %}<|start_header_id|>ipython{% endif %}"), .llama3)
    }

    /// The forced-call grammar accepts exactly the family's call shape with valid arguments.
    func testRequiredGrammarAcceptsCallsOnly() throws {
        let schema = try GrammarSpec.jsonSchema(#"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}"#).compile()
        let composer = GrammarComposer()
        let (before, after) = ToolCallFormat.hermes.callTemplate(name: "get_weather")
        let call = GrammarNode.seq([.text(before), composer.embed(schema), .text(after)])
        let g = try composer.compile(.seq([call, .star(.seq([.text("\n"), call]))]))
        let one = "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\":\"Paris\"}}\n</tool_call>"
        XCTAssertTrue(g.accepts(Array(one.utf8)))
        XCTAssertTrue(g.accepts(Array((one + "\n" + one).utf8)))
        XCTAssertFalse(g.accepts(Array(one.replacingOccurrences(of: "\"city\"", with: "\"town\"").utf8)))
        XCTAssertFalse(g.accepts(Array("Sure!".utf8)))
        let r = parse(.hermes, [one])
        XCTAssertEqual(r.calls, [Call(name: "get_weather", arguments: #"{"city":"Paris"}"#)])
    }
}
