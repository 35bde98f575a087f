/// JSON Schema (the subset Jeton enforces) to grammar rules. Every keyword is either
/// enforced, an annotation that does not constrain (title, description, default, ...), or
/// refused by name: nothing is silently ignored.
///
/// Choices the grammar makes (it allows a subset of the valid documents, never more):
/// properties come in the schema's order; an object with `properties` but without
/// `additionalProperties` gets no other keys (one with neither takes any); whitespace is none, one space, or a newline and a bounded indent (`ws`); numbers have at
/// most 16 integer and 16 fraction digits, and bounded ones no exponent; strings use the
/// shortest escapes; `oneOf` must have alternatives that cannot overlap.
final class JSONSchemaCompiler {
    let b: GrammarBuilder
    let root: JSONValue
    let limits: GrammarLimits
    private var refRules: [String: Int] = [:]
    private var pending: [(Int, String)] = []
    private var visits = 0
    private var shared: [String: Int] = [:]

    static let annotations: Set<String> = [
        "title", "description", "$schema", "$id", "$comment", "default", "examples", "deprecated",
        "readOnly", "writeOnly", "$defs", "definitions", "discriminator", "$anchor",
    ]
    static let enforced: Set<String> = [
        "type", "properties", "required", "additionalProperties", "items", "prefixItems", "minItems", "maxItems",
        "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "minLength", "maxLength", "pattern", "format",
        "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf",
    ]
    static let formats: [String: String] = [
        "date": date,
        "time": time,
        "date-time": date + "[Tt]" + time,
        "uuid": "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        "email": "[a-zA-Z0-9._+-]{1,64}@[a-zA-Z0-9-]{1,63}(\\.[a-zA-Z0-9-]{1,63}){1,8}",
        "ipv4": "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}",
        "ipv6": ipv6,
        "hostname": hostname,
        "duration": duration,
    ]
    // Every textual form of RFC 4291 without an embedded IPv4 tail: eight groups, or fewer around one `::`.
    static let ipv6: String = {
        let h = "[0-9a-fA-F]{1,4}"
        return ["(\(h):){7}\(h)", "(\(h):){1,7}:", "(\(h):){1,6}:\(h)", "(\(h):){1,5}(:\(h)){1,2}",
                "(\(h):){1,4}(:\(h)){1,3}", "(\(h):){1,3}(:\(h)){1,4}", "(\(h):){1,2}(:\(h)){1,5}",
                "\(h):(:\(h)){1,6}", ":((:\(h)){1,7}|:)"].joined(separator: "|")
    }()
    // RFC 1123 labels; at most six of at most 40 characters, so the whole stays within 253, and a
    // last label that starts with a letter (no all-numeric top-level label).
    static let hostname: String = {
        let inner = "([a-zA-Z0-9-]{0,38}[a-zA-Z0-9])?"
        return "([a-zA-Z0-9]\(inner)\\.){0,5}[a-zA-Z]\(inner)"
    }()
    // ISO 8601 durations: years, months and days in that order (any of them; RFC 3339 appendix A
    // allows only unbroken runs, such as no P1Y2D), or weeks; then a time part of hours, minutes and
    // seconds (any of them, in order).
    static let duration: String = {
        let n = "[0-9]{1,6}"  // Pydantic's timedelta stays under 999,999,999 days
        let time = "T(\(n)H(\(n)M)?(\(n)S)?|\(n)M(\(n)S)?|\(n)S)"
        let date = "(\(n)Y(\(n)M)?(\(n)D)?|\(n)M(\(n)D)?|\(n)D)"
        return "P(\(date)(\(time))?|\(time)|\(n)W)"
    }()
    // Days per month, Feb 29 only in leap years (years 0001-9999, as Python's date allows).
    static let year = "(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
    static let leapYear = "([0-9]{2}(0[48]|[2468][048]|[13579][26])|([2468][048]|[13579][26]|0[48])00)"
    static let date = "(" + year + "-(0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|" + year + "-(0[469]|11)-(0[1-9]|[12][0-9]|30)|"
        + year + "-02-(0[1-9]|1[0-9]|2[0-8])|" + leapYear + "-02-29)"
    static let time = "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"

    init(_ root: JSONValue, builder: GrammarBuilder) {
        self.root = root
        b = builder
        limits = builder.limits
    }

