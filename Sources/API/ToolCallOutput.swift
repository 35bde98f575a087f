import Foundation
import Synchronization

/// A chat answer's tool calls on the wire: the whole `message` (content and `tool_calls`) and,
/// for a stream, each choice's parser turning text pieces into `delta`s (content, then per call
/// its `index`, `id` and name first and its arguments in pieces). Both forms come from the same
/// parser events, so a streamed answer adds up to the whole one.
final class ToolCallOutput: Sendable {
    private let parsers: Mutex<[ToolCallParser]>

    init(format: ToolCallFormat, toolNames: Set<String>, choices: Int) {
        parsers = Mutex((0..<choices).map { _ in ToolCallParser(format: format, toolNames: toolNames) })
    }

    /// The deltas for a new piece of choice `i`'s text (and, at its end, what was held back).
    func deltas(choice i: Int, text: String, finished: Bool) -> [JSON] {
        parsers.withLock { parsers in
            var events = text.isEmpty ? [] : parsers[i].push(text)
            if finished { events += parsers[i].finish() }
            return events.map(Self.delta)
        }
    }

    /// `tool_calls` when the choice ended by itself after calling; otherwise the engine's reason
    /// (a call a stop string cut short is a `stop`, its arguments incomplete).
    func finishReason(choice i: Int, _ reason: String) -> String {
        parsers.withLock { reason == "stop" && $0[i].callCount > 0 && !$0[i].cutShort ? "tool_calls" : reason }
    }

    static func delta(_ e: ToolCallParser.Event) -> JSON {
        switch e {
        case let .content(s): return ["content": .string(s)]
        case let .start(index, id, name):
            return ["tool_calls": [["index": JSON(index), "id": .string(id), "type": "function",
                                    "function": ["name": .string(name), "arguments": ""]]]]
        case let .arguments(index, s):
            return ["tool_calls": [["index": JSON(index), "function": ["arguments": .string(s)]]]]
        }
    }

    /// A whole answer's `message` and finish reason.
    static func message(text: String, format: ToolCallFormat, toolNames: Set<String>, finishReason: String) -> (message: JSON, finishReason: String) {
        var parser = ToolCallParser(format: format, toolNames: toolNames)
        let events = parser.push(text) + parser.finish()
        var content = ""
        var calls: [(id: String, name: String, arguments: String)] = []
        for e in events {
            switch e {
            case let .content(s): content += s
            case let .start(_, id, name): calls.append((id, name, ""))
            case let .arguments(i, s): calls[i].arguments += s
            }
        }
        // No text (calls only, or a call cut before its name): null, as the stream's content starts.
        let text: JSON = content.isEmpty ? .null : .string(content)
        guard !calls.isEmpty else { return (["role": "assistant", "content": text], finishReason) }
        let toolCalls: [JSON] = calls.map { c in
            ["id": .string(c.id), "type": "function", "function": ["name": .string(c.name), "arguments": .string(c.arguments)]]
        }
        let message: JSON = ["role": "assistant", "content": text, "tool_calls": .array(toolCalls)]
        return (message, finishReason == "stop" && !parser.cutShort ? "tool_calls" : finishReason)
    }
}
