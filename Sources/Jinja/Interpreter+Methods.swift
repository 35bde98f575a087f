/// Python methods on str and dict values (`s.strip()`, `d.items()`), as the
/// immutable sandbox exposes them: nothing that mutates.
extension Interpreter {
    /// Returns nil when `name` is not a method of `object`'s type.
    func callMethod(_ object: Value, _ name: String, _ positional: [Value], _ keyword: [(String, Value)]) throws -> Value? {
        let args = CallArguments(positional: positional, keyword: keyword)
        switch object {
        case .string(let s): return try stringMethod(s, name, args)
        case .object(let o): return try dictMethod(o, name, args)
        case .handle(let h) where h.kind == .loop && h.id < loopStates.count && name == "cycle":
            guard !positional.isEmpty else { throw TemplateError.runtime("no items for cycling given") }
            return positional[loopStates[h.id].index % positional.count]
        case .array(let a):
            switch name {
            case "count":
                guard let x = args.get(0, "value") else { return .int(0) }
                try tick(a.count)
                return .int(try a.filter { try pyEquals($0, x) }.count)
            case "index":
                guard let x = args.get(0, "value") else { throw TemplateError.runtime("index() takes an argument") }
                try tick(a.count)
                for (i, e) in a.enumerated() where try pyEquals(e, x) { return .int(i) }
                throw TemplateError.runtime("value is not in list")
            case "append", "extend", "pop", "insert", "remove", "clear", "sort", "reverse":
                throw TemplateError.runtime("access to attribute '\(name)' of 'list' object is unsafe")
            default: return nil
            }
        default:
            return nil
        }
    }

    private func dictMethod(_ o: OrderedObject, _ name: String, _ args: CallArguments) throws -> Value? {
        switch name {
        case "items":
            try checkCount(o.count)
            return .array(o.pairs.map { .array([.string($0.key), $0.value]) })
        case "keys": return .array(o.keys.map { .string($0) })
        case "values": return .array(o.values)
        case "get":
            guard case .string(let key)? = args.get(0, "key") else { return args.get(1, "default") ?? Value.none }
            return o[key] ?? args.get(1, "default") ?? Value.none
        case "copy": return .object(o)
        case "update", "pop", "popitem", "setdefault", "clear":
            throw TemplateError.runtime("access to attribute '\(name)' of 'dict' object is unsafe")
        default:
            // A key holding a callable (e.g. a macro stored in a dict) is called by the caller.
            return nil
        }
    }

