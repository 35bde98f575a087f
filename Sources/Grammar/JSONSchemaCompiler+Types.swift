/// Strings, numbers, arrays and objects of `JSONSchemaCompiler`.
extension JSONSchemaCompiler {
    private func intValue(_ s: JSONValue, _ key: String, _ path: String) throws -> Int? {
        guard let v = s[key] else { return nil }
        guard case let .number(d, _) = v, d >= 0, d == d.rounded() else {
            throw GrammarError.invalid("\(path): `\(key)` must be a non-negative integer")
        }
        // Counts this large expand past any grammar's symbol limit: refused here, by name.
        guard d < 1e9 else { throw GrammarError.tooLarge("\(path): `\(key)` is too large for a grammar (\(d))") }
        return Int(d)
    }

    private func number(_ s: JSONValue, _ key: String, _ path: String) throws -> Double? {
        guard let v = s[key] else { return nil }
        guard case let .number(d, _) = v else { throw GrammarError.invalid("\(path): `\(key)` must be a number") }
        return d
    }

    func stringNode(_ s: JSONValue, _ path: String) throws -> GrammarNode {
        let minLen = try intValue(s, "minLength", path) ?? 0
        let maxLen = try intValue(s, "maxLength", path)
        if let m = maxLen, m < minLen { throw GrammarError.invalid("\(path): `maxLength` is below `minLength`") }
        let hasLength = s["minLength"] != nil || s["maxLength"] != nil
        if let f = s["format"] {
            guard case let .string(name) = f else { throw GrammarError.invalid("\(path): `format` must be a string") }
            guard let pattern = Self.formats[name] else {
                throw GrammarError.unsupported("\(path): `format` \"\(name)\" is not supported (date, time, date-time, duration, uuid, email, hostname, ipv4, ipv6 are)")
            }
            guard !hasLength && s["pattern"] == nil else {
                throw GrammarError.unsupported("\(path): `format` together with `pattern`, `minLength` or `maxLength` is not supported")
            }
            var p = RegexParser(pattern, mode: .jsonString)
            return .seq([.text("\""), try p.parse(search: false), .text("\"")])
        }
        if let pv = s["pattern"] {
            guard case let .string(pattern) = pv else { throw GrammarError.invalid("\(path): `pattern` must be a string") }
            guard !hasLength else {
                throw GrammarError.unsupported("\(path): `pattern` together with `minLength`/`maxLength` is not supported")
            }
            var p = RegexParser(pattern, mode: .jsonString, maxNesting: limits.maxNesting)
            do {
                return .seq([.text("\""), try p.parse(search: true), .text("\"")])
            } catch let e as GrammarError {
                throw GrammarError(e.kind, "\(path)/pattern: \(e.message)")
            }
        }
        if !hasLength { return anyString }
        return .seq([.text("\""), .rep(jsonChar, min: minLen, max: maxLen), .text("\"")])
    }

    func numberNode(_ s: JSONValue, _ path: String, integer: Bool) throws -> GrammarNode {
        var lo = try number(s, "minimum", path), hi = try number(s, "maximum", path)
        var loStrict = false, hiStrict = false
        // Draft 6+: exclusive bounds are numbers; draft 4's booleans are read too.
        switch s["exclusiveMinimum"] {
        case let .number(d, _)?: if lo == nil || d >= lo! { lo = d; loStrict = true }
        case let .bool(x)?: loStrict = x
        case nil: break
        default: throw GrammarError.invalid("\(path): `exclusiveMinimum` must be a number")
        }
        switch s["exclusiveMaximum"] {
        case let .number(d, _)?: if hi == nil || d <= hi! { hi = d; hiStrict = true }
        case let .bool(x)?: hiStrict = x
        case nil: break
        default: throw GrammarError.invalid("\(path): `exclusiveMaximum` must be a number")
        }
        if let step = try number(s, "multipleOf", path) {
            do {
                // Once per schema for equal fields (five `multipleOf: 4000` fields compiled it five times).
                let key = "multipleOf \(step) \(integer) \(lo.map { "\($0)" } ?? "-") \(loStrict) \(hi.map { "\($0)" } ?? "-") \(hiStrict)"
                return try sharedRule(key) {
                    try NumberMultiples.number(step: step, min: lo, minStrict: loStrict, max: hi, maxStrict: hiStrict, integer: integer, builder: b)
                }
            } catch let e as GrammarError {
                throw GrammarError(e.kind, "\(path): \(e.message)")
            }
        }
        if lo == nil && hi == nil { return integer ? try NumberRanges.number(min: nil, minStrict: false, max: nil, maxStrict: false, integer: true) : anyNumber }
        do {
            return try NumberRanges.number(min: lo, minStrict: loStrict, max: hi, maxStrict: hiStrict, integer: integer)
        } catch let e as GrammarError {
            throw GrammarError(e.kind, "\(path): \(e.message)")
        }
    }