    /// Compiles the schema; the grammar is the document alone (no surrounding whitespace).
    func compile() throws -> CompiledGrammar {
        let start = b.addRule("root")
        b.define(start, try node(root, "#", depth: 0))
        while let (id, pointer) = pending.popLast() {
            guard let target = resolve(pointer) else { throw GrammarError.invalid("\(pointer): `$ref` target not found") }
            b.define(id, try node(target, pointer, depth: 0))
        }
        return try b.compile(root: start)
    }

    // MARK: - shared rules

    func sharedRule(_ name: String, _ make: () throws -> GrammarNode) rethrows -> GrammarNode {
        if let id = shared[name] { return .rule(id) }
        let id = b.addRule(name)
        shared[name] = id
        b.define(id, try make())
        return .rule(id)
    }

    /// Whitespace inside brackets and after commas: nothing, one space, or a newline and an
    /// indent of at most `maxWhitespace` spaces or tabs (0: no whitespace at all), as
    /// json.dumps writes with or without `indent`. Models sampled at temperature 1 otherwise
    /// pad (`"paint"   ,`); there is none before `,` and `:`, at most one space after `:`.
    var ws: GrammarNode { sharedRule("ws") { .jsonWhitespace(limits) } }
    /// After a `:`.
    var colonWS: GrammarNode { .jsonAfterColon(limits) }
    /// `,` between members or elements.
    var comma: GrammarNode { .seq([.text(","), ws]) }
    /// `:` between a key and its value.
    var colon: GrammarNode { .seq([.text(":"), colonWS]) }
    var jsonChar: GrammarNode { sharedRule("char") { JSONText.anyChar } }
    var anyString: GrammarNode { sharedRule("string") { .seq([.text("\""), .star(jsonChar), .text("\"")]) } }
    var anyNumber: GrammarNode {
        sharedRule("number") { NumberRanges.unbounded(integer: false) }
    }
    var anyValue: GrammarNode {
        if let id = shared["value"] { return .rule(id) }
        let id = b.addRule("value")
        shared["value"] = id
        let v = GrammarNode.rule(id)
        let ws = self.ws
        let kv: GrammarNode = .seq([anyString, colon, v])
        let object: GrammarNode = .seq([.text("{"), ws, .optional(.seq([kv, .star(.seq([comma, kv])), ws])), .text("}")])
        let array: GrammarNode = .seq([.text("["), ws, .optional(.seq([v, .star(.seq([comma, v])), ws])), .text("]")])
        b.define(id, .alt([sharedRule("object") { object }, sharedRule("array") { array }, anyString, anyNumber,
                           .text("true"), .text("false"), .text("null")]))
        return v
    }
    /// Any JSON object: `response_format` `json_object`.
    var anyObject: GrammarNode { _ = anyValue; return .rule(shared["object"]!) }

    // MARK: - schemas

    private func fail(_ path: String, _ m: String) -> GrammarError { .invalid("\(path): \(m)") }

