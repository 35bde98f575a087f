import Jinja
import Tokenizer

/// Control-token text in what a request gives the chat template (messages' content, names and
/// tool calls, the tools, `chat_template_kwargs`), swapped for private-use placeholders while
/// the template renders and put back after (`restore`), so the prompt knows which of its
/// "<|im_end|>"s the request wrote. A template may trim, join or quote a string; a placeholder,
/// one character that no string of the request or the template's output holds, survives that.
struct ContentGuard {
    /// The template's inputs, their control-token text replaced by placeholders.
    private(set) var messages: [ChatTemplate.Message]
    private(set) var tools: [Value]?
    private(set) var variables: [String: Value]
    /// Each placeholder's text.
    private var texts: [Unicode.Scalar: String] = [:]
    private var placeholder: [String: Unicode.Scalar] = [:]
    private var used: Set<Unicode.Scalar>
    private let tokenizer: Tokenizer

    /// nil when no string holds control-token text: the prompt is `rendered`, the template's
    /// output for the inputs as they are, whose characters no placeholder takes. Throws when
    /// the request and the prompt hold every private-use character.
    init?(_ messages: [ChatTemplate.Message], tools: [Value]?, variables: [String: Value], tokenizer: Tokenizer,
          rendered: String) throws {
        var strings: [String] = []
        for m in messages {
            strings += [m.content, m.name ?? "", m.toolCallID ?? ""]
            m.toolCalls?.forEach { Self.collect($0, into: &strings) }
        }
        tools?.forEach { Self.collect($0, into: &strings) }
        variables.forEach { strings.append($0.key); Self.collect($0.value, into: &strings) }
        guard strings.contains(where: { !tokenizer.controlTextRanges($0).isEmpty }) else { return nil }
        // Neither a character nor a `\uXXXX` escape a placeholder could be taken for.
        var used = Set(rendered.unicodeScalars).union(Self.escapedScalars(rendered))
        for s in strings { used.formUnion(s.unicodeScalars); used.formUnion(Self.escapedScalars(s)) }
        (self.messages, self.tools, self.variables, self.used, self.tokenizer) = (messages, tools, variables, used, tokenizer)
        for k in self.messages.indices {
            let m = messages[k]
            self.messages[k].content = try guarded(m.content)
            if let n = m.name { self.messages[k].name = try guarded(n) }
            if let id = m.toolCallID { self.messages[k].toolCallID = try guarded(id) }
            if let calls = m.toolCalls { self.messages[k].toolCalls = try guardedArray(calls) }
        }
        if let tools { self.tools = try guardedArray(tools) }
        var guardedVariables: [String: Value] = [:]
        for (key, value) in variables { guardedVariables[try guarded(key)] = try guarded(value) }
        self.variables = guardedVariables
    }

    private mutating func guardedArray(_ a: [Value]) throws -> [Value] {
        var out: [Value] = []
        for v in a { out.append(try guarded(v)) }
        return out
    }

    private static func collect(_ v: Value, into out: inout [String]) {
        switch v {
        case let .string(s): out.append(s)
        case let .array(a): a.forEach { collect($0, into: &out) }
        case let .object(o): o.pairs.forEach { out.append($0.key); collect($0.value, into: &out) }
        default: break
        }
    }

    private mutating func guarded(_ v: Value) throws -> Value {
        switch v {
        case let .string(s): return .string(try guarded(s))
        case let .array(a): return .array(try guardedArray(a))
        case let .object(o):
            var pairs: [(String, Value)] = []
            for (key, value) in o.pairs { pairs.append((try guarded(key), try guarded(value))) }
            return .object(OrderedObject(pairs))
        default: return v
        }
    }

    /// `s` with each control-token text replaced by its placeholder.
    private mutating func guarded(_ s: String) throws -> String {
        let ranges = tokenizer.controlTextRanges(s)
        guard !ranges.isEmpty else { return s }
        let bytes = Array(s.utf8)
        var out = ""
        var at = 0
        for r in ranges {
            out += String(decoding: bytes[at..<r.lowerBound], as: UTF8.self)
            let text = String(decoding: bytes[r], as: UTF8.self)
            out.unicodeScalars.append(try placeholder(for: text))
            at = r.upperBound
        }
        return out + String(decoding: bytes[at...], as: UTF8.self)
    }

