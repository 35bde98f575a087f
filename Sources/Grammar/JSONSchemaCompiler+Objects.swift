/// Objects, `allOf` and `oneOf` of `JSONSchemaCompiler`.
extension JSONSchemaCompiler {
    struct ObjectShape {
        enum Additional { case none, schema(JSONValue) }
        var properties: [(name: String, schema: JSONValue)] = []
        var required: Set<String> = []
        var additional: Additional = .none
        var explicitNone = false  // `additionalProperties: false` was written
        /// Properties whose schema is `false`: never written, and not an additional key either.
        var forbidden: [String] = []
    }

    /// `member`: a member of `allOf`, whose `required` may name properties another member defines
    /// (the merge checks them).
    func objectShape(_ s: JSONValue, _ path: String, member: Bool = false) throws -> ObjectShape {
        var shape = ObjectShape()
        if let p = s["properties"] {
            guard case let .object(fields) = p else { throw GrammarError.invalid("\(path): `properties` must be an object") }
            var seen = Set<String>()
            for (k, v) in fields where seen.insert(k).inserted {
                if case .bool(false) = v { shape.forbidden.append(k) } else { shape.properties.append((k, v)) }
            }
        }
        if let r = s["required"] {
            guard case let .array(xs) = r else { throw GrammarError.invalid("\(path): `required` must be an array of strings") }
            for x in xs {
                guard case let .string(k) = x else { throw GrammarError.invalid("\(path): `required` must be an array of strings") }
                shape.required.insert(k)
            }
        }
        switch s["additionalProperties"] {
        // An object with no `properties` either takes any keys, as JSON Schema means (and
        // llama.cpp reads it): closed, `{"type": "object"}` would allow only `{}`. With
        // `properties`, the object keeps to them (see the type's note).
        case nil: if s["properties"] == nil && !member { shape.additional = .schema(.bool(true)) }
        case .bool(false)?: shape.explicitNone = true
        case .bool(true)?: shape.additional = .schema(.bool(true))
        case let v?: shape.additional = .schema(v)
        }
        for k in shape.required.sorted() where !shape.properties.contains(where: { $0.name == k }) {
            if shape.forbidden.contains(k) {
                throw GrammarError.invalid("\(path): property `\(k)` is required but its schema is `false`: nothing can match")
            }
            if case let .schema(a) = shape.additional {
                shape.properties.append((k, a))
            } else if member {
                continue
            } else if !shape.explicitNone {
                // Not listed and additionalProperties left out (true in JSON Schema): any value.
                shape.properties.append((k, .bool(true)))
            } else {
                throw GrammarError.unsupported("\(path): required property `\(k)` is not in `properties` and no other property is allowed")
            }
        }
        return shape
    }

    func objectNode(_ shape: ObjectShape, _ path: String, depth: Int) throws -> GrammarNode {
        let ws = self.ws
        let sep = comma
        let names = shape.properties.map(\.name)
        var extra: GrammarNode? = nil
        if case let .schema(a) = shape.additional {
            let value = asRule(try node(a, "\(path)/additionalProperties", depth: depth + 1), "\(path)/additionalProperties")
            extra = .seq([keyNotIn(names + shape.forbidden), colon, value])
        }
        // rest[c]: the part after the listed properties; c: whether something was written (a comma is due).
        var rest: [GrammarNode] = [.empty, .empty]
        if let extra {
            let more = b.addRule("\(path)#more")
            b.define(more, .optional(.seq([sep, extra, .rule(more)])))
            rest = [.optional(.seq([extra, .rule(more)])), .rule(more)]
        }
        // Build from the last property back: seq[i][c].
        var next = rest
        for i in stride(from: shape.properties.count - 1, through: 0, by: -1) {
            let (name, schema) = shape.properties[i]
            let value = try node(schema, "\(path)/properties/\(name)", depth: depth + 1)
            let kv: GrammarNode = .seq([.text(JSONValue.quote(name)), colon, value])
            let kvRule = b.addRule("\(path)/properties/\(name)#kv")
            b.define(kvRule, .seq([kv, next[1]]))
            var cur: [GrammarNode] = []
            for c in 0..<2 {
                let emit: GrammarNode = .seq([c == 1 ? sep : .empty, .rule(kvRule)])
                let id = b.addRule("\(path)#\(i).\(c)")
                b.define(id, shape.required.contains(name) ? emit : .alt([emit, next[c]]))
                cur.append(.rule(id))
            }
            next = cur
        }
        return .seq([.text("{"), ws, next[0], ws, .text("}")])
    }

    /// A key (quoted) that is none of `names`: walks a trie of the names, leaving it by a
    /// character none of them has there, or by ending where none of them ends.
    func keyNotIn(_ names: [String]) -> GrammarNode {
        let words = Set(names).map { Array($0.unicodeScalars).map(\.value) }
        func at(_ group: [[UInt32]], _ k: Int) -> GrammarNode {
            var alts: [GrammarNode] = []
            if !group.contains(where: { $0.count == k }) { alts.append(.empty) }
            var children: [UInt32: [[UInt32]]] = [:]
            for w in group where w.count > k { children[w[k], default: []].append(w) }
            var taken = CodePointSet()
            for (c, ws) in children.sorted(by: { $0.key < $1.key }) {
                taken.insert(c...c)
                alts.append(.seq([JSONText.char(CodePointSet([c...c])), at(ws, k + 1)]))
            }
            let other = CodePointSet.all.subtracting(taken)
            alts.append(.seq([JSONText.char(other), .star(jsonChar)]))
            return .alt(alts)
        }
        return .seq([.text("\""), words.isEmpty ? .star(jsonChar) : at(words, 0), .text("\"")])
    }