    func node(_ schema: JSONValue, _ path: String, depth: Int) throws -> GrammarNode {
        visits += 1
        if visits & 63 == 0 { try b.deadline.check() }
        guard depth <= limits.maxNesting else { throw GrammarError.tooLarge("\(path): schema nested deeper than \(limits.maxNesting)") }
        let fields: [(String, JSONValue)]
        switch schema {
        case .bool(true): return anyValue
        case .bool(false): throw GrammarError.unsupported("\(path): the schema `false` allows nothing")
        case .object(let f): fields = f
        default: throw fail(path, "a schema must be an object or a boolean")
        }
        for (k, _) in fields where !Self.annotations.contains(k) && !Self.enforced.contains(k) {
            throw GrammarError.unsupported("\(path): keyword `\(k)` is not supported")
        }
        let keys = Set(fields.map(\.0)).subtracting(Self.annotations)
        if let r = schema["$ref"] {
            guard keys == ["$ref"] else {
                throw GrammarError.unsupported("\(path): `$ref` beside other keywords (\(keys.subtracting(["$ref"]).sorted().joined(separator: ", "))) is not supported")
            }
            guard case let .string(ref) = r else { throw fail(path, "`$ref` must be a string") }
            return try refNode(ref, path)
        }
        if let c = schema["const"] {
            guard keys == ["const"] || keys.subtracting(["const", "type"]).isEmpty else {
                throw GrammarError.unsupported("\(path): `const` beside other constraints is not supported")
            }
            if let types = try typeList(schema, path), !types.contains(where: { Self.typeMatches(c, $0) }) {
                throw fail(path, "the `const` value does not have the schema's type, so no value matches")
            }
            return .text(c.serialized)
        }
        if let e = schema["enum"] {
            guard case let .array(values) = e, !values.isEmpty else { throw fail(path, "`enum` must be a non-empty array") }
            guard keys.subtracting(["enum", "type"]).isEmpty else {
                throw GrammarError.unsupported("\(path): `enum` beside other constraints is not supported")
            }
            let types = try typeList(schema, path)
            let kept = values.filter { v in types.map { ts in ts.contains { Self.typeMatches(v, $0) } } ?? true }
            guard !kept.isEmpty else { throw fail(path, "no `enum` value has the schema's type") }
            return .alt(kept.map { .text($0.serialized) })
        }
        for k in ["anyOf", "oneOf"] {
            guard let v = schema[k] else { continue }
            guard keys == [k] else {
                throw GrammarError.unsupported("\(path): `\(k)` beside other keywords (\(keys.subtracting([k]).sorted().joined(separator: ", "))) is not supported")
            }
            guard case let .array(subs) = v, !subs.isEmpty else { throw fail(path, "`\(k)` must be a non-empty array of schemas") }
            if k == "oneOf" { try checkDisjoint(subs, path) } else { return try anyOf(subs, path, depth: depth) }
            return .alt(try subs.enumerated().map { try node($1, "\(path)/\(k)/\($0)", depth: depth + 1) })
        }
        if schema["allOf"] != nil {
            return try objectNode(try mergeAllOf(schema, path), path, depth: depth)
        }
        guard let types = try typeList(schema, path) ?? inferredTypes(keys) else { return anyValue }
        if keys.contains("multipleOf") && !types.contains(where: { $0 == "number" || $0 == "integer" }) {
            throw GrammarError.unsupported("\(path): `multipleOf` applies to numbers, and the schema's type is \(types.joined(separator: ", "))")
        }
        let alts = try types.map { try typed($0, schema, path, depth: depth) }
        return alts.count == 1 ? alts[0] : .alt(alts)
    }

    /// `anyOf`: an alternative Jeton cannot enforce (Pydantic's `Decimal` string, whose pattern
    /// has a lookahead, beside its number) is left out when another can be, since any value of the
    /// others still matches the schema. Not when only `null` would be left (an `Optional` field
    /// that could never be set), nor for a keyword Jeton does not know (a typo must be told): then,
    /// as with none left, the alternative's reason is the error.
    private func anyOf(_ subs: [JSONValue], _ path: String, depth: Int) throws -> GrammarNode {
        var nodes: [GrammarNode] = []
        var refused: GrammarError?
        var onlyNull = true
        for (i, sub) in subs.enumerated() {
            let rules = b.ruleCount, waiting = pending.count
            do {
                nodes.append(try node(sub, "\(path)/anyOf/\(i)", depth: depth + 1))
                if !Self.isNullOnly(sub) { onlyNull = false }
            } catch let e as GrammarError where e.kind == .unsupported && !e.message.contains("keyword `") {
                refused = refused ?? e
                // The rules the alternative began are left matching nothing (pruned when compiled).
                for id in rules..<b.ruleCount where !b.isDefined(id) { b.define(id, .alt([])) }
                pending.removeSubrange(waiting...)
                refRules = refRules.filter { $0.value < rules }
                shared = shared.filter { $0.value < rules }
            }
        }
        if let refused, onlyNull { throw refused }
        guard let first = nodes.first else { throw refused! }
        return nodes.count == 1 ? first : .alt(nodes)
    }

    /// A schema that allows `null` alone (`{"type": "null"}`, a null `const` or `enum`).
    static func isNullOnly(_ s: JSONValue) -> Bool {
        guard case let .object(fields) = s else { return false }
        let keys = Set(fields.map(\.0)).subtracting(annotations)
        if keys == ["type"], case .string("null")? = s["type"] { return true }
        if keys == ["const"], case .null? = s["const"] { return true }
        if keys == ["enum"], case let .array(v)? = s["enum"], v.allSatisfy({ $0 == .null }) { return true }
        return false
    }

