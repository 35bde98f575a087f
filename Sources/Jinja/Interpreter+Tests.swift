/// Jinja's `is` tests.
extension Interpreter {
    func applyTest(_ name: String, _ value: Value, _ args: Arguments) throws -> Bool {
        let (positional, keyword) = try evalArguments(args)
        return try test(name, value, CallArguments(positional: positional, keyword: keyword))
    }

    func test(_ name: String, _ value: Value, _ args: CallArguments) throws -> Bool {
        func other() throws -> Value {
            guard let v = args.get(0, "other") else { throw TemplateError.runtime("test '\(name)' needs an argument") }
            return v
        }
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": return value == .none
        case "boolean": if case .bool = value { return true } else { return false }
        case "true": return value == .bool(true)
        case "false": return value == .bool(false)
        case "integer": if case .int = value { return true } else { return false }
        case "float": if case .double = value { return true } else { return false }
        case "number": return value.asNumber != nil  // bool is a Number in Python
        case "string": if case .string = value { return true } else { return false }
        case "mapping": if case .object = value { return true } else { return false }
        case "iterable":
            switch value {
            case .undefined, .string, .array, .object: return true
            default: return false
            }
        case "sequence":
            switch value {
            case .undefined, .string, .array, .object: return true
            default: return false
            }
        case "callable":
            if case .handle(let h) = value, h.kind != .namespace, h.kind != .loop { return true }
            return false
        case "even", "odd":
            guard let i = value.asInt else { throw TemplateError.runtime("test '\(name)' needs an integer") }
            return (i % 2 == 0) == (name == "even")
        case "divisibleby":
            guard let i = value.asInt, let n = try other().asInt else { throw TemplateError.runtime("divisibleby needs integers") }
            guard n != 0 else { throw TemplateError.runtime("integer division or modulo by zero") }
            return i % n == 0
        case "eq", "equalto", "==": return try pyEquals(value, try other())
        case "ne", "!=": return try !pyEquals(value, try other())
        case "lt", "lessthan", "<": return try pyOrder(value, try other()) < 0
        case "le", "<=": return try pyOrder(value, try other()) <= 0
        case "gt", "greaterthan", ">": return try pyOrder(value, try other()) > 0
        case "ge", ">=": return try pyOrder(value, try other()) >= 0
        case "in": return try contains(try other(), value)
        case "sameas":
            let o = try other()
            switch (value, o) {
            case (.none, .none), (.undefined, .undefined): return true
            case (.bool(let a), .bool(let b)): return a == b
            default: return false
            }
        case "lower": return try str(value) == str(value).lowercased()
        case "upper": return try str(value) == str(value).uppercased()
        case "escaped": return false
        default:
            throw TemplateError.runtime("no test named '\(name)'")
        }
    }
}
