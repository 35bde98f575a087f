import Synchronization

/// A response's output items made from the answer's text as it comes: one `message` item for its
/// text and, with tools, a `function_call` item per call the parser finds (text after a call opens
/// a new message). The same pushes give a stream's events (numbered in order) and the whole
/// answer's `output`, so a streamed response adds up to the whole one.
final class ResponsesOutput: Sendable {
    private struct Item {
        var isCall: Bool
        var id: String
        var text = ""  // a message's text, or a call's arguments
        var logprobs: [JSON] = []
        var callID = "", name = ""
        var status = "in_progress"
    }

    private struct State {
        var parser: ToolCallParser?
        var items: [Item] = []
        var callItems: [Int: Int] = [:]  // the parser's call index → its item
        var open: Int?                   // the item being written
        var sequence = 0
        /// With tools, the answer's bytes so far and each token's range in them, so the logprobs a
        /// message gets are its own tokens' (found where its text lies), not a call's.
        var raw: [UInt8] = []
        var tokens: [(range: Range<Int>, entry: JSON, given: Bool)] = []
        var cursor = 0
    }

    private let state: Mutex<State>

    /// `format`: the tool-call format the answer is parsed in (nil: all of it is the message's text).
    init(format: ToolCallFormat?, toolNames: Set<String>) {
        state = Mutex(State(parser: format.map { ToolCallParser(format: $0, toolNames: toolNames) }))
    }

    /// An event of the stream: its type, its fields, its number.
    func event(_ type: String, _ fields: [(String, JSON)]) -> JSON {
        state.withLock { Self.event(&$0, type, fields) }
    }

    private static func event(_ s: inout State, _ type: String, _ fields: [(String, JSON)]) -> JSON {
        defer { s.sequence += 1 }
        return .object([("type", .string(type))] + fields + [("sequence_number", JSON(s.sequence))])
    }

    /// The events before the first token: a message item opened at once when the answer is all text.
    func start() -> [JSON] {
        state.withLock { s in
            guard s.parser == nil else { return [] }
            var events: [JSON] = []
            Self.openMessage(&s, &events)
            return events
        }
    }

    /// A new piece of the answer and its tokens' logprob entries (with tools, each message gets the
    /// entries of the tokens its text lies in, whenever the parser lets that text out; a call's
    /// tokens give none); `finish`: the answer's end (`length` leaves the last item incomplete).
    func push(_ text: String, logprobs: [JSON], finish: String?) -> [JSON] {
        state.withLock { s in
            var events: [JSON] = []
            var parsed: [ToolCallParser.Event]
            if s.parser != nil {
                parsed = text.isEmpty ? [] : s.parser!.push(text)
                if finish != nil { parsed += s.parser!.finish() }
            } else {
                parsed = text.isEmpty && logprobs.isEmpty ? [] : [.content(text)]
            }
            var pending = logprobs
            if s.parser != nil {
                for entry in logprobs {
                    let bytes: [UInt8] = { if case let .array(b)? = entry["bytes"] { return b.compactMap { $0.tokenID.map { UInt8(truncatingIfNeeded: $0) } } }; return [] }()
                    s.tokens.append((s.raw.count..<(s.raw.count + bytes.count), entry, false))
                    s.raw += bytes
                }
                pending = []
            }
            for e in parsed {
                switch e {
                case let .content(t):
                    if s.open == nil || s.items[s.open!].isCall {
                        Self.close(&s, &events, status: "completed")
                        Self.openMessage(&s, &events)
                    }
                    let k = s.open!
                    if s.parser != nil { pending = Self.entries(&s, for: t) }
                    s.items[k].text += t
                    s.items[k].logprobs += pending
                    events.append(Self.event(&s, "response.output_text.delta", [
                        ("item_id", .string(s.items[k].id)), ("output_index", JSON(k)), ("content_index", 0),
                        ("delta", .string(t)), ("logprobs", .array(pending))]))
                    pending = []
                case let .start(index, id, name):
                    Self.close(&s, &events, status: "completed")
                    var item = Item(isCall: true, id: "fc_" + OpenAIAPI.randomID())
                    item.callID = id
                    item.name = name
                    s.items.append(item)
                    s.open = s.items.count - 1
                    s.callItems[index] = s.open!
                    events.append(Self.event(&s, "response.output_item.added", [("output_index", JSON(s.open!)), ("item", Self.json(item))]))
                case let .arguments(index, a):
                    guard let k = s.callItems[index] else { continue }
                    _ = Self.entries(&s, for: a)  // past the call's text: later text is searched after it
                    s.items[k].text += a
                    events.append(Self.event(&s, "response.function_call_arguments.delta", [
                        ("item_id", .string(s.items[k].id)), ("output_index", JSON(k)), ("delta", .string(a))]))
                }
            }
            if let finish {
                let cut = finish == "length" || (s.parser?.cutShort ?? false)
                Self.close(&s, &events, status: cut ? "incomplete" : "completed")
            }
            return events
        }
    }

