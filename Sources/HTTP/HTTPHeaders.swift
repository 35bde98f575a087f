/// Ordered header fields. Names keep their original spelling; lookups ignore ASCII case.
/// Repeated fields stay separate entries, in arrival order.
public struct HTTPHeaders: Sendable, Sequence, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    public private(set) var fields: [(name: String, value: String)] = []

    public init() {}
    public init(_ fields: [(String, String)]) { self.fields = fields.map { (name: $0.0, value: $0.1) } }
    public init(dictionaryLiteral elements: (String, String)...) { self.init(elements) }

    public var count: Int { fields.count }
    public var isEmpty: Bool { fields.isEmpty }

    public mutating func add(name: String, value: String) { fields.append((name: name, value: value)) }

    /// Replaces every field called `name` by a single one.
    public mutating func replaceOrAdd(name: String, value: String) {
        remove(name: name)
        add(name: name, value: value)
    }

    public mutating func remove(name: String) { fields.removeAll { Self.equalsIgnoringCase($0.name, name) } }

    /// First value for `name`, or nil.
    public subscript(_ name: String) -> String? { first(name: name) }

    public func first(name: String) -> String? {
        for field in fields where Self.equalsIgnoringCase(field.name, name) { return field.value }
        return nil
    }

    /// All values for `name`, in order (repeated fields).
    public func values(name: String) -> [String] {
        fields.filter { Self.equalsIgnoringCase($0.name, name) }.map(\.value)
    }

    public func contains(name: String) -> Bool { first(name: name) != nil }

    /// Comma-separated list members across every field called `name`, trimmed and lowercased
    /// (for Connection, Transfer-Encoding, Accept-Encoding ...).
    public func tokens(name: String) -> [String] {
        var result: [String] = []
        for value in values(name: name) {
            for part in value.split(separator: ",", omittingEmptySubsequences: false) {
                result.append(Self.trimOWS(Substring(part)).lowercased())
            }
        }
        return result
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }

    public var description: String { fields.map { "\($0.name): \($0.value)" }.joined(separator: "\n") }

    /// ASCII case-insensitive comparison; header names are ASCII tokens, so no Unicode folding is needed.
    @inlinable
    public static func equalsIgnoringCase(_ a: String, _ b: String) -> Bool {
        if a.utf8.count != b.utf8.count { return false }  // O(1) for native strings; most lookups end here
        var ia = a.utf8.makeIterator(), ib = b.utf8.makeIterator()
        while true {
            switch (ia.next(), ib.next()) {
            case (nil, nil): return true
            case let (x?, y?):
                if x == y { continue }
                let lx = (x >= 65 && x <= 90) ? x | 0x20 : x
                let ly = (y >= 65 && y <= 90) ? y | 0x20 : y
                if lx != ly { return false }
            default: return false
            }
        }
    }

    static func trimOWS(_ s: Substring) -> String {
        var view = s[...]
        while let f = view.first, f == " " || f == "\t" { view = view.dropFirst() }
        while let l = view.last, l == " " || l == "\t" { view = view.dropLast() }
        return String(view)
    }
}
