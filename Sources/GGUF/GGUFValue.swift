/// One metadata value of a GGUF file. An array's element type is checked while
/// parsing but not kept, so an empty array does not say what it would hold.
/// Not `indirect`: [GGUFValue] already lives on the heap, and boxing every element
/// would cost a heap allocation per array item (a hostile file has millions).
public enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16)
    case uint32(UInt32), int32(Int32), uint64(UInt64), int64(Int64)
    case float32(Float), float64(Double), bool(Bool), string(String)
    case array([GGUFValue])

    /// Any integer type, when it fits in Int.
    public var intValue: Int? {
        switch self {
        case let .uint8(v): return Int(v)
        case let .int8(v): return Int(v)
        case let .uint16(v): return Int(v)
        case let .int16(v): return Int(v)
        case let .uint32(v): return Int(v)
        case let .int32(v): return Int(v)
        case let .uint64(v): return v <= UInt64(Int.max) ? Int(v) : nil
        case let .int64(v): return Int(v)
        case let .bool(v): return v ? 1 : 0
        default: return nil
        }
    }

    public var doubleValue: Double? {
        switch self {
        case let .float32(v): return Double(v)
        case let .float64(v): return v
        default: return intValue.map(Double.init)
        }
    }

    public var floatValue: Float? { doubleValue.map(Float.init) }

    public var boolValue: Bool? {
        if case let .bool(v) = self { return v }
        return intValue.map { $0 != 0 }
    }

    public var stringValue: String? {
        if case let .string(v) = self { return v }
        return nil
    }

    public var arrayValue: [GGUFValue]? {
        if case let .array(v) = self { return v }
        return nil
    }

    public var stringArray: [String]? {
        guard let a = arrayValue else { return nil }
        var out: [String] = []
        out.reserveCapacity(a.count)
        for v in a { guard let s = v.stringValue else { return nil }; out.append(s) }
        return out
    }

    public var int32Array: [Int32]? {
        guard let a = arrayValue else { return nil }
        var out: [Int32] = []
        out.reserveCapacity(a.count)
        for v in a { guard let i = v.intValue, let x = Int32(exactly: i) else { return nil }; out.append(x) }
        return out
    }

    public var floatArray: [Float]? {
        guard let a = arrayValue else { return nil }
        var out: [Float] = []
        out.reserveCapacity(a.count)
        for v in a { guard let f = v.floatValue else { return nil }; out.append(f) }
        return out
    }
}
