import Foundation

/// Takes a model's answer as it is generated and separates the text meant for the user from
/// its tool calls (the formats of `ToolCallFormat`). It gives out content as soon as it cannot
/// be the start of a call, a call's id and name as soon as the name is complete, and the
/// arguments as they are written. The events depend only on the text, never on how it was cut
/// into pieces, so a streamed answer and a whole one parse the same (the tests check it).
///
/// Text that looks like a call but is not one (a `<tool_call>` block without a JSON call in it)
/// is given back as content; a call cut short before its name is complete is dropped. Runs on the request's output queue, never on the engine thread.
struct ToolCallParser {
    enum Event: Equatable {
        case content(String)
        case start(index: Int, id: String, name: String)
        case arguments(index: Int, String)
    }

    private enum Mode { case start, text, calls }

    /// The call being written: where its object and its arguments value begin, what is out.
    private struct Call {
        var index: Int
        var objectStart: Int
        var valueStart: Int
        var emitted: Int
    }

    let format: ToolCallFormat
    private let makeID: () -> String
    private var mode: Mode
    private var buffer: [UInt8] = []  // text mode: held back; calls mode: the calls after the marker
    private var cursor = 0            // calls mode: where the next call may begin
    private var call: Call?
    private var mistralArray: Bool?   // mistral: `[TOOL_CALLS][...]` (true) or `[TOOL_CALLS]name[ARGS]{...}`
    private var fenced = false        // hermes: this call opened with a Markdown fence, not <tool_call>
    private var bare = false          // hermes: this call is a bare JSON object that begins the answer
    private var doubled = false       // hermes: the bare call opened with `{{` (its `}` is still to drop)
    private var bareOpen: [UInt8] = []  // what a bare call's object follows (spaces, a `{{`'s outer `{`), given back if no call follows
    private var heldSpace: [UInt8] = []  // the whitespace before the marker, given back if no call follows
    /// The request's function names: a fenced block is a call only when it names one of them.
    let toolNames: Set<String>
    private(set) var callCount = 0
    /// The answer ended inside a call's arguments (`max_tokens` or a stop string cut it).
    private(set) var cutShort = false
    private var emittedContent = false

    init(format: ToolCallFormat, toolNames: Set<String> = [], makeID: (() -> String)? = nil) {
        self.format = format
        self.toolNames = toolNames
        self.makeID = makeID ?? { format.newCallID() }
        // Hermes: an answer may also begin with a bare call object naming a tool (small Qwen
        // models write them: Qwen2.5-Coder-0.5B under `tool_choice: auto`).
        mode = format == .llama3 || format == .hermes && !toolNames.isEmpty ? .start : .text
    }

    /// What opens a call in running text. Qwen2.5-Coder often writes its call in a ```json
    /// block instead of <tool_call> (llama.cpp's Hermes parser of 2025 accepted both; the
    /// llama-server of llama-cpp-python 0.3.36 leaves both, and bare objects, as content).
    private var markers: [[UInt8]] {
        switch format {
        case .hermes: return [Array("<tool_call>".utf8), Array("```".utf8)]
        case .mistral: return [Array("[TOOL_CALLS]".utf8)]
        case .llama3: return []
        }
    }

    mutating func push(_ text: String) -> [Event] {
        buffer += Array(text.utf8)
        return advance(final: false)
    }

    /// The answer has ended: whatever is held back goes out.
    mutating func finish() -> [Event] { advance(final: true) }

    private mutating func advance(final: Bool) -> [Event] {
        var out: [Event] = []
        while true {
            switch mode {
            case .start:
                guard decideStart(final: final) else { return out }
            case .text:
                guard text(final: final, &out) else { return out }
            case .calls:
                let more: Bool
                switch format {
                case .hermes: more = hermesCall(final: final, &out)
                case .llama3: more = objects(separators: Array(";".utf8), terminator: nil, final: final, &out)
                case .mistral: more = mistralCalls(final: final, &out)
                }
                guard more else { return out }
            }
        }
    }

