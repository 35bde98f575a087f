import Foundation

/// Jinja's built-in filters used by chat templates, plus transformers' `tojson`.
extension Interpreter {
    func applyFilter(_ name: String, _ value: Value, _ args: Arguments) throws -> Value {
        let (positional, keyword) = try evalArguments(args)
        return try filter(name, value, CallArguments(positional: positional, keyword: keyword))
    }

    func filter(_ name: String, _ value: Value, _ args: CallArguments) throws -> Value {
        switch name {
        case "default", "d":
            let fallback = args.get(0, "default_value") ?? .string("")
            let boolean = args.bool(1, "boolean") ?? false
            return value.isUndefined || (boolean && !value.isTruthy) ? fallback : value
        case "length", "count":
            switch value {
            case .undefined: return .int(0)
            case .string(let s): return .int(s.unicodeScalars.count)
            case .array(let a): return .int(a.count)
            case .object(let o): return .int(o.count)
            default: throw TemplateError.runtime("object of type '\(value.typeName)' has no len()")
            }
        case "upper": return try produced(try str(value).uppercased())
        case "lower": return try produced(try str(value).lowercased())
        case "title": return try produced(PyString.jinjaTitle(try str(value)))
        case "capitalize": return try produced(PyString.capitalize(try str(value)))
        case "trim":
            return .string(PyString.strip(try str(value), chars: try args.string(0, "chars", function: "trim")))
        case "string": return try produced(try str(value))
        case "safe": return value
        case "escape", "e", "forceescape": return try produced(Interpreter.htmlEscape(try str(value)))
        case "first":
            switch value {
            case .array(let a): return a.first ?? .undefined
            case .string(let s): return s.unicodeScalars.first.map { .string(String($0)) } ?? .undefined
            default: return try iterate(value).first ?? .undefined
            }
        case "last":
            switch value {
            case .array(let a): return a.last ?? .undefined
            case .string(let s): return s.unicodeScalars.last.map { .string(String($0)) } ?? .undefined
            default: return try iterate(value).last ?? .undefined
            }
        case "join":
            var items = try iterate(value)
            if let attribute = try args.string(1, "attribute", function: "join") {
                items = try items.map { try attributePath($0, attribute) }
            }
            let separator = try str(args.get(0, "d") ?? .string(""))
            var total = 0
            var parts: [String] = []
            for item in items {
                let s = try str(item)
                total += s.utf8.count + separator.utf8.count
                if total > limits.maxOutputBytes { try chargeBytes(total) }
                parts.append(s)
            }
            return try produced(parts.joined(separator: separator))
        case "list":
            let items = try iterate(value)
            return .array(items)
        case "items":
            switch value {
            case .undefined: return .array([])
            case .object(let o):
                try checkCount(o.count)
                return .array(o.pairs.map { .array([.string($0.key), $0.value]) })
            default: throw TemplateError.runtime("items filter needs a mapping, not \(value.typeName)")
            }
        case "dictsort":
            guard case .object(let o) = value else { throw TemplateError.runtime("dictsort filter needs a mapping") }
            let caseSensitive = args.bool(0, "case_sensitive") ?? false
            let byValue = try args.string(1, "by", function: "dictsort") == "value"
            let reverse = args.bool(2, "reverse") ?? false
            var pairs = o.pairs.map { Value.array([.string($0.key), $0.value]) }
            try sortValues(&pairs, key: { v in try self.getItem(v, .int(byValue ? 1 : 0)) }, caseSensitive: caseSensitive, reverse: reverse)
            return .array(pairs)
        case "tojson":
            return try produced(try toJSON(value, args))
        case "int": return Interpreter.toInt(value, base: try args.int(1, "base", function: "int") ?? 10) ?? (args.get(0, "default") ?? .int(0))
        case "float": return Interpreter.toDouble(value).map { .double($0) } ?? (args.get(0, "default") ?? .double(0))
        case "abs":
            switch value {
            case .int(let i):
                guard i != Int.min else { throw TemplateError.runtime("integer overflow") }
                return .int(abs(i))
            case .bool(let b): return .int(b ? 1 : 0)
            case .double(let d): return .double(abs(d))
            default: throw TemplateError.runtime("bad operand type for abs(): '\(value.typeName)'")
            }
        case "round":
            return try round(value, args)
        case "replace":
            let s = try str(value)
            guard let old = args.get(0, "old"), let new = args.get(1, "new") else {
                throw TemplateError.runtime("replace filter needs 'old' and 'new'")
            }
            let (o, n) = (try str(old), try str(new))
            let count = try args.int(2, "count", function: "replace") ?? -1
            try chargeBytes(PyString.replacedSize(s, o, n, count: count))
            try tick(s.utf8.count / 64)
            return .string(PyString.replace(s, o, n, count: count))
        case "reverse":
            switch value {
            case .string(let s): return .string(String(String.UnicodeScalarView(s.unicodeScalars.reversed())))
            default: return .array(try iterate(value).reversed())
            }
        case "unique":
            return .array(try unique(try iterate(value), caseSensitive: args.bool(0, "case_sensitive") ?? false,
                                     attribute: try args.string(1, "attribute", function: "unique")))
        case "sort":
            var items = try iterate(value)
            let attribute = try args.string(2, "attribute", function: "sort")
            try sortValues(&items, key: { v in try attribute.map { try self.attributePath(v, $0) } ?? v },
                           caseSensitive: args.bool(1, "case_sensitive") ?? false, reverse: args.bool(0, "reverse") ?? false)
            return .array(items)
        case "min", "max":
            var items = try iterate(value)
            let attribute = try args.string(1, "attribute", function: name)
            try sortValues(&items, key: { v in try attribute.map { try self.attributePath(v, $0) } ?? v },
                           caseSensitive: args.bool(0, "case_sensitive") ?? false, reverse: name == "max")
            return items.first ?? .undefined
        case "sum":
            var total = args.get(1, "start") ?? .int(0)
            let attribute = try args.string(0, "attribute", function: "sum")
            for item in try iterate(value) {
                total = try binary("+", total, try attribute.map { try attributePath(item, $0) } ?? item)
            }
            return total
        case "map":
            return try map(value, args)
        case "select", "reject", "selectattr", "rejectattr":
            return try select(value, args, byAttribute: name.hasSuffix("attr"), keep: name.hasPrefix("select"))
        case "attr":
            return getAttribute(value, try args.string(0, "name", function: "attr") ?? "")
        case "indent":
            return try indent(try str(value), args)
        case "wordcount":
            return .int(PyString.wordCount(try str(value)))
        case "center":
            let s = try str(value)
            let width = try args.int(0, "width", function: "center") ?? 80
            let n = s.unicodeScalars.count
            guard width > n else { return .string(s) }
            try chargeBytes(width + s.utf8.count)
            let left = (width - n) / 2 + ((width - n) % 2 & width % 2)  // Python str.center's split
            return .string(String(repeating: " ", count: left) + s + String(repeating: " ", count: width - n - left))
        case "format":
            return try produced(try printf(try str(value), args.positional))
        default:
            throw TemplateError.runtime("no filter named '\(name)'")
        }
    }