    private mutating func placeholder(for text: String) throws -> Unicode.Scalar {
        if let c = placeholder[text] { return c }
        // The private-use areas: the Basic Multilingual Plane's, then planes 15 and 16.
        let areas: [ClosedRange<UInt32>] = [0xE000...0xF8FF, 0xF0000...0xFFFFD, 0x100000...0x10FFFD]
        guard let c = areas.lazy.joined().compactMap(Unicode.Scalar.init).first(where: { !used.contains($0) }) else {
            throw APIError.invalid("The request holds every private-use character, so its control-token text cannot be kept apart.",
                                   param: "messages")
        }
        used.insert(c)
        placeholder[text] = c
        texts[c] = text
        return c
    }

    /// The template's output for the guarded inputs with each placeholder's text back in place
    /// and marked plain. A placeholder a template wrote as a JSON escape (`tojson` with
    /// `ensure_ascii`) comes back escaped the same way.
    func restore(_ marked: String) -> PromptText {
        var out: [UInt8] = []
        var plain: [Range<Int>] = []
        func put(_ text: String) {
            let start = out.count
            out.append(contentsOf: text.utf8)
            plain.append(start..<out.count)
        }
        let scalars = Array(marked.unicodeScalars)
        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            if let text = texts[c] {
                put(text)
            } else if c == "\\", let (escaped, width) = escape(at: i, in: scalars) {
                put(escaped)
                i += width
                continue
            } else {
                out.append(contentsOf: String(c).utf8)
            }
            i += 1
        }
        return PromptText(text: String(decoding: out, as: UTF8.self), plain: plain)
    }

    /// A `\uXXXX` (or a surrogate pair of them) at `i` that spells a placeholder: its text as
    /// an ASCII-only JSON string's inside, and how many characters the escape takes.
    private func escape(at i: Int, in s: [Unicode.Scalar]) -> (String, Int)? {
        guard let first = Self.unit(at: i, in: s) else { return nil }
        var value = first, width = 6
        if (0xD800..<0xDC00).contains(first) {
            guard let low = Self.unit(at: i + 6, in: s), let pair = Self.pair(first, low) else { return nil }
            value = pair
            width = 12
        }
        guard let c = Unicode.Scalar(value), let text = texts[c] else { return nil }
        // As the template engine writes it (Python's json.dumps), the quotes left out.
        guard let quoted = try? Self.asciiJSON?.render(["text": .string(text)]), quoted.count >= 2 else { return nil }
        return (String(quoted.dropFirst().dropLast()), width)
    }

    /// The template engine's own ASCII-only JSON string (`tojson(ensure_ascii=True)`).
    private static let asciiJSON = try? Template("{{ text | tojson(ensure_ascii=True) }}")

    /// The value of a `\uXXXX` escape at `at`.
    private static func unit(at: Int, in s: [Unicode.Scalar]) -> UInt32? {
        guard at + 6 <= s.count, s[at] == "\\", s[at + 1] == "u" else { return nil }
        let digits = s[at + 2..<at + 6]
        guard digits.allSatisfy({ $0.properties.isASCIIHexDigit }) else { return nil }
        return UInt32(String(String.UnicodeScalarView(digits)), radix: 16)
    }

    /// The character a surrogate pair stands for, or nil when `low` is none.
    private static func pair(_ high: UInt32, _ low: UInt32) -> UInt32? {
        (0xDC00..<0xE000).contains(low) ? 0x10000 + (high - 0xD800) << 10 + (low - 0xDC00) : nil
    }

    /// The characters `\uXXXX` escapes in `text` spell (a surrogate pair's too).
    private static func escapedScalars(_ text: String) -> Set<Unicode.Scalar> {
        let s = Array(text.unicodeScalars)
        var out = Set<Unicode.Scalar>()
        var i = 0, high: UInt32? = nil
        while i + 6 <= s.count {
            guard let v = unit(at: i, in: s) else {
                i += 1
                high = nil
                continue
            }
            if let h = high, let pair = pair(h, v), let c = Unicode.Scalar(pair) { out.insert(c) }
            if let c = Unicode.Scalar(v) { out.insert(c) }
            high = (0xD800..<0xDC00).contains(v) ? v : nil
            i += 6
        }
        return out
    }
}