    // MARK: - text

    /// Llama 3: an answer is calls only if it begins with `<|python_tag|>` or a call object.
    /// Hermes: an answer (or what follows a bare call) that begins with a call object naming one
    /// of the request's tools, or with one in doubled braces, is that call.
    private mutating func decideStart(final: Bool) -> Bool {
        let i = ToolCallScanner.skipSpace(buffer, 0)
        if doubled {
            // The closing brace of a `{{…}}` call: dropped, not shown as content.
            if i == buffer.count && !final { return false }
            if i < buffer.count && buffer[i] == UInt8(ascii: "}") { buffer = Array(buffer[(i + 1)...]) }
            doubled = false
            return true
        }
        guard i < buffer.count else {
            if final { mode = .text; return true }
            return false
        }
        if format == .llama3 {
            let tag = Array("<|python_tag|>".utf8)
            let rest = buffer[i...]
            if rest.starts(with: tag) {
                buffer = Array(rest.dropFirst(tag.count))
                mode = .calls
                return true
            }
            if !final && tag.starts(with: rest) { return false }
        }
        // `{{"name": …}}`, as Qwen2.5-Coder's template shows a call (`ToolCallScanner.undoubled`):
        // the inner object is the call.
        var start = i
        if format == .hermes, buffer[i] == UInt8(ascii: "{") {
            let j = ToolCallScanner.skipSpace(buffer, i + 1)
            if j < buffer.count, buffer[j] == UInt8(ascii: "{") { start = j }
        }
        if buffer[start] == UInt8(ascii: "{") {
            // Llama 3: any call object; Hermes: a bare one naming one of the request's tools.
            switch ToolCallScanner.head(buffer, from: start, argsKeys: [format.argumentsKey, format == .llama3 ? "arguments" : "parameters"]) {
            case let .match(name, _) where format == .llama3 || toolNames.contains(name):
                bareOpen = Array(buffer[..<start])
                buffer = Array(buffer[start...])
                bare = format == .hermes
                doubled = start > i
                fenced = false
                mode = .calls
                return true
            case .partial where !final: return false
            case .partial where format == .hermes && toolNames.contains(ToolCallScanner.headBeforeValue(buffer, from: start, argsKeys: ["arguments", "parameters"]) ?? ""):
                // Cut right before its arguments: `bareCall` gives it out as a call cut short.
                bareOpen = Array(buffer[..<start])
                buffer = Array(buffer[start...])
                bare = true
                doubled = start > i
                fenced = false
                mode = .calls
                return true
            case .partial where format == .hermes && callCount > 0 && Self.mayName(ToolCallScanner.nameSoFar(buffer, from: start), toolNames):
                // After a call, the answer ends inside the next one's head, before its name is
                // whole, a name one of the tools may still have: a call cut short before its name,
                // dropped as a fenced one is (no content).
                buffer = []
                mode = .text
                return true
            default: break
            }
        }
        mode = .text
        return true
    }

    /// Whether a cut head's name (`ToolCallScanner.nameSoFar`) is, or may still become, a tool's.
    static func mayName(_ name: (text: String, whole: Bool)?, _ tools: Set<String>) -> Bool {
        guard let name else { return false }
        return name.whole ? tools.contains(name.text) : tools.contains { $0.hasPrefix(name.text) }
    }