    /// `allOf` of object schemas (through `$ref`s), and the object keywords beside it, as one object.
    func mergeAllOf(_ s: JSONValue, _ path: String, depth: Int = 0) throws -> ObjectShape {
        guard depth < 16 else { throw GrammarError.tooLarge("\(path): `allOf` nested too deep") }
        guard case let .array(subs)? = s["allOf"], !subs.isEmpty else {
            throw GrammarError.invalid("\(path): `allOf` must be a non-empty array of schemas")
        }
        let objectKeys: Set<String> = ["type", "properties", "required", "additionalProperties", "allOf"]
        var shapes: [ObjectShape] = []
        var members = subs.enumerated().map { ($1, "\(path)/allOf/\($0)") }
        if case let .object(f) = s { members.append((.object(f.filter { $0.0 != "allOf" }), path)) }
        for (m0, p) in members {
            var m = m0
            var hops = 0
            while case let .string(r)? = m["$ref"], hops < 32 {
                guard let t = resolve(r) else { throw GrammarError.invalid("\(p): `$ref` \"\(r)\" points nowhere") }
                m = t
                hops += 1
            }
            guard case let .object(f) = m else { throw GrammarError.unsupported("\(p): `allOf` is supported for object schemas only") }
            for (k, v) in f where !Self.annotations.contains(k) {
                guard objectKeys.contains(k) else {
                    throw GrammarError.unsupported("\(p): `allOf` is supported for object schemas only (found `\(k)`)")
                }
                if k == "type", v != .string("object") { throw GrammarError.unsupported("\(p): `allOf` is supported for object schemas only") }
            }
            shapes.append(m["allOf"] != nil ? try mergeAllOf(m, p, depth: depth + 1) : try objectShape(m, p, member: true))
        }
        var out = ObjectShape()
        for sh in shapes {
            out.required.formUnion(sh.required)
            out.forbidden += sh.forbidden
            for (n, v) in sh.properties {
                if let old = out.properties.first(where: { $0.name == n }) {
                    guard old.schema == v else {
                        throw GrammarError.unsupported("\(path): `allOf` members give property `\(n)` different schemas")
                    }
                } else {
                    out.properties.append((n, v))
                }
            }
            if case .schema = sh.additional {
                throw GrammarError.unsupported("\(path): `additionalProperties` schemas inside `allOf` are not supported")
            }
        }
        for sh in shapes where sh.explicitNone {
            let allowed = Set(sh.properties.map(\.name))
            for p in out.properties where !allowed.contains(p.name) {
                guard !out.required.contains(p.name) else {
                    throw GrammarError.unsupported("\(path): `allOf` requires `\(p.name)`, which a member forbids")
                }
            }
            out.properties.removeAll { !allowed.contains($0.name) }
        }
        out.properties.removeAll { out.forbidden.contains($0.name) }
        for k in out.required.sorted() where !out.properties.contains(where: { $0.name == k }) {
            throw GrammarError.unsupported("\(path): `allOf` requires `\(k)`, which no member defines or a member forbids")
        }
        return out
    }

    /// `oneOf` means exactly one: the grammar's alternatives must not overlap, so they must
    /// differ by JSON type, or all be objects told apart by a required `const`/`enum` property.
    func checkDisjoint(_ subs: [JSONValue], _ path: String) throws {
        let derefed = subs.map { s -> JSONValue in
            var m = s
            var hops = 0
            while case let .string(r)? = m["$ref"], hops < 32, let t = resolve(r) { m = t; hops += 1 }
            return m
        }
        let classes = derefed.map(typeClasses)
        if classes.allSatisfy({ $0 != nil }) {
            var seen = Set<String>()
            var overlap = false
            for c in classes { if !seen.isDisjoint(with: c!) { overlap = true }; seen.formUnion(c!) }
            if !overlap { return }
        }
        // Objects with a discriminating property.
        if case let .array(req)? = derefed[0]["required"] {
            for case let .string(key) in req {
                var seen = Set<String>()
                var ok = true
                for d in derefed {
                    guard case let .array(r)? = d["required"], r.contains(.string(key)),
                          let p = d["properties"]?[key] else { ok = false; break }
                    var p2 = p
                    if case let .string(ref)? = p["$ref"], let t = resolve(ref) { p2 = t }
                    let values: [JSONValue]
                    if let c = p2["const"] { values = [c] } else if case let .array(e)? = p2["enum"] { values = e } else { ok = false; break }
                    for v in values where !seen.insert(v.serialized).inserted { ok = false }
                }
                if ok { return }
            }
        }
        throw GrammarError.unsupported("\(path): `oneOf` whose alternatives can match the same value cannot be enforced; use `anyOf`, or alternatives of different types or with a distinct required `const` property")
    }

    private func typeClasses(_ s: JSONValue) -> Set<String>? {
        func cls(_ v: JSONValue) -> String {
            switch v {
            case .null: return "null"
            case .bool: return "boolean"
            case .number: return "number"
            case .string: return "string"
            case .array: return "array"
            case .object: return "object"
            }
        }
        if let c = s["const"] { return [cls(c)] }
        if case let .array(e)? = s["enum"] { return Set(e.map(cls)) }
        if let t = s["type"] {
            switch t {
            case let .string(x): return [x == "integer" ? "number" : x]
            case let .array(xs): return Set(xs.compactMap { if case let .string(x) = $0 { return x == "integer" ? "number" : x }; return nil })
            default: return nil
            }
        }
        if case let .array(xs)? = s["anyOf"] {
            var out = Set<String>()
            for x in xs { guard let c = typeClasses(x) else { return nil }; out.formUnion(c) }
            return out
        }
        return nil
    }
}
