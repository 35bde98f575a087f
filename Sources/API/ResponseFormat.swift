import Grammar

/// Structured outputs: the request fields that constrain what the model writes, read into a
/// compiled grammar. OpenAI's `response_format`; llama-server's `json_schema` and `grammar`;
/// vLLM's `guided_json`, `guided_regex`, `guided_choice`, `guided_grammar`. At most one may be
/// given; a schema or grammar that does not compile is a 400 naming the field.
extension OpenAIAPI {
    /// The grammar the request asks for (compiled, or found in the cache), or nil.
    func constrainedGrammar(_ r: FieldReader) throws -> TokenGrammar? {
        guard let (spec, param) = try grammarSpec(r) else { return nil }
        let cache = grammars ?? GrammarCache(trie: TokenTrie(tokenizer: model.tokenizer))
        do {
            return try cache.grammar(spec)
        } catch let e as GrammarError {
            let code: String
            switch e.kind {
            case .invalid: code = "invalid_grammar"
            case .unsupported: code = "unsupported_grammar"
            case .tooLarge: code = "grammar_too_large"
            }
            throw APIError.invalid("`\(param)` cannot be used: \(e.message)", param: param, code: code)
        }
    }

    /// Which field constrains the output, and how; nil when none does.
    func grammarSpec(_ r: FieldReader) throws -> (GrammarSpec, String)? {
        var found: [(GrammarSpec, String)] = []
        if let rf = r.raw("response_format") {
            guard case .object = rf else {
                throw APIError.invalid("`response_format` must be an object with a `type`.", param: "response_format")
            }
            let f = try FieldReader(rf)
            let type: String?
            do { type = try f.string("type") } catch { throw APIError.invalid("`response_format.type` must be a string.", param: "response_format.type") }
            switch type {
            case "text"?: break
            case "json_object"?:
                // llama-server also takes a schema here.
                if let s = f.raw("schema") {
                    found.append((try schemaSpec(s, param: "response_format.schema"), "response_format.schema"))
                } else {
                    found.append((.jsonObject, "response_format"))
                }
            case "json_schema"?:
                guard let js = f.raw("json_schema"), case .object = js else {
                    throw APIError.invalid("`response_format.json_schema` must be an object (with a `name` and, to constrain the answer, a `schema`).", param: "response_format.json_schema")
                }
                let j = try FieldReader(js)
                do {
                    // OpenAI's rule for the name; llama-server's requests leave it out.
                    if let name = try j.string("name"), !Self.validFunctionName(name) {
                        throw APIError.invalid("`name` must be 1 to 64 letters, digits, underscores or dashes.", param: "name")
                    }
                    _ = try j.string("description")
                    _ = try j.bool("strict")
                } catch let e as APIError {
                    throw APIError.invalid(e.message.replacingOccurrences(of: "`", with: "`response_format.json_schema.", options: [], range: e.message.range(of: "`")),
                                           param: "response_format.json_schema." + (e.param ?? ""))
                }
                try j.refuseUnknown(ignoring: ["schema"], in: "response_format.json_schema")
                // OpenAI's `schema` is optional: without one the answer is any JSON object.
                guard let s = j.raw("schema") else {
                    found.append((.jsonObject, "response_format"))
                    break
                }
                let param = "response_format.json_schema.schema"
                found.append((try schemaSpec(s, param: param), param))
            default:
                throw APIError.invalid("`response_format.type` must be \"text\", \"json_object\" or \"json_schema\".",
                                       param: "response_format.type")
            }
            try f.refuseUnknown(ignoring: ["schema", "json_schema"], in: "response_format")
        }
        for key in ["json_schema", "guided_json"] {
            guard let s = r.raw(key) else { continue }
            found.append((try schemaSpec(s, param: key), key))
        }
        for (key, make) in [("grammar", GrammarSpec.gbnf), ("guided_grammar", GrammarSpec.gbnf), ("guided_regex", GrammarSpec.regex)] {
            guard let text = try r.string(key) else { continue }
            guard !text.isEmpty else { throw APIError.invalid("`\(key)` must not be empty.", param: key) }
            found.append((make(text), key))
        }
        if let c = r.raw("guided_choice") {
            guard case let .array(items) = c, !items.isEmpty else {
                throw APIError.invalid("`guided_choice` must be a non-empty array of strings.", param: "guided_choice")
            }
            let strings: [String] = try items.map {
                guard case let .string(s) = $0, !s.isEmpty else {
                    throw APIError.invalid("`guided_choice` must be a non-empty array of strings.", param: "guided_choice")
                }
                return s
            }
            found.append((.choice(strings), "guided_choice"))
        }
        if found.count > 1 {
            throw APIError.invalid("Only one of `response_format` (json), `json_schema`, `grammar`, `guided_json`, `guided_regex`, `guided_choice` and `guided_grammar` may be given.",
                                   param: found[1].1)
        }
        return found.first
    }

    /// A schema given as a JSON object (or boolean), or as JSON text (vLLM accepts both).
    private func schemaSpec(_ v: JSON, param: String) throws -> GrammarSpec {
        switch v {
        case .object, .bool: return .jsonSchema(v.serialized)
        case let .string(s):
            // JSON text must hold a schema: a plain word is a mistake to name, not a parse error.
            guard let parsed = JSON.parse(Array(s.utf8)) else {
                throw APIError.invalid("`\(param)` must be a JSON schema object (or the JSON text of one); the string given is not JSON.", param: param)
            }
            guard case .object = parsed else { return try schemaSpec(parsed, param: param) }
            return .jsonSchema(s)
        default: throw APIError.invalid("`\(param)` must be a JSON schema object.", param: param)
        }
    }
}