    /// transformers' tojson: `json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)`.
    func toJSON(_ value: Value, _ args: CallArguments) throws -> String {
        let ensureASCII = args.bool(0, "ensure_ascii") ?? false
        var indent: String? = nil
        switch args.get(1, "indent") {
        case .int(let n)?: indent = String(repeating: " ", count: max(0, min(n, 1024)))
        case .string(let s)?: indent = s
        default: break
        }
        var itemSep: String? = nil, keySep: String? = nil
        if case .array(let seps)? = args.get(2, "separators"), seps.count == 2 {
            itemSep = try str(seps[0])
            keySep = try str(seps[1])
        }
        let out = try json(value, indent: indent, itemSeparator: itemSep, keySeparator: keySep, sortKeys: args.bool(3, "sort_keys") ?? false)
        guard ensureASCII else { return out }
        var ascii = ""
        for c in out.unicodeScalars {
            if c.value < 0x80 { ascii.unicodeScalars.append(c); continue }
            if c.value > 0xFFFF {
                let v = c.value - 0x10000
                ascii += "\\u" + Interpreter.hex(0xD800 + (v >> 10), width: 4) + "\\u" + Interpreter.hex(0xDC00 + (v & 0x3FF), width: 4)
            } else {
                ascii += "\\u" + Interpreter.hex(c.value, width: 4)
            }
        }
        return ascii
    }

