/// Python's `str()`, `repr()` and `json.dumps` for template values, as Jinja prints
/// them and as transformers' `tojson` filter serializes them.
extension Interpreter {
    /// `str(v)`: what `{{ v }}` prints. Undefined prints nothing.
    func str(_ v: Value) throws -> String {
        switch v {
        case .undefined: return ""
        case .string(let s): return s
        default:
            var out = ""
            try repr(v, into: &out, depth: 0)
            return out
        }
    }

    func repr(_ v: Value, into out: inout String, depth: Int) throws {
        guard depth < limits.maxValueDepth else { throw TemplateError.limit("value nesting too deep to print") }
        if out.utf8.count > limits.maxOutputBytes { throw TemplateError.limit("printed value exceeds \(limits.maxOutputBytes) bytes") }
        switch v {
        case .undefined: break
        case .none: out += "None"
        case .bool(let b): out += b ? "True" : "False"
        case .int(let i): out += String(i)
        case .double(let d): out += Interpreter.pyFloat(d)
        case .string(let s): out += Interpreter.pyReprString(s)
        case .array(let a):
            try tick(a.count)
            out += "["
            for (i, e) in a.enumerated() {
                if i > 0 { out += ", " }
                try repr(e, into: &out, depth: depth + 1)
            }
            out += "]"
        case .object(let o):
            try tick(o.count)
            out += "{"
            for (i, (k, e)) in o.pairs.enumerated() {
                if i > 0 { out += ", " }
                out += Interpreter.pyReprString(k) + ": "
                try repr(e, into: &out, depth: depth + 1)
            }
            out += "}"
        case .handle(let h):
            switch h.kind {
            case .namespace:
                out += "<Namespace "
                if h.id < namespaces.count { try repr(.object(namespaces[h.id]), into: &out, depth: depth + 1) }
                out += ">"
            case .macro:
                out += "<Macro '\(h.id < macros.count ? macros[h.id].name : "?")'>"
            case .builtin(let name):
                out += "<function \(name)>"
            case .loop:
                let index = h.id < loopStates.count ? loopStates[h.id].index + 1 : 0
                let count = h.id < loopStates.count ? loopStates[h.id].items.count : 0
                out += "<LoopContext \(index)/\(count)>"
            }
        }
    }

    /// Python `repr(float)`: shortest round-trip digits (Swift's description uses the
    /// same algorithm and exponent thresholds), with Python's names for specials.
    static func pyFloat(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        return d.description
    }

    /// Python `repr(str)`: single quotes unless the text has one and no double quote.
    static func pyReprString(_ s: String) -> String {
        let quote: Unicode.Scalar = s.unicodeScalars.contains("'") && !s.unicodeScalars.contains("\"") ? "\"" : "'"
        var out = String.UnicodeScalarView()
        out.append(quote)
        for c in s.unicodeScalars {
            switch c {
            case "\\": out.append(contentsOf: "\\\\".unicodeScalars)
            case "\n": out.append(contentsOf: "\\n".unicodeScalars)
            case "\r": out.append(contentsOf: "\\r".unicodeScalars)
            case "\t": out.append(contentsOf: "\\t".unicodeScalars)
            case quote: out.append("\\"); out.append(c)
            default:
                if c.value < 0x20 || c.value == 0x7F || (c.value >= 0x80 && c.value < 0xA0) {
                    out.append(contentsOf: "\\x\(hex(c.value, width: 2))".unicodeScalars)
                } else {
                    out.append(c)
                }
            }
        }
        out.append(quote)
        return String(out)
    }

    static func hex(_ v: UInt32, width: Int) -> String {
        let digits = String(v, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// Python `json.dumps(v, ensure_ascii=False, indent=indent, separators=..., sort_keys=...)`.
    func json(_ v: Value, indent: String?, itemSeparator: String?, keySeparator: String?, sortKeys: Bool) throws -> String {
        var out = ""
        let item = itemSeparator ?? (indent == nil ? ", " : ",")
        let key = keySeparator ?? ": "
        try json(v, into: &out, indent: indent, item: item, key: key, sortKeys: sortKeys, level: 0)
        return out
    }

    private func json(_ v: Value, into out: inout String, indent: String?, item: String, key: String, sortKeys: Bool, level: Int) throws {
        guard level < limits.maxValueDepth else { throw TemplateError.limit("value nesting too deep for tojson") }
        if out.utf8.count > limits.maxOutputBytes { throw TemplateError.limit("tojson output exceeds \(limits.maxOutputBytes) bytes") }
        func newline(_ lvl: Int) {
            guard let indent else { return }
            out += "\n"
            for _ in 0..<lvl { out += indent }
        }
        switch v {
        case .none: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            if d.isNaN { out += "NaN" } else if d.isInfinite { out += d < 0 ? "-Infinity" : "Infinity" } else { out += d.description }
        case .string(let s): Interpreter.jsonString(s, into: &out)
        case .array(let a):
            try tick(a.count)
            if a.isEmpty { out += "[]"; return }
            out += "["
            for (i, e) in a.enumerated() {
                if i > 0 { out += item }
                newline(level + 1)
                try json(e, into: &out, indent: indent, item: item, key: key, sortKeys: sortKeys, level: level + 1)
            }
            newline(level)
            out += "]"
        case .object(let o):
            try tick(o.count)
            if o.isEmpty { out += "{}"; return }
            var pairs = o.pairs
            if sortKeys { pairs.sort { $0.key.unicodeScalars.lexicographicallyPrecedes($1.key.unicodeScalars) } }
            out += "{"
            for (i, (k, e)) in pairs.enumerated() {
                if i > 0 { out += item }
                newline(level + 1)
                Interpreter.jsonString(k, into: &out)
                out += key
                try json(e, into: &out, indent: indent, item: item, key: key, sortKeys: sortKeys, level: level + 1)
            }
            newline(level)
            out += "}"
        case .handle(let h) where h.kind == .namespace:
            throw TemplateError.runtime("Object of type Namespace is not JSON serializable")
        case .undefined:
            throw TemplateError.runtime("Object of type Undefined is not JSON serializable")
        case .handle:
            throw TemplateError.runtime("Object of type function is not JSON serializable")
        }
    }

    /// JSON string with ensure_ascii=False: only quote, backslash and controls escaped.
    static func jsonString(_ s: String, into out: inout String) {
        out += "\""
        var view = String.UnicodeScalarView()
        for c in s.unicodeScalars {
            switch c {
            case "\"": view.append(contentsOf: "\\\"".unicodeScalars)
            case "\\": view.append(contentsOf: "\\\\".unicodeScalars)
            case "\n": view.append(contentsOf: "\\n".unicodeScalars)
            case "\r": view.append(contentsOf: "\\r".unicodeScalars)
            case "\t": view.append(contentsOf: "\\t".unicodeScalars)
            case "\u{08}": view.append(contentsOf: "\\b".unicodeScalars)
            case "\u{0C}": view.append(contentsOf: "\\f".unicodeScalars)
            default:
                if c.value < 0x20 {
                    view.append(contentsOf: "\\u\(hex(c.value, width: 4))".unicodeScalars)
                } else {
                    view.append(c)
                }
            }
        }
        out += String(view)
        out += "\""
    }
}
