import Foundation
import Grammar

/// A JSON value. Requests are decoded into it first so each field can be checked
/// with an error that names it; responses are built from it with keys in order.
public indirect enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    /// `text`: the number as a request wrote it (kept, so a schema or arguments written again
    /// keep a 20-digit integer or `1.0` as given; a Double alone would round or shorten them).
    /// Only the parser sets it (valid JSON, and the Double's own text): `serialized` writes it as is.
    case number(Double, text: String? = nil)
    case string(String)
    case array([JSON])
    case object([(String, JSON)])

    public static func == (a: JSON, b: JSON) -> Bool {
        switch (a, b) {
        case (.null, .null): return true
        case let (.bool(x), .bool(y)): return x == y
        case let (.number(x, _), .number(y, _)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    /// A request's number written as an integer (no point, no exponent): its digits, else nil.
    var integerText: String? {
        guard case let .number(_, text?) = self, !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) else { return nil }
        return text
    }

    public subscript(key: String) -> JSON? {
        if case let .object(fields) = self { return fields.last { $0.0 == key }?.1 }
        return nil
    }

    /// Parses bytes; nil when they are not one JSON value. Object keys keep the document's
    /// order (a schema's properties are generated in it); a repeated key's last value wins on
    /// lookup, as with a dictionary.
    public static func parse(_ bytes: [UInt8]) -> JSON? { try? parseExplained(bytes) }

    /// As `parse`, throwing why the bytes are not one JSON value (where, or nested too deep).
    public static func parseExplained(_ bytes: [UInt8]) throws -> JSON {
        from(try JSONValue.parse(bytes: bytes, maxDepth: maxDepth))
    }

    /// Deepest nesting a request body may have.
    public static let maxDepth = 512

    private static func from(_ v: JSONValue) -> JSON {
        switch v {
        case .null: return .null
        case let .bool(b): return .bool(b)
        case let .number(d, text): return .number(d, text: text)
        case let .string(s): return .string(s)
        case let .array(a): return .array(a.map(from))
        case let .object(f): return .object(f.map { ($0.0, from($0.1)) })
        }
    }

    /// Compact serialization with keys in the order given.
    public var serialized: String {
        var s = ""
        write(to: &s)
        return s
    }

    public func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .number(n, text): out += text ?? JSON.format(n)
        case let .string(str): JSON.escape(str, into: &out)
        case let .array(a):
            out += "["
            for (i, v) in a.enumerated() { if i > 0 { out += "," }; v.write(to: &out) }
            out += "]"
        case let .object(fields):
            out += "{"
            for (i, (k, v)) in fields.enumerated() {
                if i > 0 { out += "," }
                JSON.escape(k, into: &out)
                out += ":"
                v.write(to: &out)
            }
            out += "}"
        }
    }

    static func format(_ n: Double) -> String {
        guard n.isFinite else { return "null" }
        // Whole numbers (to just under 2^63) as digits, not "9007199254740992.0" (valid JSON either way).
        if n == n.rounded(), abs(n) < 9.2e18 { return String(Int64(n)) }
        return "\(n)"
    }

    static func escape(_ s: String, into out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20:
                let h = String(u.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
            default: out.unicodeScalars.append(u)
            }
        }
        out += "\""
    }
}

extension JSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral, ExpressibleByFloatLiteral {
    public init(stringLiteral v: String) { self = .string(v) }
    public init(integerLiteral v: Int) { self = .number(Double(v)) }
    public init(floatLiteral v: Double) { self = .number(v) }
    public init(booleanLiteral v: Bool) { self = .bool(v) }
    public init(arrayLiteral v: JSON...) { self = .array(v) }
    public init(dictionaryLiteral v: (String, JSON)...) { self = .object(v) }
    public init(nilLiteral: ()) { self = .null }
    public init(_ i: Int) { self = .number(Double(i)) }
    public init(_ f: Float) { self = .number(Double(f)) }
    public init(_ s: String?) { self = s.map { .string($0) } ?? .null }
}