    static func typeMatches(_ v: JSONValue, _ t: String) -> Bool {
        switch (v, t) {
        case (.null, "null"), (.bool, "boolean"), (.string, "string"), (.array, "array"), (.object, "object"), (.number, "number"): return true
        case let (.number(d, _), "integer"): return d == d.rounded()
        default: return false
        }
    }

    private func typeList(_ schema: JSONValue, _ path: String) throws -> [String]? {
        guard let t = schema["type"] else { return nil }
        let all: Set<String> = ["null", "boolean", "object", "array", "number", "integer", "string"]
        var out: [String] = []
        switch t {
        case let .string(s): out = [s]
        case let .array(xs):
            for x in xs { guard case let .string(s) = x else { throw fail(path, "`type` must be a string or an array of strings") }; out.append(s) }
        default: throw fail(path, "`type` must be a string or an array of strings")
        }
        for s in out where !all.contains(s) { throw fail(path, "unknown type `\(s)`") }
        guard !out.isEmpty else { throw fail(path, "`type` must not be empty") }
        if out.contains("number") { out.removeAll { $0 == "integer" } }
        return out
    }

    private func inferredTypes(_ keys: Set<String>) -> [String]? {
        var out: [String] = []
        if !keys.isDisjoint(with: ["properties", "required", "additionalProperties"]) { out.append("object") }
        if !keys.isDisjoint(with: ["items", "prefixItems", "minItems", "maxItems"]) { out.append("array") }
        if !keys.isDisjoint(with: ["minLength", "maxLength", "pattern", "format"]) { out.append("string") }
        if !keys.isDisjoint(with: ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"]) { out.append("number") }
        return out.isEmpty ? nil : out
    }

    private func typed(_ t: String, _ s: JSONValue, _ path: String, depth: Int) throws -> GrammarNode {
        switch t {
        case "null": return .text("null")
        case "boolean": return .alt([.text("true"), .text("false")])
        case "string": return try stringNode(s, path)
        case "number", "integer": return try numberNode(s, path, integer: t == "integer")
        case "array": return try arrayNode(s, path, depth: depth)
        default: return try objectNode(try objectShape(s, path), path, depth: depth)
        }
    }

    // MARK: - $ref

    private func refNode(_ ref: String, _ path: String) throws -> GrammarNode {
        guard ref == "#" || ref.hasPrefix("#/") else {
            throw GrammarError.unsupported("\(path): `$ref` \"\(ref)\": only local references (#/...) are supported")
        }
        if let id = refRules[ref] { return .rule(id) }
        guard resolve(ref) != nil else { throw fail(path, "`$ref` \"\(ref)\" points nowhere") }
        let id = b.addRule("ref:" + ref)
        refRules[ref] = id
        pending.append((id, ref))
        return .rule(id)
    }

    func resolve(_ ref: String) -> JSONValue? {
        guard ref != "#" else { return root }
        var v = root
        for raw in ref.dropFirst(2).split(separator: "/", omittingEmptySubsequences: false) {
            let key = raw.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            switch v {
            case let .object(f):
                guard let next = f.last(where: { $0.0 == key })?.1 else { return nil }
                v = next
            case let .array(a):
                guard let i = Int(key), a.indices.contains(i) else { return nil }
                v = a[i]
            default: return nil
            }
        }
        return v
    }

    private func deref(_ s: JSONValue, _ path: String, hops: Int = 0) throws -> JSONValue {
        guard case let .string(r)? = s["$ref"] else { return s }
        guard hops < 32, let t = resolve(r) else { throw fail(path, "`$ref` \"\(r)\" cannot be followed") }
        return try deref(t, path, hops: hops + 1)
    }
}

extension GrammarNode {
    /// The schemas' `ws` as a node of its own, for grammars composed around schemas (tool calls).
    public static func jsonWhitespace(_ limits: GrammarLimits) -> GrammarNode {
        guard limits.maxWhitespace > 0 else { return .empty }
        let indent: GrammarNode = .rep(.byteSet(ByteSet(Array(" \t".utf8))), min: 0, max: limits.maxWhitespace)
        return .alt([.empty, .text(" "), .seq([.text("\n"), indent])])
    }

    /// What may follow a `:`.
    public static func jsonAfterColon(_ limits: GrammarLimits) -> GrammarNode {
        limits.maxWhitespace > 0 ? .optional(.text(" ")) : .empty
    }
}