    /// Gives out text up to the next call marker, keeping back what may begin one (and the
    /// whitespace before it, which is dropped if a call follows).
    private mutating func text(final: Bool, _ out: inout [Event]) -> Bool {
        guard !markers.isEmpty else {
            emitContent(buffer[...], &out)
            buffer = []
            return false
        }
        let found = markers.compactMap { m in Self.find(m, in: buffer, from: 0).map { ($0, m) } }.min { $0.0 < $1.0 }
        if let (r, marker) = found {
            var end = r
            while end > 0, ToolCallScanner.isSpace(buffer[end - 1]) { end -= 1 }
            emitContent(buffer[..<end], &out)
            let space = Array(buffer[end..<r])
            buffer = Array(buffer[(r + marker.count)...])
            cursor = 0
            mistralArray = nil
            fenced = marker.first == UInt8(ascii: "`")
            heldSpace = space
            mode = .calls
            return true
        }
        var keep = 0
        if !final {
            for marker in markers {
                for k in stride(from: min(marker.count - 1, buffer.count), to: keep, by: -1) where marker.starts(with: buffer.suffix(k)) {
                    keep = k
                    break
                }
            }
            while keep < buffer.count, ToolCallScanner.isSpace(buffer[buffer.count - keep - 1]) { keep += 1 }
        } else if callCount > 0 || !emittedContent {
            // The end of an answer that is calls only: whitespace after the calls is no content,
            // and the start of a marker (`<tool_`) is a call cut short before its marker ended.
            let rest = buffer[ToolCallScanner.skipSpace(buffer, 0)...]
            let markerStart = !rest.isEmpty && markers.contains { $0.first != UInt8(ascii: "`") && $0.count > rest.count && $0.starts(with: rest) }
            if markerStart || (rest.isEmpty && callCount > 0) {
                if markerStart { cutShort = true }
                buffer = []
                return false
            }
        }
        emitContent(buffer[..<(buffer.count - keep)], &out)
        buffer = Array(buffer.suffix(keep))
        return false
    }

    private mutating func emitContent(_ bytes: ArraySlice<UInt8>, _ out: inout [Event]) {
        guard !bytes.isEmpty else { return }
        emittedContent = true
        out.append(.content(String(decoding: bytes, as: UTF8.self)))
    }

    // MARK: - calls

    private mutating func startCall(name: String, objectStart: Int, valueStart: Int, _ out: inout [Event]) {
        call = Call(index: callCount, objectStart: objectStart, valueStart: valueStart, emitted: valueStart)
        out.append(.start(index: callCount, id: makeID(), name: name))
        callCount += 1
    }

    /// A call whose text ended right before its arguments value: its name, no arguments, cut short.
    private mutating func callCutBeforeArguments(_ name: String, _ out: inout [Event]) {
        out.append(.start(index: callCount, id: makeID(), name: name))
        callCount += 1
        cutShort = true
    }

    /// Emits the arguments written so far; the index past the value once it is complete.
    private mutating func streamArguments(_ out: inout [Event]) -> Int? {
        guard var c = call else { return nil }
        let scan = ToolCallScanner.valueEnd(buffer, from: c.valueStart)
        var available: Int
        switch scan {
        case let .complete(e): available = e
        case .incomplete: available = buffer.count
        case .invalid: available = c.emitted
        }
        // A bare scalar is only known once it has ended.
        if case .incomplete = scan, buffer[c.valueStart] != UInt8(ascii: "{") && buffer[c.valueStart] != UInt8(ascii: "[") {
            available = c.emitted
        }
        if available > c.emitted {
            out.append(.arguments(index: c.index, String(decoding: buffer[c.emitted..<available], as: UTF8.self)))
            c.emitted = available
            call = c
        }
        switch scan {
        case let .complete(e): return e
        case .invalid: return c.emitted
        case .incomplete: return nil
        }
    }

    /// A whole call given out at once (its head was not in the usual order).
    private mutating func wholeCall(_ bytes: ArraySlice<UInt8>, _ out: inout [Event]) -> Bool {
        guard let (name, args) = ToolCallScanner.wholeCall(Array(bytes), undouble: format == .hermes) else { return false }
        out.append(.start(index: callCount, id: makeID(), name: name))
        out.append(.arguments(index: callCount, args))
        callCount += 1
        return true
    }

    /// Leaves calls mode; `rest` is text again.
    private mutating func backToText(_ rest: ArraySlice<UInt8>) {
        buffer = Array(rest)
        call = nil
        mode = .text
    }

