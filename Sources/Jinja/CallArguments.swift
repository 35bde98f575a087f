/// Evaluated call arguments, with Python-style lookup by position or keyword.
struct CallArguments {
    var positional: [Value]
    var keyword: [(String, Value)]

    /// The argument at `index` (counting after any implicit first argument) or named `name`.
    func get(_ index: Int, _ name: String) -> Value? {
        if index < positional.count { return positional[index] }
        return keyword.first { $0.0 == name }?.1
    }

    func string(_ index: Int, _ name: String, function: String) throws -> String? {
        guard let v = get(index, name), v != .none, !v.isUndefined else { return nil }
        guard case .string(let s) = v else {
            throw TemplateError.runtime("\(function)(): argument '\(name)' must be a string, not \(v.typeName)")
        }
        return s
    }

    func int(_ index: Int, _ name: String, function: String) throws -> Int? {
        guard let v = get(index, name), v != .none, !v.isUndefined else { return nil }
        guard let i = v.asInt else {
            throw TemplateError.runtime("\(function)(): argument '\(name)' must be an integer, not \(v.typeName)")
        }
        return i
    }

    func bool(_ index: Int, _ name: String) -> Bool? {
        get(index, name).map { $0.isTruthy }
    }
}
