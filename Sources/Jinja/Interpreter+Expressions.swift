import Foundation

/// Expression evaluation with Python/Jinja semantics.
extension Interpreter {
    func eval(_ e: Expr) throws -> Value {
        if case .located(let inner, let line) = e {
            do {
                return try eval(inner)
            } catch let error as TemplateError where error.line == nil && error.kind != .raised {
                throw TemplateError(error.kind, error.message, line: line)
            }
        }
        try tick()
        evalDepth += 1
        defer { evalDepth -= 1 }
        if evalDepth > limits.maxEvalDepth {
            throw TemplateError.limit("expression evaluation nested too deeply")
        }
        switch e {
        case .located(let inner, _):
            return try eval(inner)
        case .literal(let v):
            return v
        case .name(let n):
            return lookup(n)
        case .list(let items), .tuple(let items):
            let values = try items.map { try eval($0) }
            try checkNesting(values)
            return .array(values)
        case .dict(let pairs):
            var o = OrderedObject()
            for (k, v) in pairs {
                let key = try eval(k)
                let value = try eval(v)
                switch key {
                case .string(let s): o[s] = value
                case .int, .double, .bool, .none: o[try str(key)] = value
                default: throw TemplateError.runtime("unhashable type: '\(key.typeName)'")
                }
            }
            try checkNesting(o.values)
            return .object(o)
        case .attribute(let base, let name):
            let b = try eval(base)
            if b.isUndefined { throw TemplateError.runtime("'\(describe(base))' is undefined") }
            return getAttribute(b, name)
        case .item(let base, let index):
            let b = try eval(base)
            if b.isUndefined { throw TemplateError.runtime("'\(describe(base))' is undefined") }
            return try getItem(b, try eval(index))
        case .slice(let base, let start, let stop, let step):
            let b = try eval(base)
            if b.isUndefined { throw TemplateError.runtime("'\(describe(base))' is undefined") }
            return try slice(b, try start.map { try eval($0) }, try stop.map { try eval($0) }, try step.map { try eval($0) })
        case .call(let callee, let args):
            return try evalCall(callee, args)
        case .filter(let base, let name, let args):
            return try applyFilter(name, try eval(base), args)
        case .test(let base, let name, let args, let negated):
            let result = try applyTest(name, try eval(base), args)
            return .bool(negated ? !result : result)
        case .unary(let op, let operand):
            return try unary(op, try eval(operand))
        case .binary(let op, let l, let r):
            return try binary(op, try eval(l), try eval(r))
        case .and(let l, let r):
            let a = try eval(l)
            return a.isTruthy ? try eval(r) : a
        case .or(let l, let r):
            let a = try eval(l)
            return a.isTruthy ? a : try eval(r)
        case .compare(let first, let ops):
            var left = try eval(first)
            for (op, rightExpr) in ops {
                let right = try eval(rightExpr)
                guard try compare(op, left, right) else { return .bool(false) }
                left = right
            }
            return .bool(true)
        case .conditional(let test, let then, let otherwise):
            if try eval(test).isTruthy { return try eval(then) }
            return try otherwise.map { try eval($0) } ?? .undefined
        }
    }

    func evalCall(_ callee: Expr, _ args: Arguments) throws -> Value {
        if case .attribute(let objectExpr, let name) = unlocatedExpr(callee) {
            let object = try eval(objectExpr)
            if object.isUndefined { throw TemplateError.runtime("'\(describe(objectExpr))' is undefined") }
            let (positional, keyword) = try evalArguments(args)
            if let result = try callMethod(object, name, positional, keyword) { return result }
            let fn = getAttribute(object, name)
            if fn.isUndefined {
                throw TemplateError.runtime("'\(object.typeName) object' has no attribute '\(name)'")
            }
            return try callValue(fn, positional, keyword, calleeExpr: callee)
        }
        return try callValue(try eval(callee), args, calleeExpr: callee)
    }

