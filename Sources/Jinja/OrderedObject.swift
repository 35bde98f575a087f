/// A string-keyed dictionary that remembers insertion order, as Python dicts do:
/// `tojson`, `items()` and iteration must list keys in the order the caller gave them.
public struct OrderedObject: Sendable, Equatable {
    public private(set) var keys: [String] = []
    public private(set) var values: [Value] = []
    /// Key -> position in `keys`/`values`, so lookups stay O(1) on large objects.
    private var index: [String: Int] = [:]

    public init() {}

    public init(_ pairs: [(String, Value)]) {
        for (k, v) in pairs { self[k] = v }
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    public subscript(key: String) -> Value? {
        get { index[key].map { values[$0] } }
        set {
            if let i = index[key] {
                if let v = newValue {
                    values[i] = v
                } else {
                    keys.remove(at: i)
                    values.remove(at: i)
                    index[key] = nil
                    // Removal shifts later positions; rebuilding keeps the index exact.
                    for j in i..<keys.count { index[keys[j]] = j }
                }
            } else if let v = newValue {
                index[key] = keys.count
                keys.append(key)
                values.append(v)
            }
        }
    }

    public func contains(_ key: String) -> Bool { index[key] != nil }

    /// Pairs in insertion order.
    public var pairs: [(key: String, value: Value)] {
        var out: [(key: String, value: Value)] = []
        out.reserveCapacity(keys.count)
        for i in 0..<keys.count { out.append((keys[i], values[i])) }
        return out
    }

    public static func == (a: OrderedObject, b: OrderedObject) -> Bool {
        // Python dict equality ignores order.
        guard a.count == b.count else { return false }
        for (i, k) in a.keys.enumerated() {
            guard let v = b[k], v == a.values[i] else { return false }
        }
        return true
    }
}
