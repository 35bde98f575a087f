/// A template value: what the caller passes in and what expressions produce.
/// Mirrors the Python types Jinja templates see (str, int, float, bool, None, list, dict),
/// plus `undefined` for missing names and `handle` for interpreter-owned objects
/// (namespaces, macros, built-in functions), which only exist during a render.
public indirect enum Value: Sendable, Equatable {
    case undefined
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([Value])
    case object(OrderedObject)
    case handle(Handle)

    /// Opaque reference to something that lives inside one render (a namespace's
    /// storage, a macro, a built-in function). Callers cannot make meaningful ones;
    /// a stray one is treated as an unknown object, never trusted.
    public struct Handle: Sendable, Equatable {
        enum Kind: Sendable, Equatable {
            case namespace
            case macro
            case builtin(String)
            case loop
        }
        let kind: Kind
        let id: Int
    }
}

// MARK: - Building values from Swift

extension Value: ExpressibleByNilLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByStringLiteral, ExpressibleByArrayLiteral,
    ExpressibleByDictionaryLiteral
{
    public init(nilLiteral: ()) { self = .none }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(stringLiteral value: String) { self = .string(value) }
    public init(arrayLiteral elements: Value...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, Value)...) { self = .object(OrderedObject(elements)) }
}

extension Value {
    public init(_ value: String) { self = .string(value) }
    public init(_ value: Int) { self = .int(value) }
    public init(_ value: Double) { self = .double(value) }
    public init(_ value: Bool) { self = .bool(value) }
    public init(_ values: [Value]) { self = .array(values) }
    public init(_ object: OrderedObject) { self = .object(object) }
    public init(_ pairs: KeyValuePairs<String, Value>) {
        self = .object(OrderedObject(pairs.map { ($0.key, $0.value) }))
    }
    public init(_ value: String?) { self = value.map { .string($0) } ?? Value.none }
}

// MARK: - Python-like semantics shared by the interpreter

extension Value {
    /// Python truthiness; undefined is falsy, as Jinja's default `Undefined`.
    var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .array(let a): return !a.isEmpty
        case .object(let o): return !o.isEmpty
        case .handle: return true
        }
    }

    /// Python's type name, for error messages that read like Jinja's.
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .array: return "list"
        case .object: return "dict"
        case .handle(let h):
            switch h.kind {
            case .namespace: return "Namespace"
            case .macro: return "Macro"
            case .builtin: return "function"
            case .loop: return "LoopContext"
            }
        }
    }

    var isUndefined: Bool { if case .undefined = self { return true } else { return false } }

    /// Numeric view (bool counts as int, as in Python).
    var asNumber: Double? {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    var asInt: Int? {
        switch self {
        case .int(let i): return i
        case .bool(let b): return b ? 1 : 0
        default: return nil
        }
    }

    var asString: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}