    /// `x.name`: Jinja tries the Python attribute, then the item.
    func getAttribute(_ v: Value, _ name: String) -> Value {
        switch v {
        case .object(let o):
            return o[name] ?? .undefined
        case .handle(let h) where h.kind == .namespace && h.id < namespaces.count:
            return namespaces[h.id][name] ?? .undefined
        case .handle(let h) where h.kind == .loop && h.id < loopStates.count:
            let (i, items) = loopStates[h.id]
            let n = items.count
            switch name {
            case "index": return .int(i + 1)
            case "index0": return .int(i)
            case "revindex": return .int(n - i)
            case "revindex0": return .int(n - i - 1)
            case "first": return .bool(i == 0)
            case "last": return .bool(i == n - 1)
            case "length": return .int(n)
            case "depth": return .int(1)
            case "depth0": return .int(0)
            case "previtem": return i > 0 ? items[i - 1] : .undefined
            case "nextitem": return i + 1 < n ? items[i + 1] : .undefined
            default: return .undefined
            }
        default:
            return .undefined
        }
    }

    /// `x[key]`: missing keys and out-of-range indices are undefined, as in Jinja.
    func getItem(_ v: Value, _ key: Value) throws -> Value {
        switch (v, key) {
        case (.object(let o), .string(let k)):
            return o[k] ?? .undefined
        case (.array(let a), _):
            guard let i = key.asInt else {
                if case .string(let s) = key { return getAttribute(v, s) }
                return .undefined
            }
            let j = i < 0 ? i + a.count : i
            return j >= 0 && j < a.count ? a[j] : .undefined
        case (.string(let s), _):
            guard let i = key.asInt else { return .undefined }
            let scalars = s.unicodeScalars
            let count = scalars.count
            let j = i < 0 ? i + count : i
            guard j >= 0 && j < count else { return .undefined }
            return .string(String(scalars[scalars.index(scalars.startIndex, offsetBy: j)]))
        case (_, .string(let k)):
            return getAttribute(v, k)
        default:
            return .undefined
        }
    }

    /// Python slice semantics on lists and strings.
    func slice(_ v: Value, _ start: Value?, _ stop: Value?, _ step: Value?) throws -> Value {
        func bound(_ x: Value?) throws -> Int? {
            guard let x, x != .none else { return nil }
            guard let i = x.asInt else { throw TemplateError.runtime("slice indices must be integers or None") }
            return i
        }
        let stepValue = try bound(step) ?? 1
        guard stepValue != 0 else { throw TemplateError.runtime("slice step cannot be zero") }
        func indices(_ count: Int) throws -> [Int] {
            var lo = try bound(start), hi = try bound(stop)
            if let l = lo, l < 0 { lo = max(l + count, stepValue < 0 ? -1 : 0) }
            if let h = hi, h < 0 { hi = max(h + count, stepValue < 0 ? -1 : 0) }
            var out: [Int] = []
            if stepValue > 0 {
                var i = min(lo ?? 0, count)
                let end = min(hi ?? count, count)
                while i < end {
                    out.append(i)
                    let (n, overflow) = i.addingReportingOverflow(stepValue)
                    if overflow { break }
                    i = n
                }
            } else {
                var i = min(lo ?? count - 1, count - 1)
                let end = hi ?? -1
                while i > end {
                    out.append(i)
                    let (n, overflow) = i.addingReportingOverflow(stepValue)
                    if overflow { break }
                    i = n
                }
            }
            return out
        }
        switch v {
        case .array(let a):
            try tick(a.count)
            return .array(try indices(a.count).map { a[$0] })
        case .string(let s):
            let scalars = Array(s.unicodeScalars)
            try tick(scalars.count)
            var out = String.UnicodeScalarView()
            for i in try indices(scalars.count) { out.append(scalars[i]) }
            return .string(String(out))
        case .none:
            throw TemplateError.runtime("'NoneType' object is not subscriptable")
        default:
            return .undefined
        }
    }

