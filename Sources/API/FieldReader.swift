/// Reads typed fields of a JSON request object, each mistake a 400 naming the field.
struct FieldReader {
    let object: [(String, JSON)]
    /// The field this object is the value of (`input[2]`): errors name `input[2].key`. Nil: the body.
    let parent: String?
    /// The keys asked for so far (a reference: copies of the reader share it).
    private let asked = AskedKeys()

    private final class AskedKeys {
        var keys: Set<String> = []
    }

    init(_ json: JSON, parent: String? = nil) throws {
        guard case let .object(fields) = json else {
            throw parent.map { APIError.invalid("`\($0)` must be an object.", param: $0) } ?? APIError.invalid("The request body must be a JSON object.")
        }
        object = fields
        self.parent = parent
    }

    /// A key's name in errors: under the parent, if any.
    func name(_ key: String) -> String { parent.map { "\($0).\(key)" } ?? key }

    func raw(_ key: String) -> JSON? {
        asked.keys.insert(key)
        guard let v = object.last(where: { $0.0 == key })?.1 else { return nil }
        if case .null = v { return nil }
        return v
    }

    func has(_ key: String) -> Bool { raw(key) != nil }

    func string(_ key: String) throws -> String? {
        guard let v = raw(key) else { return nil }
        guard case let .string(s) = v else { throw APIError.invalid("`\(name(key))` must be a string.", param: name(key)) }
        return s
    }

    func requiredString(_ key: String) throws -> String {
        guard let s = try string(key) else { throw APIError.invalid("`\(name(key))` is required.", param: name(key)) }
        return s
    }

    func bool(_ key: String) throws -> Bool? {
        guard let v = raw(key) else { return nil }
        guard case let .bool(b) = v else { throw APIError.invalid("`\(name(key))` must be a boolean.", param: name(key)) }
        return b
    }

    func double(_ key: String, _ range: ClosedRange<Double>) throws -> Double? {
        guard let v = raw(key) else { return nil }
        let key = name(key)
        guard case let .number(n, _) = v, n.isFinite else { throw APIError.invalid("`\(key)` must be a number.", param: key) }
        guard range.contains(n) else {
            throw APIError.invalid("`\(key)` must be between \(JSON.format(range.lowerBound)) and \(JSON.format(range.upperBound)), got \(JSON.format(n)).", param: key)
        }
        return n
    }

    func int(_ key: String, _ range: ClosedRange<Int>) throws -> Int? {
        guard let v = raw(key) else { return nil }
        let key = name(key)
        guard case let .number(n, _) = v, n.isFinite, n == n.rounded() else {
            throw APIError.invalid("`\(key)` must be an integer.", param: key)
        }
        let hi = range.upperBound == Int.max ? "" : " and at most \(range.upperBound)"
        // A whole number past ±9e15 (2^63 and beyond included) is an integer out of any range here.
        guard abs(n) < 9.0e15 else {
            let outside = n > 0 ? range.upperBound < 9_000_000_000_000_000 : range.lowerBound > -9_000_000_000_000_000
            throw APIError.invalid(outside ? "`\(key)` must be at least \(range.lowerBound)\(hi), got \(JSON.format(n))."
                                           : "`\(key)` must be an integer of at most 15 digits.", param: key)
        }
        let i = Int(n)
        guard range.contains(i) else {
            throw APIError.invalid("`\(key)` must be at least \(range.lowerBound)\(hi), got \(i).", param: key)
        }
        return i
    }

    /// After a request is read: a field nobody asked for is a 400, as OpenAI answers an unknown
    /// argument (a misspelt `temprature` would otherwise pass unnoticed), unless it is in
    /// `ignored` (fields that cannot change the answer) or null.
    /// `parent`: the field this object is the value of (`stream_options`), named in the error.
    func refuseUnknown(ignoring ignored: Set<String> = [], in parent: String? = nil) throws {
        let parent = parent ?? self.parent
        for (k, v) in object where !asked.keys.contains(k) && !ignored.contains(k) {
            if case .null = v { continue }
            let name = parent.map { "\($0).\(k)" } ?? k
            throw APIError.invalid("Unrecognized request argument supplied: `\(name)`.", param: name, code: "unknown_parameter")
        }
    }

    /// Refuses fields the server does not implement, rather than silently ignoring them.
    func refuse(_ keys: [String], because why: String, in parent: String? = nil) throws {
        let parent = parent ?? self.parent
        for k in keys where has(k) {
            let name = parent.map { "\($0).\(k)" } ?? k
            throw APIError.invalid("`\(name)` is not supported: \(why).", param: name)
        }
    }
}

extension JSON {
    /// An integer token id, when this is one.
    var tokenID: Int32? {
        guard case let .number(n, _) = self, n == n.rounded(), n >= 0, n < 2_147_483_648 else { return nil }
        return Int32(n)
    }
}