    /// Hermes: one JSON call, then `</tool_call>` (or the fence's closing ```).
    private mutating func hermesCall(final: Bool, _ out: inout [Event]) -> Bool {
        if bare { return bareCall(final: final, &out) }
        let endTag = Array((fenced ? "```" : "</tool_call>").utf8)
        var i = ToolCallScanner.skipSpace(buffer, 0)
        if fenced, call == nil {
            let tag = Array("json".utf8)
            if buffer[i...].starts(with: tag) { i = ToolCallScanner.skipSpace(buffer, i + 4) } else if !final && tag.starts(with: buffer[i...]) { return false }
        }
        if call == nil {
            let keys = ["arguments", "parameters"]
            // At the end only: the name of a head the answer ended right after (before its value).
            let cutName = final ? ToolCallScanner.headBeforeValue(buffer, from: i, argsKeys: keys) : nil
            switch ToolCallScanner.head(buffer, from: i, argsKeys: keys) {
            case let .match(name, valueStart) where fenced && toolNames.contains(name):
                return fencedCall(name: name, objectStart: i, valueStart: valueStart, final: final, &out)
            case let .match(name, valueStart) where !fenced:
                startCall(name: name, objectStart: i, valueStart: valueStart, &out)
            case .partial where !final: return false
            case .partial where !fenced:
                // A call cut short (`max_tokens`, a stop string) before its name ended: no call and
                // no markup in the content either; right before its arguments: a call cut short.
                if let name = cutName { callCutBeforeArguments(name, &out) }
                backToText([])
                return false
            case .partial where cutName.map(toolNames.contains) == true:
                // A ```json block cut right before the arguments its head named a tool for.
                callCutBeforeArguments(cutName!, &out)
                backToText([])
                return true
            case _ where fenced:
                // A code block, not a call: text again, from after the opening fence.
                emitContent(heldSpace[...] + Array("```".utf8), &out)
                backToText(buffer[...])
                return true
            default:
                // Not in the usual shape: wait for the end tag, then try the whole object.
                if let r = Self.find(endTag, in: buffer, from: 0) {
                    if !wholeCall(buffer[..<r], &out) { emitContent((heldSpace + Array("<tool_call>".utf8) + buffer[..<(r + endTag.count)])[...], &out) }
                    backToText(buffer[(r + endTag.count)...])
                    return true
                }
                guard final else { return false }
                if !wholeCall(buffer[...], &out) { emitContent((heldSpace + Array("<tool_call>".utf8) + buffer)[...], &out) }
                backToText([])
                return false
            }
        }
        guard let valueEnd = streamArguments(&out) else {
            if final { cutShort = true; backToText([]) }
            return false
        }
        if let r = Self.find(endTag, in: buffer, from: valueEnd) {
            backToText(buffer[(r + endTag.count)...])
            return true
        }
        if final { backToText([]) }
        return false
    }