    func unary(_ op: String, _ v: Value) throws -> Value {
        switch op {
        case "not":
            return .bool(!v.isTruthy)
        case "-":
            switch v {
            case .int(let i):
                guard i != Int.min else { throw TemplateError.runtime("integer overflow") }
                return .int(-i)
            case .bool(let b): return .int(b ? -1 : 0)
            case .double(let d): return .double(-d)
            case .undefined: throw TemplateError.runtime("undefined value used in arithmetic")
            default: throw TemplateError.runtime("bad operand type for unary -: '\(v.typeName)'")
            }
        default:
            guard v.asNumber != nil else { throw TemplateError.runtime("bad operand type for unary +: '\(v.typeName)'") }
            if case .bool(let b) = v { return .int(b ? 1 : 0) }
            return v
        }
    }

    func binary(_ op: String, _ l: Value, _ r: Value) throws -> Value {
        if op == "~" {
            let a = try str(l), b = try str(r)
            try chargeBytes(a.utf8.count + b.utf8.count)
            return .string(a + b)
        }
        if l.isUndefined || r.isUndefined { throw TemplateError.runtime("undefined value used with '\(op)'") }
        switch (op, l, r) {
        case ("+", .string(let a), .string(let b)):
            try chargeBytes(a.utf8.count + b.utf8.count)
            return .string(a + b)
        case ("+", .array(let a), .array(let b)):
            try checkCount(a.count + b.count)
            return .array(a + b)
        case ("*", .string(let s), _), ("*", _, .string(let s)):
            guard let n = (l.asString == nil ? l : r).asInt else { break }
            let count = max(0, n)
            let (total, overflow) = s.utf8.count.multipliedReportingOverflow(by: count)
            guard !overflow else { throw TemplateError.limit("string repetition too large") }
            try chargeBytes(total)
            return .string(String(repeating: s, count: count))
        case ("*", .array(let a), _), ("*", _, .array(let a)):
            guard let n = (l.asNumber == nil ? r : l).asInt else { break }
            let count = max(0, n)
            let (total, overflow) = a.count.multipliedReportingOverflow(by: count)
            guard !overflow else { throw TemplateError.limit("list repetition too large") }
            try checkCount(total)
            var out: [Value] = []
            for _ in 0..<count { out += a }
            return .array(out)
        default:
            break
        }
        if let a = l.asInt, let b = r.asInt { return try intArithmetic(op, a, b) }
        if let a = l.asNumber, let b = r.asNumber { return try doubleArithmetic(op, a, b) }
        throw TemplateError.runtime("unsupported operand type(s) for \(op): '\(l.typeName)' and '\(r.typeName)'")
    }

    private func intArithmetic(_ op: String, _ a: Int, _ b: Int) throws -> Value {
        func checked(_ r: (partialValue: Int, overflow: Bool)) throws -> Value {
            if r.overflow { throw TemplateError.runtime("integer overflow") }
            return .int(r.partialValue)
        }
        switch op {
        case "+": return try checked(a.addingReportingOverflow(b))
        case "-": return try checked(a.subtractingReportingOverflow(b))
        case "*": return try checked(a.multipliedReportingOverflow(by: b))
        case "/":
            guard b != 0 else { throw TemplateError.runtime("division by zero") }
            return .double(Double(a) / Double(b))
        case "//", "%":
            guard b != 0 else { throw TemplateError.runtime("integer division or modulo by zero") }
            guard !(a == Int.min && b == -1) else { throw TemplateError.runtime("integer overflow") }
            var q = a / b, m = a % b
            if m != 0 && ((m < 0) != (b < 0)) { q -= 1; m += b }  // floor, as Python
            return .int(op == "//" ? q : m)
        case "**":
            if b < 0 { return .double(pow(Double(a), Double(b))) }
            var result = 1, base = a, e = b
            while e > 0 {
                if e & 1 == 1 {
                    let r = result.multipliedReportingOverflow(by: base)
                    if r.overflow { throw TemplateError.runtime("integer overflow") }
                    result = r.partialValue
                }
                e >>= 1
                if e > 0 {
                    let r = base.multipliedReportingOverflow(by: base)
                    if r.overflow { throw TemplateError.runtime("integer overflow") }
                    base = r.partialValue
                }
            }
            return .int(result)
        default:
            throw TemplateError.runtime("unknown operator \(op)")
        }
    }