    /// A schema's node as a rule of its own, when it is used in several places.
    func asRule(_ n: GrammarNode, _ name: String) -> GrammarNode {
        if case .rule = n { return n }
        if case .literal = n { return n }
        let id = b.addRule(name)
        b.define(id, n)
        return .rule(id)
    }

    func arrayNode(_ s: JSONValue, _ path: String, depth: Int) throws -> GrammarNode {
        var prefix: [GrammarNode] = []
        if let p = s["prefixItems"] {
            guard case let .array(xs) = p else { throw GrammarError.invalid("\(path): `prefixItems` must be an array of schemas") }
            prefix = try xs.enumerated().map { try node($1, "\(path)/prefixItems/\($0)", depth: depth + 1) }
        }
        var item: GrammarNode? = anyValue
        if let it = s["items"] {
            if case .bool(false) = it { item = nil } else { item = asRule(try node(it, "\(path)/items", depth: depth + 1), "\(path)/items") }
        }
        let minItems = try intValue(s, "minItems", path) ?? 0
        var maxItems = try intValue(s, "maxItems", path)
        if item == nil { maxItems = min(maxItems ?? prefix.count, prefix.count) }
        if let m = maxItems, m < minItems { throw GrammarError.unsupported("\(path): no array has between `minItems` and `maxItems` items here") }
        let ws = self.ws
        let sep = comma
        func element(_ j: Int) -> GrammarNode { j < prefix.count ? prefix[j] : item! }
        // tail(j): what may follow once j elements are written.
        let explicit = max(prefix.count, minItems)
        // Each required element is a rule of its own (a few symbols): refused before they are made,
        // not after minutes and gigabytes of them.
        guard explicit <= limits.maxSymbols / 4 else {
            throw GrammarError.tooLarge("\(path): `minItems` \(minItems) needs more than \(limits.maxSymbols) grammar symbols")
        }
        var tail: [GrammarNode] = []
        let free: GrammarNode
        if let item {
            let room = maxItems.map { $0 - max(explicit, 1) }
            free = .rep(.seq([sep, item]), min: 0, max: room.map { max($0, 0) })
        } else {
            free = .empty
        }
        var next = free
        if explicit >= 1 {
            for j in stride(from: explicit - 1, through: 1, by: -1) {
                if j & 1023 == 0 { try b.deadline.check() }
                let more: GrammarNode = .seq([sep, element(j), next])
                var alts: [GrammarNode] = []
                if maxItems.map({ j < $0 }) ?? true { alts.append(more) }
                if j >= minItems { alts.append(.empty) }
                let r = b.addRule("\(path)#tail\(j)")
                b.define(r, alts.count == 1 ? alts[0] : .alt(alts))
                next = .rule(r)
                tail.append(next)
            }
        }
        var alts: [GrammarNode] = []
        if minItems == 0 { alts.append(.seq([.text("["), ws, .text("]")])) }
        if maxItems.map({ $0 >= 1 }) ?? true, prefix.count > 0 || item != nil {
            alts.append(.seq([.text("["), ws, element(0), next, ws, .text("]")]))
        }
        guard !alts.isEmpty else { throw GrammarError.unsupported("\(path): no array satisfies these keywords") }
        return alts.count == 1 ? alts[0] : .alt(alts)
    }
}
