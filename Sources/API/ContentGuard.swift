import Tokenizer

/// Control-token text in the messages' content, swapped for private-use placeholders while the
/// chat template renders and put back after (`restore`), so the prompt knows which of its
/// "<|im_end|>"s a message wrote. A template may trim, join or quote a message's text; a
/// placeholder, one character that no message or template text holds, survives all of that.
struct ContentGuard {
    /// The messages, their control-token text replaced by placeholders.
    let messages: [ChatTemplate.Message]
    /// Each placeholder's text.
    private let texts: [Unicode.Scalar: String]

    /// nil when no message content holds control-token text: the prompt is `rendered`, the
    /// template's output for `messages` as they are, whose characters no placeholder takes.
    /// Throws when the messages and the prompt hold every private-use character.
    init?(_ messages: [ChatTemplate.Message], tokenizer: Tokenizer, rendered: String) throws {
        let found = messages.map { tokenizer.controlTextRanges($0.content) }
        guard found.contains(where: { !$0.isEmpty }) else { return nil }
        // Neither a character nor a `\\uXXXX` escape a placeholder could be taken for.
        var used = Set(rendered.unicodeScalars).union(Self.escapedScalars(rendered))
        for m in messages { used.formUnion(m.content.unicodeScalars); used.formUnion(Self.escapedScalars(m.content)) }
        // The private-use areas: the Basic Multilingual Plane's, then planes 15 and 16.
        var candidates = [UInt32(0xE000)...0xF8FF, 0xF0000...0xFFFFD, 0x100000...0x10FFFD].lazy.joined()
            .compactMap(Unicode.Scalar.init).filter { !used.contains($0) }.makeIterator()
        var placeholder: [String: Unicode.Scalar] = [:]
        var texts: [Unicode.Scalar: String] = [:]
        var guarded = messages
        for (k, ranges) in found.enumerated() where !ranges.isEmpty {
            let bytes = Array(messages[k].content.utf8)
            var out = ""
            var at = 0
            for r in ranges {
                out += String(decoding: bytes[at..<r.lowerBound], as: UTF8.self)
                let text = String(decoding: bytes[r], as: UTF8.self)
                if placeholder[text] == nil {
                    guard let c = candidates.next() else {
                        throw APIError.invalid("The messages hold every private-use character, so their control-token text cannot be kept apart.",
                                               param: "messages")
                    }
                    placeholder[text] = c
                    texts[c] = text
                }
                out.unicodeScalars.append(placeholder[text]!)
                at = r.upperBound
            }
            out += String(decoding: bytes[at...], as: UTF8.self)
            guarded[k].content = out
        }
        self.messages = guarded
        self.texts = texts
    }

    /// The template's output for `messages` with each placeholder's text back in place and
    /// marked plain. A placeholder a template wrote as a JSON escape (`tojson` with
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
        func unit(_ at: Int) -> UInt32? {
            guard at + 6 <= s.count, s[at] == "\\", s[at + 1] == "u" else { return nil }
            return UInt32(String(String.UnicodeScalarView(s[at + 2..<at + 6])), radix: 16)
        }
        guard let first = unit(i) else { return nil }
        var value = first, width = 6
        if (0xD800..<0xDC00).contains(first) {
            guard let low = unit(i + 6), (0xDC00..<0xE000).contains(low) else { return nil }
            value = 0x10000 + (first - 0xD800) << 10 + (low - 0xDC00)
            width = 12
        }
        guard let c = Unicode.Scalar(value), let text = texts[c] else { return nil }
        var json = ""
        for u in text.unicodeScalars {
            switch u {
            case "\"": json += "\\\""
            case "\\": json += "\\\\"
            case "\n": json += "\\n"
            case "\r": json += "\\r"
            case "\t": json += "\\t"
            case _ where u.value < 0x20 || u.value > 0x7F:
                for w in String(u).utf16 { json += "\\u" + hex4(w) }
            default: json.unicodeScalars.append(u)
            }
        }
        return (json, width)
    }

    /// The characters `\\uXXXX` escapes in `text` spell (a surrogate pair's too).
    private static func escapedScalars(_ text: String) -> Set<Unicode.Scalar> {
        let s = Array(text.unicodeScalars)
        var out = Set<Unicode.Scalar>()
        var i = 0, high: UInt32? = nil
        while i + 6 <= s.count {
            guard s[i] == "\\", s[i + 1] == "u", let v = UInt32(String(String.UnicodeScalarView(s[i + 2..<i + 6])), radix: 16) else {
                i += 1
                high = nil
                continue
            }
            if let h = high, (0xDC00..<0xE000).contains(v), let c = Unicode.Scalar(0x10000 + (h - 0xD800) << 10 + (v - 0xDC00)) {
                out.insert(c)
            }
            if let c = Unicode.Scalar(v) { out.insert(c) }
            high = (0xD800..<0xDC00).contains(v) ? v : nil
            i += 6
        }
        return out
    }

    private func hex4(_ w: UInt16) -> String {
        let h = String(w, radix: 16)
        return String(repeating: "0", count: 4 - h.count) + h
    }
}
