/// The value the start of a JSON text gives, as Anthropic's SDK reads a tool call's input from
/// its streamed pieces (jiter's partial mode): open objects and arrays are closed with what is
/// complete in them; a string, literal or number cut short (`"Par`, `tru`, `1.`) and a key
/// without its value are left out; a number whose digits end the text counts as written. So a
/// whole answer's cut call has the input its stream adds up to. Nesting past jiter's limit (200
/// levels, where the SDK's stream reader fails) is not JSON here either: bounded recursion.
enum PartialJSON {
    /// The value, nil for an empty or dropped one; nil too when the text is not JSON's start.
    static func parse(_ text: String) -> JSON? {
        var p = Parser(bytes: Array(text.utf8))
        guard let (value, _) = try? p.value() else { return nil }
        return value
    }

    private struct Cut: Error {}  // not the start of a JSON text

    private struct Parser {
        /// A value left out (typed: JSON's own nil literal would read as `null`).
        static let dropped: JSON? = .none
        static let maxDepth = 200
        let bytes: [UInt8]
        var i = 0
        var depth = 0

        mutating func skipSpace() {
            while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
        }

        /// A value and whether it is complete (an incomplete container keeps what it has).
        mutating func value() throws -> (JSON?, Bool) {
            skipSpace()
            guard i < bytes.count else { return (Self.dropped, false) }
            switch bytes[i] {
            case UInt8(ascii: "{"): return try object()
            case UInt8(ascii: "["): return try array()
            case UInt8(ascii: "\""):
                guard let s = try string() else { return (Self.dropped, false) }
                return (.string(s), true)
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "n"): return try literal("null", .null)
            default: return try number()
            }
        }

        mutating func object() throws -> (JSON?, Bool) {
            i += 1
            depth += 1
            defer { depth -= 1 }
            guard depth <= Self.maxDepth else { throw Cut() }
            var fields: [(String, JSON)] = []
            while true {
                skipSpace()
                guard i < bytes.count else { return (.object(fields), false) }
                if bytes[i] == UInt8(ascii: "}") { i += 1; return (.object(fields), true) }
                if bytes[i] == UInt8(ascii: ",") && !fields.isEmpty { i += 1; skipSpace() }
                guard i < bytes.count else { return (.object(fields), false) }
                guard bytes[i] == UInt8(ascii: "\"") else { throw Cut() }
                guard let key = try string() else { return (.object(fields), false) }
                skipSpace()
                guard i < bytes.count else { return (.object(fields), false) }
                guard bytes[i] == UInt8(ascii: ":") else { throw Cut() }
                i += 1
                let (v, complete) = try value()
                if let v { fields.append((key, v)) }
                if !complete { return (.object(fields), false) }
            }
        }

        mutating func array() throws -> (JSON?, Bool) {
            i += 1
            depth += 1
            defer { depth -= 1 }
            guard depth <= Self.maxDepth else { throw Cut() }
            var items: [JSON] = []
            while true {
                skipSpace()
                guard i < bytes.count else { return (.array(items), false) }
                if bytes[i] == UInt8(ascii: "]") { i += 1; return (.array(items), true) }
                if bytes[i] == UInt8(ascii: ",") && !items.isEmpty { i += 1 }
                let (v, complete) = try value()
                if let v { items.append(v) }
                if !complete { return (.array(items), false) }
            }
        }

        /// A whole string, or nil when the text ends inside it.
        mutating func string() throws -> String? {
            let start = i
            i += 1
            while i < bytes.count {
                switch bytes[i] {
                case UInt8(ascii: "\\"): i += 2
                case UInt8(ascii: "\""):
                    i += 1
                    guard case let .string(s)? = JSON.parse(Array(bytes[start..<i])) else { throw Cut() }
                    return s
                default: i += 1
                }
            }
            i = bytes.count
            return nil
        }

        mutating func literal(_ word: String, _ v: JSON) throws -> (JSON?, Bool) {
            let w = Array(word.utf8)
            let n = min(w.count, bytes.count - i)
            guard bytes[i..<(i + n)].elementsEqual(w[..<n]) else { throw Cut() }
            i += n
            return n == w.count ? (v, true) : (Self.dropped, false)
        }

        mutating func number() throws -> (JSON?, Bool) {
            let start = i
            while i < bytes.count, "+-0123456789.eE".utf8.contains(bytes[i]) { i += 1 }
            guard i > start else { throw Cut() }
            let parsed = JSON.parse(Array(bytes[start..<i]))
            if i == bytes.count {
                // Cut where it ends: kept only if what is written is a number (`12`, not `1.`).
                if case .number? = parsed { return (parsed, false) }
                return (Self.dropped, false)
            }
            guard case .number? = parsed else { throw Cut() }
            return (parsed, true)
        }
    }
}