    /// Calls in a ```json block: given out whole once the block is complete; one not valid JSON
    /// is code shown to the user, not a call, and one cut short (by `max_tokens` or a stop string)
    /// inside a call object is a call cut short. Unlike `<tool_call>`, a fence does not say a call
    /// follows. A block may hold several call objects one after the other (Qwen2.5-Coder writes
    /// parallel calls so); each must name one of the tools, or the whole block is code.
    private mutating func fencedCall(name: String, objectStart: Int, valueStart: Int, final: Bool, _ out: inout [Event]) -> Bool {
        let fence = Array("```".utf8)
        var calls: [(name: String, arguments: Range<Int>)] = []
        var (start, head) = (objectStart, (name: name, value: valueStart))
        func giveOut(_ calls: [(name: String, arguments: Range<Int>)]) {
            for c in calls {
                out.append(.start(index: callCount, id: makeID(), name: c.name))
                out.append(.arguments(index: callCount, String(decoding: buffer[c.arguments], as: UTF8.self)))
                callCount += 1
            }
        }
        scan: while true {
            switch ToolCallScanner.valueEnd(buffer, from: start) {
            case let .complete(e):
                guard JSON.parse(Array(buffer[start..<e])) != nil,
                      case let .complete(argsEnd) = ToolCallScanner.valueEnd(buffer, from: head.value) else { break scan }
                calls.append((head.name, head.value..<argsEnd))
                let after = ToolCallScanner.skipSpace(buffer, e)
                let closed = buffer[after...].starts(with: fence)
                if closed || final && after == buffer.count {
                    giveOut(calls)
                    backToText(buffer[min(after + (closed ? fence.count : 0), buffer.count)...])
                    return true
                }
                if !final && fence.starts(with: buffer[after...]) { return false }  // the closing fence, in part
                guard buffer[after] == UInt8(ascii: "{") else { break scan }  // other text: a code block
                switch ToolCallScanner.head(buffer, from: after, argsKeys: ["arguments", "parameters"]) {
                case let .match(n, v) where toolNames.contains(n): (start, head) = (after, (n, v))
                case .partial where !final: return false
                case .partial:
                    // The next call was cut in its head: the calls before it are whole. Cut before
                    // its name ended it is dropped; right before its arguments, a call cut short.
                    giveOut(calls)
                    if let n = ToolCallScanner.headBeforeValue(buffer, from: after, argsKeys: ["arguments", "parameters"]),
                       toolNames.contains(n) { callCutBeforeArguments(n, &out) }
                    backToText([])
                    return true
                default: break scan
                }
            case .incomplete where !final: return false
            case .incomplete:
                // Cut short (`max_tokens`, a stop string) once its head named a tool: from there the
                // functions' grammar held it to a call, so it is a call cut short, with the arguments
                // written so far, as in `<tool_call>` (it was given back as code).
                let argsEnd: Int
                if case let .complete(e) = ToolCallScanner.valueEnd(buffer, from: head.value) { argsEnd = e } else { argsEnd = buffer.count }
                calls.append((head.name, head.value..<argsEnd))
                giveOut(calls)
                cutShort = true
                backToText([])
                return true
            default: break scan
            }
        }
        emitContent(heldSpace[...] + fence, &out)
        backToText(buffer[...])
        return true
    }

    /// A bare call object (`decideStart`), given out whole once complete, as a fenced one: then
    /// another bare call may follow, or text. Cut short, it is a call cut short; not valid JSON,
    /// it is content.
    private mutating func bareCall(final: Bool, _ out: inout [Event]) -> Bool {
        guard case let .match(name, valueStart) = ToolCallScanner.head(buffer, from: 0, argsKeys: ["arguments", "parameters"]) else {
            if final, let name = ToolCallScanner.headBeforeValue(buffer, from: 0, argsKeys: ["arguments", "parameters"]),
               toolNames.contains(name) {
                // Cut right before its arguments (`decideStart` took it for that): a call cut short.
                callCutBeforeArguments(name, &out)
                bare = false
                doubled = false
                backToText([])
                return true
            }
            notBare()
            return true
        }
        switch ToolCallScanner.valueEnd(buffer, from: 0) {
        case let .complete(e):
            bare = false
            guard JSON.parse(Array(buffer[..<e])) != nil, case let .complete(argsEnd) = ToolCallScanner.valueEnd(buffer, from: valueStart) else {
                notBare()
                return true
            }
            out.append(.start(index: callCount, id: makeID(), name: name))
            out.append(.arguments(index: callCount, String(decoding: buffer[valueStart..<argsEnd], as: UTF8.self)))
            callCount += 1
            buffer = Array(buffer[e...])
            call = nil
            mode = .start
            return true
        case .incomplete where !final: return false
        case .incomplete:
            // Cut short (`max_tokens`, a stop string): a call cut short with the arguments written
            // so far, as a fenced or tagged call is (it was dropped: no call and no content).
            let argsEnd: Int
            if case let .complete(e) = ToolCallScanner.valueEnd(buffer, from: valueStart) { argsEnd = e } else { argsEnd = buffer.count }
            out.append(.start(index: callCount, id: makeID(), name: name))
            out.append(.arguments(index: callCount, String(decoding: buffer[valueStart..<argsEnd], as: UTF8.self)))
            callCount += 1
            bare = false
            doubled = false
            cutShort = true
            backToText([])
            return true
        case .invalid:
            notBare()
            return true
        }
    }