    /// The answer as one chat assistant message (its text, then its calls), for a conversation
    /// continued from it. A call cut short (`incomplete`) is left out: its arguments are not JSON,
    /// and no client could answer it.
    var chatMessage: JSON {
        state.withLock { s in
            let text = s.items.filter { !$0.isCall }.map(\.text).joined()
            let calls: [JSON] = s.items.filter { $0.isCall && $0.status != "incomplete" }.map { c in
                ["id": .string(c.callID), "type": "function", "function": ["name": .string(c.name), "arguments": .string(c.text)]]
            }
            return calls.isEmpty ? ["role": "assistant", "content": .string(text)]
                : ["role": "assistant", "content": text.isEmpty ? .null : .string(text), "tool_calls": .array(calls)]
        }
    }

    /// The entries of the tokens the text `t` lies in, found in the answer's bytes from where the
    /// last text found ended, each entry given once.
    private static func entries(_ s: inout State, for t: String) -> [JSON] {
        let needle = Array(t.utf8)
        guard !needle.isEmpty, needle.count <= s.raw.count - s.cursor else { return [] }
        var a = s.cursor
        while a + needle.count <= s.raw.count && !s.raw[a..<(a + needle.count)].elementsEqual(needle) { a += 1 }
        guard a + needle.count <= s.raw.count else { return [] }
        let found = a..<(a + needle.count)
        s.cursor = found.upperBound
        var out: [JSON] = []
        for i in s.tokens.indices where !s.tokens[i].given && s.tokens[i].range.overlaps(found) {
            s.tokens[i].given = true
            out.append(s.tokens[i].entry)
        }
        return out
    }

    /// The `output` array as it stands.
    var items: [JSON] { state.withLock { $0.items.map(Self.json) } }

    private static func openMessage(_ s: inout State, _ events: inout [JSON]) {
        let item = Item(isCall: false, id: "msg_" + OpenAIAPI.randomID())
        s.items.append(item)
        let k = s.items.count - 1
        s.open = k
        events.append(event(&s, "response.output_item.added", [("output_index", JSON(k)), ("item", json(item))]))
        events.append(event(&s, "response.content_part.added", [
            ("item_id", .string(item.id)), ("output_index", JSON(k)), ("content_index", 0), ("part", part(item))]))
    }

    /// Ends the open item, with its done events.
    private static func close(_ s: inout State, _ events: inout [JSON], status: String) {
        guard let k = s.open else { return }
        s.open = nil
        s.items[k].status = status
        let item = s.items[k]
        if item.isCall {
            events.append(event(&s, "response.function_call_arguments.done", [
                ("item_id", .string(item.id)), ("output_index", JSON(k)), ("name", .string(item.name)), ("arguments", .string(item.text))]))
        } else {
            events.append(event(&s, "response.output_text.done", [
                ("item_id", .string(item.id)), ("output_index", JSON(k)), ("content_index", 0), ("text", .string(item.text)),
                ("logprobs", .array(item.logprobs))]))
            events.append(event(&s, "response.content_part.done", [
                ("item_id", .string(item.id)), ("output_index", JSON(k)), ("content_index", 0), ("part", part(item))]))
        }
        events.append(event(&s, "response.output_item.done", [("output_index", JSON(k)), ("item", json(item))]))
    }

    private static func part(_ item: Item) -> JSON {
        ["type": "output_text", "text": .string(item.text), "annotations": [], "logprobs": .array(item.logprobs)]
    }

    private static func json(_ item: Item) -> JSON {
        if item.isCall {
            return ["id": .string(item.id), "type": "function_call", "status": .string(item.status), "arguments": .string(item.text),
                    "call_id": .string(item.callID), "name": .string(item.name)]
        }
        // A message's part appears with its first text (`content_part.added`), as OpenAI's stream has it.
        let content: JSON = item.status == "in_progress" && item.text.isEmpty ? [] : [part(item)]
        return ["id": .string(item.id), "type": "message", "status": .string(item.status), "role": "assistant", "content": content]
    }
}