    private func stringMethod(_ s: String, _ name: String, _ args: CallArguments) throws -> Value? {
        func text(_ i: Int, _ n: String) throws -> String? { try args.string(i, n, function: name) }
        switch name {
        case "strip": return .string(PyString.strip(s, chars: try text(0, "chars")))
        case "lstrip": return .string(PyString.strip(s, chars: try text(0, "chars"), right: false))
        case "rstrip": return .string(PyString.strip(s, chars: try text(0, "chars"), left: false))
        case "upper": return try produced(s.uppercased())
        case "lower": return try produced(s.lowercased())
        case "title": return try produced(PyString.title(s))
        case "capitalize": return try produced(PyString.capitalize(s))
        case "swapcase":
            return try produced(String(s.map { $0.isUppercase ? Character($0.lowercased()) : Character($0.uppercased()) }))
        case "split", "rsplit":
            let sep = try text(0, "sep")
            if sep == "" { throw TemplateError.runtime("empty separator") }
            let maxSplit = try args.int(1, "maxsplit", function: name) ?? -1
            try tick(s.utf8.count / 16)
            if name == "rsplit" && maxSplit >= 0 {
                // Split from the right: reverse, split, reverse back.
                let rev = { (x: String) in String(String.UnicodeScalarView(x.unicodeScalars.reversed())) }
                let parts = PyString.split(rev(s), separator: sep.map(rev), maxSplit: maxSplit)
                return .array(parts.reversed().map { .string(rev($0)) })
            }
            let parts = PyString.split(s, separator: sep, maxSplit: maxSplit)
            try checkCount(parts.count)
            return .array(parts.map { .string($0) })
        case "splitlines":
            var lines = PyString.split(PyString.replace(PyString.replace(s, "\r\n", "\n"), "\r", "\n"), separator: "\n")
            if lines.last == "" { lines.removeLast() }
            return .array(lines.map { .string($0) })
        case "startswith", "endswith":
            let candidates: [Value]
            switch args.get(0, "prefix") {
            case .string(let p)?: candidates = [.string(p)]
            case .array(let a)?: candidates = a
            default: throw TemplateError.runtime("\(name) first arg must be str or a tuple of str")
            }
            for case .string(let c) in candidates {
                if name == "startswith" ? PyString.startsWith(s, c) : PyString.endsWith(s, c) { return .bool(true) }
            }
            return .bool(false)
        case "replace":
            guard let old = try text(0, "old"), let new = try text(1, "new") else {
                throw TemplateError.runtime("replace() needs 'old' and 'new'")
            }
            let count = try args.int(2, "count", function: name) ?? -1
            try chargeBytes(PyString.replacedSize(s, old, new, count: count))
            try tick(s.utf8.count / 64)
            return .string(PyString.replace(s, old, new, count: count))
        case "find", "index", "rfind":
            guard let sub = try text(0, "sub") else { throw TemplateError.runtime("\(name)() needs an argument") }
            try tick(s.utf8.count / 64)
            let bytes = Array(s.utf8)
            var at = PyString.find(Array(sub.utf8), in: bytes)
            if name == "rfind", at != nil {
                var from = (at ?? 0) + 1
                while let later = PyString.find(Array(sub.utf8), in: bytes, from: from) { at = later; from = later + 1 }
            }
            guard let at else {
                if name == "index" { throw TemplateError.runtime("substring not found") }
                return .int(-1)
            }
            return .int(String(decoding: bytes[..<at], as: UTF8.self).unicodeScalars.count)
        case "count":
            guard let sub = try text(0, "sub") else { throw TemplateError.runtime("count() needs an argument") }
            return .int(PyString.count(sub, in: s))
        case "join":
            let items = try iterate(args.get(0, "iterable") ?? .array([]))
            var parts: [String] = []
            for item in items {
                guard case .string(let p) = item else { throw TemplateError.runtime("sequence item: expected str instance, \(item.typeName) found") }
                parts.append(p)
            }
            return try produced(parts.joined(separator: s))
        case "isdigit", "isnumeric", "isdecimal":
            return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.numericType != nil })
        case "isalpha": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic })
        case "isspace": return .bool(!s.isEmpty && s.unicodeScalars.allSatisfy(isPyWhitespace))
        case "islower": return .bool(s.lowercased() == s && s.uppercased() != s)
        case "isupper": return .bool(s.uppercased() == s && s.lowercased() != s)
        case "format":
            return try produced(try format(s, args))
        default:
            return nil
        }
    }

    /// Python `str.format` for `{}`, `{0}`, `{name}` and `{{`/`}}` (no format specs).
    private func format(_ s: String, _ args: CallArguments) throws -> String {
        var out = ""
        var auto = 0
        var it = s.unicodeScalars.makeIterator()
        while let c = it.next() {
            if c == "}" {
                guard it.next() == "}" else { throw TemplateError.runtime("Single '}' encountered in format string") }
                out += "}"
                continue
            }
            guard c == "{" else { out.unicodeScalars.append(c); continue }
            var field = ""
            var closed = false
            while let d = it.next() {
                if d == "{" && field.isEmpty { out += "{"; closed = true; field = "\u{0}"; break }
                if d == "}" { closed = true; break }
                field.unicodeScalars.append(d)
            }
            guard closed else { throw TemplateError.runtime("Single '{' encountered in format string") }
            if field == "\u{0}" { continue }
            let value: Value?
            if field.isEmpty {
                value = auto < args.positional.count ? args.positional[auto] : nil
                auto += 1
            } else if let i = Int(field) {
                value = i >= 0 && i < args.positional.count ? args.positional[i] : nil
            } else {
                value = args.keyword.first { $0.0 == field }?.1
            }
            guard let value else { throw TemplateError.runtime("format(): missing argument '\(field)'") }
            out += try str(value)
            if out.utf8.count > limits.maxOutputBytes { try chargeBytes(out.utf8.count) }
        }
        return out
    }
}