    /// `a.b.0`-style attribute paths used by map/selectattr/sort/join.
    func attributePath(_ value: Value, _ path: String) throws -> Value {
        var current = value
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            if current.isUndefined { throw TemplateError.runtime("'\(path)' is undefined") }
            if let i = Int(part) { current = try getItem(current, .int(i)) } else { current = try getItem(current, .string(String(part))) }
        }
        return current
    }

    private func map(_ value: Value, _ args: CallArguments) throws -> Value {
        // Jinja's map/select guard with `if value:`, so None maps to nothing.
        let items = value.isTruthy ? try iterate(value) : []
        try tick(items.count)
        if let attribute = args.keyword.first(where: { $0.0 == "attribute" })?.1 {
            let path = try str(attribute)
            let fallback = args.keyword.first { $0.0 == "default" }?.1
            return .array(try items.map { item in
                let v = try attributePath(item, path)
                return v.isUndefined ? (fallback ?? v) : v
            })
        }
        guard case .string(let filterName)? = args.positional.first else {
            throw TemplateError.runtime("map filter needs a filter name or attribute=")
        }
        let rest = CallArguments(positional: Array(args.positional.dropFirst()), keyword: args.keyword)
        return .array(try items.map { try filter(filterName, $0, rest) })
    }

    private func select(_ value: Value, _ args: CallArguments, byAttribute: Bool, keep: Bool) throws -> Value {
        let items = value.isTruthy ? try iterate(value) : []
        try tick(items.count)
        var positional = args.positional
        var attribute: String? = nil
        if byAttribute {
            guard !positional.isEmpty else { throw TemplateError.runtime("selectattr/rejectattr need an attribute name") }
            attribute = try str(positional.removeFirst())
        }
        let testName: String? = positional.isEmpty ? nil : try str(positional.removeFirst())
        let testArgs = CallArguments(positional: positional, keyword: args.keyword)
        var out: [Value] = []
        for item in items {
            let subject = try attribute.map { try attributePath(item, $0) } ?? item
            let passed = try testName.map { try test($0, subject, testArgs) } ?? subject.isTruthy
            if passed == keep { out.append(item) }
        }
        return .array(out)
    }

    private func unique(_ items: [Value], caseSensitive: Bool, attribute: String?) throws -> [Value] {
        try tick(items.count)
        var seen = Set<String>()
        var out: [Value] = []
        for item in items {
            var key = try attribute.map { try attributePath(item, $0) } ?? item
            if !caseSensitive, case .string(let s) = key { key = .string(s.lowercased()) }
            // Hash on the printed form tagged with the type, so 1 and '1' stay distinct.
            var repr = key.typeName + ":"
            if case .bool(let b) = key { repr = "int:" + (b ? "1" : "0") }
            else if case .double(let d) = key, d == d.rounded(), abs(d) < 1e18 { repr = "int:" + String(Int(d)) }
            else { try self.repr(key, into: &repr, depth: 0) }
            if seen.insert(repr).inserted { out.append(item) }
        }
        return out
    }

    func sortValues(_ items: inout [Value], key: (Value) throws -> Value, caseSensitive: Bool, reverse: Bool) throws {
        try tick(items.count * 8)
        var keyed = try items.map { item -> (Value, Value) in
            var k = try key(item)
            if !caseSensitive, case .string(let s) = k { k = .string(s.lowercased()) }
            return (k, item)
        }
        var failure: Error? = nil
        // Stable merge sort would be ideal; Swift's sort is not stable, so tie-break on position.
        let indexed = keyed.enumerated().map { ($0.offset, $0.element) }
        let sorted = indexed.sorted { a, b in
            if failure != nil { return false }
            do {
                let c = try pyOrder(a.1.0, b.1.0)
                if c != 0 { return reverse ? c > 0 : c < 0 }
                return a.0 < b.0
            } catch {
                failure = error
                return false
            }
        }
        if let failure { throw failure }
        keyed = sorted.map { $0.1 }
        items = keyed.map { $0.1 }
    }

    private func round(_ value: Value, _ args: CallArguments) throws -> Value {
        let precision = try args.int(0, "precision", function: "round") ?? 0
        let method = try args.string(1, "method", function: "round") ?? "common"
        guard let x = value.asNumber else { throw TemplateError.runtime("round filter needs a number, not \(value.typeName)") }
        guard x.isFinite else { return .double(x) }
        let p = max(-308, min(precision, 308))
        switch method {
        case "common":
            if case .int = value, p >= 0 { return value }
            if p >= 0 {
                return .double(Double(String(format: "%.\(min(p, 40))f", x)) ?? x)
            }
            let scale = pow(10.0, Double(-p))
            return .double((x / scale).rounded(.toNearestOrEven) * scale)
        case "floor", "ceil":
            let scale = pow(10.0, Double(p))
            let scaled = x * scale
            return .double((method == "floor" ? scaled.rounded(.down) : scaled.rounded(.up)) / scale)
        default:
            throw TemplateError.runtime("method must be common, ceil or floor")
        }
    }

    private func indent(_ s: String, _ args: CallArguments) throws -> Value {
        var indention = "    "
        switch args.get(0, "width") {
        case .int(let n)?: indention = String(repeating: " ", count: max(0, min(n, 1024)))
        case .string(let w)?: indention = w
        default: break
        }
        let first = args.bool(1, "first") ?? false
        let blank = args.bool(2, "blank") ?? false
        var lines = PyString.split(PyString.replace(s, "\r\n", "\n"), separator: "\n")
        if lines.last == "" { lines.removeLast() }  // s + "\n" then splitlines(), as Jinja does
        try chargeBytes(s.utf8.count + lines.count * (indention.utf8.count + 1))
        var out: String
        if blank {
            out = lines.joined(separator: "\n" + indention)
        } else {
            out = lines.isEmpty ? "" : lines[0]
            if lines.count > 1 {
                out += "\n" + lines.dropFirst().map { $0.isEmpty ? $0 : indention + $0 }.joined(separator: "\n")
            }
        }
        if first { out = indention + out }
        return .string(out)
    }

    static func htmlEscape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&#34;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// Python `int(x)` as Jinja's `int` filter uses it; nil when Jinja would use the default.
    static func toInt(_ v: Value, base: Int) -> Value? {
        switch v {
        case .int: return v
        case .bool(let b): return .int(b ? 1 : 0)
        case .double(let d):
            guard d.isFinite, abs(d) < 9.2e18 else { return nil }
            return .int(Int(d))
        case .string(let s):
            var t = PyString.strip(s, chars: nil).replacingOccurrences(of: "_", with: "").lowercased()
            var sign = ""
            if t.hasPrefix("-") || t.hasPrefix("+") { sign = String(t.removeFirst()) }
            // Python accepts a 0x/0o/0b prefix matching the base, and base 0 picks it from the prefix.
            var radix = base
            for (prefix, r) in [("0x", 16), ("0o", 8), ("0b", 2)] where t.hasPrefix(prefix) && (base == r || base == 0) {
                t.removeFirst(2)
                radix = r
            }
            if radix == 0 { radix = 10 }
            if (2...36).contains(radix), let i = Int(sign + t, radix: radix) { return .int(i) }
            if let d = toDouble(v), d.isFinite, abs(d) < 9.2e18 { return .int(Int(d)) }
            return nil
        default: return nil
        }
    }

    static func toDouble(_ v: Value) -> Double? {
        switch v {
        case .int, .bool, .double: return v.asNumber
        case .string(let s):
            let t = PyString.strip(s, chars: nil).lowercased()
            switch t {
            case "inf", "+inf", "infinity", "+infinity": return .infinity
            case "-inf", "-infinity": return -.infinity
            case "nan", "+nan", "-nan": return .nan
            default:
                guard !t.isEmpty, t.allSatisfy({ "0123456789.eE+-_".contains($0) }) else { return nil }
                return Double(t.replacingOccurrences(of: "_", with: ""))
            }
        default: return nil
        }
    }

    /// Python `%` formatting for the `format` filter: flags (`-+ 0#`), width and precision, and
    /// the conversions s r d i u f F e E g G x X o c %.
    func printf(_ format: String, _ values: [Value]) throws -> String {
        var out = ""
        var next = 0
        let scalars = Array(format.unicodeScalars)
        var i = 0
        func number(_ v: Value, _ conv: Character) throws -> Double {
            guard let n = v.asNumber else { throw TemplateError.runtime("%\(conv) format: a real number is required") }
            return n
        }
        while i < scalars.count {
            let c = scalars[i]
            i += 1
            guard c == "%" else { out.unicodeScalars.append(c); continue }
            var flags = "", width = "", precision: String?
            while i < scalars.count, "-+ 0#".unicodeScalars.contains(scalars[i]) { flags.unicodeScalars.append(scalars[i]); i += 1 }
            while i < scalars.count, ("0"..."9").contains(Character(scalars[i])), width.count < 4 { width.unicodeScalars.append(scalars[i]); i += 1 }
            if i < scalars.count, scalars[i] == "." {
                i += 1
                var p = ""
                while i < scalars.count, ("0"..."9").contains(Character(scalars[i])), p.count < 4 { p.unicodeScalars.append(scalars[i]); i += 1 }
                precision = p
            }
            guard i < scalars.count else { throw TemplateError.runtime("incomplete format") }
            let conv = Character(scalars[i])
            i += 1
            if conv == "%" { out += "%"; continue }
            guard next < values.count else { throw TemplateError.runtime("not enough arguments for format string") }
            let v = values[next]
            next += 1
            let spec = "%" + flags + width + (precision.map { "." + $0 } ?? "")
            switch conv {
            case "s", "r":
                var text = ""
                if conv == "s" { text = try str(v) } else { try repr(v, into: &text, depth: 0) }
                if let p = precision, let n = Int(p) { text = String(text.prefix(n)) }
                let pad = max(0, (Int(width) ?? 0) - text.count)
                out += flags.contains("-") ? text + String(repeating: " ", count: pad) : String(repeating: " ", count: pad) + text
            case "c":
                // A one-character string, or a code point.
                if case let .string(t) = v, t.count == 1 { out += t; break }
                let n = try number(v, conv)
                guard n == n.rounded(), n >= 0, n < 0x110000, let u = Unicode.Scalar(UInt32(n)) else {
                    throw TemplateError.runtime("%c requires an int or a unicode character")
                }
                out.unicodeScalars.append(u)
            case "d", "i", "u":
                let n = try number(v, conv)
                guard n.isFinite, abs(n) < 9.2e18 else { throw TemplateError.runtime("%\(conv) format: a real number is required") }
                out += String(format: spec + "lld", Int64(n))
            case "x", "X", "o":
                // As Python: an integer only, a sign rather than two's complement, `#` gives 0x / 0X / 0o.
                guard let n = v.asInt else { throw TemplateError.runtime("%\(conv) format: an integer is required") }
                let i = Int64(n)
                var digits = String(i.magnitude, radix: conv == "o" ? 8 : 16, uppercase: conv == "X")
                if let p = precision, let m = Int(p), digits.count < m { digits = String(repeating: "0", count: m - digits.count) + digits }
                let sign = i < 0 ? "-" : flags.contains("+") ? "+" : flags.contains(" ") ? " " : ""
                let prefix = flags.contains("#") ? (conv == "o" ? "0o" : conv == "X" ? "0X" : "0x") : ""
                let w = Int(width) ?? 0, len = sign.count + prefix.count + digits.count
                if flags.contains("-") {
                    out += sign + prefix + digits + String(repeating: " ", count: max(0, w - len))
                } else if flags.contains("0") {
                    out += sign + prefix + String(repeating: "0", count: max(0, w - len)) + digits
                } else {
                    out += String(repeating: " ", count: max(0, w - len)) + sign + prefix + digits
                }
            case "f", "F", "e", "E", "g", "G":
                out += String(format: spec + String(conv), try number(v, conv))
            default: throw TemplateError.runtime("unsupported format character '\(conv)'")
            }
            if out.utf8.count > limits.maxOutputBytes { try chargeBytes(out.utf8.count) }
        }
        return out
    }
}