    private func doubleArithmetic(_ op: String, _ a: Double, _ b: Double) throws -> Value {
        switch op {
        case "+": return .double(a + b)
        case "-": return .double(a - b)
        case "*": return .double(a * b)
        case "/":
            guard b != 0 else { throw TemplateError.runtime("float division by zero") }
            return .double(a / b)
        case "//", "%":
            guard b != 0 else { throw TemplateError.runtime("float modulo") }
            let m = a - (a / b).rounded(.down) * b
            return .double(op == "//" ? (a / b).rounded(.down) : m)
        case "**":
            return .double(pow(a, b))
        default:
            throw TemplateError.runtime("unknown operator \(op)")
        }
    }

    func compare(_ op: String, _ l: Value, _ r: Value) throws -> Bool {
        switch op {
        case "==": return try pyEquals(l, r)
        case "!=": return try !pyEquals(l, r)
        case "in": return try contains(r, l)
        case "not in": return try !contains(r, l)
        default:
            let c = try pyOrder(l, r)
            switch op {
            case "<": return c < 0
            case "<=": return c <= 0
            case ">": return c > 0
            default: return c >= 0
            }
        }
    }

    func pyEquals(_ a: Value, _ b: Value, depth: Int = 0) throws -> Bool {
        guard depth < limits.maxValueDepth else { throw TemplateError.limit("value nesting too deep to compare") }
        switch (a, b) {
        case (.string(let x), .string(let y)): return x.utf8.elementsEqual(y.utf8)
        case (.array(let x), .array(let y)):
            guard x.count == y.count else { return false }
            try tick(x.count)
            for (p, q) in zip(x, y) where try !pyEquals(p, q, depth: depth + 1) { return false }
            return true
        case (.object(let x), .object(let y)):
            guard x.count == y.count else { return false }
            try tick(x.count)
            for (k, v) in x.pairs {
                guard let w = y[k], try pyEquals(v, w, depth: depth + 1) else { return false }
            }
            return true
        case (.undefined, .undefined), (.none, .none): return true
        case (.handle(let x), .handle(let y)): return x == y
        default:
            if let x = a.asNumber, let y = b.asNumber {
                if let i = a.asInt, let j = b.asInt { return i == j }
                return x == y
            }
            return false
        }
    }

    /// Python ordering: numbers, strings (by code point), lists lexicographically.
    func pyOrder(_ a: Value, _ b: Value, depth: Int = 0) throws -> Int {
        guard depth < limits.maxValueDepth else { throw TemplateError.limit("value nesting too deep to compare") }
        switch (a, b) {
        case (.string(let x), .string(let y)):
            if x.unicodeScalars.elementsEqual(y.unicodeScalars) { return 0 }
            return x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars) ? -1 : 1
        case (.array(let x), .array(let y)):
            try tick(min(x.count, y.count))
            for (p, q) in zip(x, y) {
                let c = try pyOrder(p, q, depth: depth + 1)
                if c != 0 { return c }
            }
            return x.count < y.count ? -1 : x.count > y.count ? 1 : 0
        default:
            if let i = a.asInt, let j = b.asInt { return i < j ? -1 : i > j ? 1 : 0 }
            if let x = a.asNumber, let y = b.asNumber { return x < y ? -1 : x > y ? 1 : 0 }
            throw TemplateError.runtime("'<' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
        }
    }

    /// `needle in haystack`.
    func contains(_ haystack: Value, _ needle: Value) throws -> Bool {
        switch haystack {
        case .string(let s):
            guard case .string(let n) = needle else {
                throw TemplateError.runtime("'in <string>' requires string as left operand, not \(needle.typeName)")
            }
            try tick(s.utf8.count / 64)
            return PyString.find(n, in: s) != nil
        case .array(let a):
            try tick(a.count)
            for item in a where try pyEquals(item, needle) { return true }
            return false
        case .object(let o):
            if case .string(let k) = needle { return o.contains(k) }
            return false
        case .undefined:
            return false
        case .handle(let h) where h.kind == .namespace:
            return false
        default:
            throw TemplateError.runtime("argument of type '\(haystack.typeName)' is not iterable")
        }
    }
}
