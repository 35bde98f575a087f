import Synchronization

/// A Messages answer's content blocks made from its text as it comes: a `text` block for its
/// text and, with tools, a `tool_use` block per call the parser finds (text after a call opens a
/// new text block). The same pushes give a stream's events (`content_block_start`, `_delta`,
/// `_stop`) and the whole answer's `content`, so a streamed message adds up to the whole one.
final class MessagesOutput: Sendable {
    private struct Block {
        var isToolUse: Bool
        var text = ""  // a text block's text, or a call's input as JSON text
        var id = "", name = ""
    }

    private struct State {
        var parser: ToolCallParser?
        var blocks: [Block] = []
        var callBlocks: [Int: Int] = [:]  // the parser's call index → its block
        var open: Int?
    }

    private let state: Mutex<State>

    /// `format`: the tool-call format the answer is parsed in (nil: all of it is text).
    init(format: ToolCallFormat?, toolNames: Set<String>) {
        state = Mutex(State(parser: format.map { ToolCallParser(format: $0, toolNames: toolNames) }))
    }

    /// A new piece of the answer; `finished`: the answer has ended (what is open closes).
    func push(_ text: String, finished: Bool) -> [JSON] {
        state.withLock { s in
            var events: [JSON] = []
            var parsed: [ToolCallParser.Event]
            if s.parser != nil {
                parsed = text.isEmpty ? [] : s.parser!.push(text)
                if finished { parsed += s.parser!.finish() }
            } else {
                parsed = text.isEmpty ? [] : [.content(text)]
            }
            for e in parsed {
                switch e {
                case let .content(t):
                    guard !t.isEmpty else { continue }
                    if s.open == nil || s.blocks[s.open!].isToolUse {
                        Self.close(&s, &events)
                        s.blocks.append(Block(isToolUse: false))
                        s.open = s.blocks.count - 1
                        events.append(["type": "content_block_start", "index": JSON(s.open!), "content_block": ["type": "text", "text": ""]])
                    }
                    s.blocks[s.open!].text += t
                    events.append(["type": "content_block_delta", "index": JSON(s.open!), "delta": ["type": "text_delta", "text": .string(t)]])
                case let .start(index, callID, name):
                    // Anthropic's ids read `toolu_...` (a Mistral template's 9 characters stay as they are).
                    let id = callID.hasPrefix("call_") ? "toolu_" + callID.dropFirst(5) : callID
                    Self.close(&s, &events)
                    s.blocks.append(Block(isToolUse: true, id: id, name: name))
                    s.open = s.blocks.count - 1
                    s.callBlocks[index] = s.open!
                    events.append(["type": "content_block_start", "index": JSON(s.open!),
                                   "content_block": ["type": "tool_use", "id": .string(id), "name": .string(name), "input": [:]]])
                case let .arguments(index, a):
                    guard let k = s.callBlocks[index], !a.isEmpty else { continue }
                    s.blocks[k].text += a
                    events.append(["type": "content_block_delta", "index": JSON(k), "delta": ["type": "input_json_delta", "partial_json": .string(a)]])
                }
            }
            if finished { Self.close(&s, &events) }
            return events
        }
    }

    private static func close(_ s: inout State, _ events: inout [JSON]) {
        guard let k = s.open else { return }
        s.open = nil
        events.append(["type": "content_block_stop", "index": JSON(k)])
    }

    /// Whether the answer made a complete call (its stop reason is then `tool_use`).
    var calledTools: Bool { state.withLock { s in (s.parser?.callCount ?? 0) > 0 && !(s.parser?.cutShort ?? false) } }

    /// The whole answer's `content`. A call's input is its arguments' JSON object; a call cut short
    /// (by `max_tokens` or a stop sequence) has what its unfinished JSON holds so far, as the SDK
    /// reads it from the stream's pieces (`PartialJSON`), so a stream adds up to the whole answer.
    var content: [JSON] {
        state.withLock { s in
            s.blocks.map { b in
                guard b.isToolUse else { return ["type": "text", "text": .string(b.text)] }
                var input: JSON = [:]
                if let v = PartialJSON.parse(b.text), case .object = v { input = v }
                return ["type": "tool_use", "id": .string(b.id), "name": .string(b.name), "input": input]
            }
        }
    }
}