    /// The bare object is not a call after all: all of it is text again, with what came before it.
    private mutating func notBare() {
        bare = false
        backToText((bareOpen + buffer)[...])
        doubled = false
    }

    /// Call objects one after another (Llama 3: `;` between them; Mistral's array: `,` and a closing `]`).
    private mutating func objects(separators: [UInt8], terminator: UInt8?, final: Bool, _ out: inout [Event]) -> Bool {
        while true {
            if call == nil {
                var i = cursor
                while i < buffer.count, ToolCallScanner.isSpace(buffer[i]) || separators.contains(buffer[i]) { i += 1 }
                guard i < buffer.count else {
                    if final { backToText([]) }
                    return false
                }
                if let t = terminator, buffer[i] == t {
                    backToText(buffer[(i + 1)...])
                    return true
                }
                switch ToolCallScanner.head(buffer, from: i, argsKeys: [format.argumentsKey, format == .llama3 ? "arguments" : "parameters"]) {
                case let .match(name, valueStart):
                    startCall(name: name, objectStart: i, valueStart: valueStart, &out)
                case .partial where !final: return false
                default:
                    switch ToolCallScanner.valueEnd(buffer, from: i) {
                    case let .complete(e) where wholeCall(buffer[i..<e], &out):
                        cursor = e
                        continue
                    case .incomplete where !final: return false
                    default:
                        // Not a call: the rest is text.
                        backToText(buffer[i...])
                        return true
                    }
                }
            }
            guard let c = call, streamArguments(&out) != nil else {
                if final { cutShort = call != nil; backToText([]) }
                return false
            }
            switch ToolCallScanner.valueEnd(buffer, from: c.objectStart) {
            case let .complete(e):
                cursor = e
                call = nil
            case .incomplete:
                if final { backToText([]) }
                return false
            case .invalid:
                backToText([])
                return false
            }
        }
    }

    /// Mistral: an array of call objects, or `name[ARGS]{...}`.
    private mutating func mistralCalls(final: Bool, _ out: inout [Event]) -> Bool {
        if mistralArray == nil {
            let i = ToolCallScanner.skipSpace(buffer, 0)
            guard i < buffer.count else {
                if final { backToText([]) }
                return false
            }
            mistralArray = buffer[i] == UInt8(ascii: "[")
            if mistralArray! { cursor = i + 1 }
        }
        if mistralArray! { return objects(separators: Array(",".utf8), terminator: UInt8(ascii: "]"), final: final, &out) }
        if call == nil {
            let args = Array("[ARGS]".utf8)
            guard let r = Self.find(args, in: buffer, from: 0) else {
                // A name is short; a long run without [ARGS] is not a call.
                if final || buffer.count > 256 {
                    emitContent(Array("[TOOL_CALLS]".utf8)[...], &out)
                    backToText(buffer[...])
                    return true
                }
                return false
            }
            let name = String(decoding: buffer[..<r], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            let v = ToolCallScanner.skipSpace(buffer, r + args.count)
            guard v < buffer.count else {
                if final { backToText([]) }
                return false
            }
            startCall(name: name, objectStart: v, valueStart: v, &out)
        }
        guard let end = streamArguments(&out) else {
            if final { cutShort = true; backToText([]) }
            return false
        }
        backToText(buffer[end...])
        return true
    }

    static func find(_ needle: [UInt8], in hay: [UInt8], from: Int) -> Int? {
        guard needle.count <= hay.count else { return nil }
        var i = from
        while i + needle.count <= hay.count {
            if hay[i] == needle[0], hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }
}
