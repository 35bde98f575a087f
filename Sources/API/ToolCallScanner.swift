/// Byte-level looks into JSON the model is still writing: where a value ends (if it has
/// ended yet) and whether a call object's head (`{"name": "f", "arguments": `) is there, may
/// still come, or cannot. Each answer depends only on the bytes given, never on how they
/// arrived, so streamed and whole parses agree.
enum ToolCallScanner {
    enum Scan: Equatable {
        case complete(Int)   // index just past the value
        case incomplete
        case invalid
    }

    enum Head: Equatable {
        case match(name: String, valueStart: Int)
        case partial
        case fail
    }

    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }

    static func skipSpace(_ b: [UInt8], _ i: Int) -> Int {
        var i = i
        while i < b.count, isSpace(b[i]) { i += 1 }
        return i
    }

    /// The extent of the JSON value starting at `i` (no leading whitespace). Structure only:
    /// brackets, strings and escapes; a bare scalar ends at the first byte that cannot be in one.
    static func valueEnd(_ b: [UInt8], from i: Int) -> Scan {
        guard i < b.count else { return .incomplete }
        var stack: [UInt8] = []
        var j = i
        var inString = false, escaped = false
        let c0 = b[i]
        if c0 != UInt8(ascii: "{") && c0 != UInt8(ascii: "[") && c0 != UInt8(ascii: "\"") {
            let scalar = Set(Array("-+.0123456789eEtruefalsn".utf8))
            guard scalar.contains(c0) else { return .invalid }
            while j < b.count, scalar.contains(b[j]) { j += 1 }
            return j < b.count ? .complete(j) : .incomplete
        }
        while j < b.count {
            let c = b[j]
            j += 1
            if inString {
                if escaped { escaped = false } else if c == UInt8(ascii: "\\") { escaped = true } else if c == UInt8(ascii: "\"") {
                    inString = false
                    if stack.isEmpty { return .complete(j) }
                }
                continue
            }
            switch c {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): stack.append(c)
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                guard let open = stack.popLast(), (open == UInt8(ascii: "{")) == (c == UInt8(ascii: "}")) else { return .invalid }
                if stack.isEmpty { return .complete(j) }
            default: break
            }
        }
        return .incomplete
    }

    /// Matches `{ "name" : "<name>" , "<argsKey>" : ` at `i` (either of `argsKeys`), up to the
    /// first byte of the arguments value.
    static func head(_ b: [UInt8], from i: Int, argsKeys: [String]) -> Head {
        var i = i
        func literal(_ s: String) -> Head? {
            for c in s.utf8 {
                guard i < b.count else { return .partial }
                guard b[i] == c else { return .fail }
                i += 1
            }
            return nil
        }
        func space() -> Head? {
            i = skipSpace(b, i)
            return i < b.count ? nil : .partial
        }
        if let r = literal("{") { return r }
        if let r = space() { return r }
        if let r = literal("\"name\"") { return r }
        if let r = space() { return r }
        if let r = literal(":") { return r }
        if let r = space() { return r }
        guard b[i] == UInt8(ascii: "\"") else { return .fail }
        switch valueEnd(b, from: i) {
        case .incomplete: return .partial
        case .invalid: return .fail
        case let .complete(end):
            guard case let .string(name)? = JSON.parse(Array(b[i..<end])) else { return .fail }
            i = end
            if let r = space() { return r }
            if let r = literal(",") { return r }
            if let r = space() { return r }
            // Which key: the longest common start decides partial against fail.
            let start = i
            var best: Head = .fail
            for key in argsKeys {
                i = start
                let r = literal("\"" + key + "\"")
                if r == nil {
                    if let r2 = space() { return r2 }
                    if let r3 = literal(":") { return r3 }
                    if let r4 = space() { return r4 }
                    return .match(name: name, valueStart: i)
                }
                if r == .partial { best = .partial }
            }
            return best
        }
    }

    /// A head complete up to its arguments value, where the text ends (`max_tokens` or a stop
    /// string cut it there): the call's name.
    static func headBeforeValue(_ b: [UInt8], from i: Int, argsKeys: [String]) -> String? {
        guard case let .match(name, valueStart) = head(b + [UInt8(ascii: "{")], from: i, argsKeys: argsKeys),
              valueStart == b.count else { return nil }
        return name
    }

    /// Where the text ends inside a call head before its arguments (`head` gave `.partial`): the
    /// name written so far ("" before its value begins), and whether it is whole. Its escapes
    /// are not read (a name is a plain identifier); nil when the text is no such start.
    static func nameSoFar(_ b: [UInt8], from i: Int) -> (text: String, whole: Bool)? {
        var i = i
        func literal(_ s: String) -> Bool? {  // true: matched, false: text ended inside, nil: mismatch
            for c in s.utf8 {
                guard i < b.count else { return false }
                guard b[i] == c else { return nil }
                i += 1
            }
            return true
        }
        for part in ["{", "\"name\"", ":", "\""] {
            i = skipSpace(b, i)
            guard i < b.count else { return ("", false) }
            switch literal(part) {
            case true?: continue
            case false?: return ("", false)
            case nil: return nil
            }
        }
        guard let close = b[i...].firstIndex(of: UInt8(ascii: "\"")) else { return (String(decoding: b[i...], as: UTF8.self), false) }
        return (String(decoding: b[i..<close], as: UTF8.self), true)
    }

    /// The object inside `{{…}}` (its outer `}` may be missing, as a bare call's may):
    /// Qwen2.5-Coder's chat template shows its calls with doubled braces, and the models copy them.
    static func undoubled(_ b: [UInt8]) -> [UInt8]? {
        let i = skipSpace(b, 0)
        guard i < b.count, b[i] == UInt8(ascii: "{") else { return nil }
        let j = skipSpace(b, i + 1)
        guard j < b.count, b[j] == UInt8(ascii: "{") else { return nil }
        var e = b.count
        while e > j, b[e - 1] == 0x20 || b[e - 1] == 0x0A || b[e - 1] == 0x0D || b[e - 1] == 0x09 { e -= 1 }
        if JSON.parse(Array(b[j..<e])) != nil { return Array(b[j..<e]) }
        guard e > j + 1, b[e - 1] == UInt8(ascii: "}") else { return nil }
        return Array(b[j..<(e - 1)])
    }

    /// A whole call object, parsed after the fact (keys in any order, arguments as an object
    /// or as a JSON string): (name, arguments text), or nil. The arguments are written again
    /// compactly with each number as the model wrote it (`JSON.number` keeps the text): through a
    /// Double, a 20-digit id would change and `1.0` become `1`.
    /// `undouble`: `{{…}}` holds the call (Hermes: `undoubled`).
    static func wholeCall(_ b: [UInt8], undouble: Bool = false) -> (name: String, arguments: String)? {
        guard case let .object(fields)? = JSON.parse(b) ?? (undouble ? undoubled(b).flatMap({ JSON.parse($0) }) : nil) else { return nil }
        var fs = fields
        // {"type": "function", "function": {...}}, as some fine-tunes echo OpenAI's shape.
        if case let .object(inner)? = fs.last(where: { $0.0 == "function" })?.1 { fs = inner }
        guard case let .string(name)? = fs.last(where: { $0.0 == "name" })?.1, !name.isEmpty else { return nil }
        switch fs.last(where: { $0.0 == "arguments" || $0.0 == "parameters" })?.1 {
        case let .string(s)?: return (name, s)
        case let v?: return (name, v.serialized)
        case nil: return (name, "{}")
        }
    }
}
