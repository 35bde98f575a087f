import Grammar
import Jinja

/// What a chat request's `tools`, `tool_choice` and `parallel_tool_calls` ask for, checked:
/// the tools as the chat template gets them, the parser for the answer, and the grammar that
/// makes calls valid: the whole answer for `required` or a named function; under `auto`, from
/// where a call begins on (`lazy`), as llama-server's lazy grammars do.
struct ToolPlan {
    enum Choice: Equatable {
        case none, auto, required
        case function(String)
    }

    /// The `tools` template variable (nil: not rendered).
    var templateTools: [Value]?
    /// Parse the answer for calls in this format (nil: the answer is all content).
    var format: ToolCallFormat?
    var grammar: TokenGrammar?
    /// Under `auto`: where the grammar (of one call) starts holding; nil: from the first token.
    var lazy: LazyGrammar? = nil
    var choice: Choice
    var toolNames: Set<String> = []
}

extension OpenAIAPI {
    static let maxTools = 128

    /// Reads the tool fields; nil when the request has no tools.
    /// `body`: the request's JSON text, from which the tools are read again for the template
    /// as Python's json.loads gives them (`2.0` stays a float, large integers stay exact).
    /// `generating`: false for endpoints that only render the prompt (no lazy grammar to build).
    func toolPlan(_ r: FieldReader, body: [UInt8]? = nil, generating: Bool = true) throws -> ToolPlan? {
        let parallel = try r.bool("parallel_tool_calls") ?? true
        let choice = try toolChoice(r)
        guard let raw = r.raw("tools") else {
            switch choice {
            case nil, .none?, .auto?: return nil
            default: throw APIError.invalid("`tool_choice` needs `tools`: there is no tool to call.", param: "tool_choice")
            }
        }
        guard case let .array(items) = raw else { throw APIError.invalid("`tools` must be an array of tools.", param: "tools") }
        guard items.count <= Self.maxTools else {
            throw APIError.invalid("`tools` can hold at most \(Self.maxTools) tools.", param: "tools")
        }
        if items.isEmpty {
            if case .function? = choice { throw APIError.invalid("`tool_choice` names a function but `tools` is empty.", param: "tool_choice") }
            if choice == .required { throw APIError.invalid("`tool_choice` is \"required\" but `tools` is empty.", param: "tool_choice") }
            return nil
        }
        var tools: [(name: String, description: String?, parameters: JSON?)] = []
        for (i, item) in items.enumerated() {
            let p = "tools[\(i)]"
            guard case .object = item else { throw APIError.invalid("`\(p)` must be an object.", param: p) }
            let t = try FieldReader(item)
            guard (try? t.string("type")) == "function" else {
                throw APIError.invalid("`\(p).type` must be \"function\" (the only kind of tool).", param: "\(p).type")
            }
            guard let f = t.raw("function"), case .object = f else {
                throw APIError.invalid("`\(p).function` must be an object with a `name`.", param: "\(p).function")
            }
            let fr = try FieldReader(f)
            guard case let .string(name)? = fr.raw("name"), Self.validFunctionName(name) else {
                throw APIError.invalid("`\(p).function.name` must be 1 to 64 letters, digits, underscores or dashes.", param: "\(p).function.name")
            }
            guard !tools.contains(where: { $0.name == name }) else {
                throw APIError.invalid("`\(p).function.name`: two tools are named \"\(name)\".", param: "\(p).function.name")
            }
            let description: String?
            do { description = try fr.string("description"); _ = try fr.bool("strict") } catch {
                throw APIError.invalid("`\(p).function.description` must be a string and `strict` a boolean.", param: "\(p).function")
            }
            let parameters = fr.raw("parameters")
            if let s = parameters, case .object = s {} else if parameters != nil {
                throw APIError.invalid("`\(p).function.parameters` must be a JSON schema object.", param: "\(p).function.parameters")
            }
            // A call's arguments are an object (OpenAI's rule): a schema of another type would
            // make `arguments` a string or an array that clients cannot unpack.
            if case let .object(fields)? = parameters, let type = fields.last(where: { $0.0 == "type" })?.1,
               type != .null, type != .string("object") {
                throw APIError.invalid("`\(p).function.parameters` must be a schema of `\"type\": \"object\"` (a call's arguments are an object).",
                                       param: "\(p).function.parameters")
            }
            // A misspelt key (`paramters`) would otherwise drop the schema without a word.
            try fr.refuseUnknown(ignoring: [], in: "\(p).function")
            try t.refuseUnknown(ignoring: [], in: p)
            tools.append((name, description, parameters))
        }
        let names = tools.map(\.name)
        if case let .function(n)? = choice, !names.contains(n) {
            throw APIError.invalid("`tool_choice` names the function \"\(n)\", which is not in `tools`.", param: "tool_choice.function.name")
        }
        let effective = choice ?? .auto
        if effective == .none { return ToolPlan(templateTools: nil, format: nil, grammar: nil, choice: .none) }
        // Every schema must compile; one Jeton cannot enforce is still fine for `auto` (only the prompt shows it).
        let constrained: [String] = {
            switch effective {
            case let .function(n): return [n]
            case .required: return names
            default: return []
            }
        }()
        var schemas: [String: CompiledGrammar] = [:]
        for (i, t) in tools.enumerated() {
            let param = "tools[\(i)].function.parameters"
            do {
                schemas[t.name] = try compiledSchema(Self.parametersSchema(t.parameters))
            } catch let e as GrammarError {
                if case .unsupported = e.kind, !constrained.contains(t.name) { continue }
                throw APIError.invalid("`\(param)` cannot be used: \(e.message)", param: param, code: "invalid_tool_schema")
            }
        }
        guard let format = toolCallFormat else {
            throw APIError.invalid("This model's chat template does not render tools, so it cannot call them (send `tool_choice: \"none\"`, serve a model whose template has tools, or set model.tool_call_format and a chat template that renders them).",
                                   param: "tools", code: "tools_not_supported")
        }
        var grammar: TokenGrammar?
        var lazy: LazyGrammar?
        if !constrained.isEmpty {
            let calls = constrained.map { n in (n, Self.parametersSchema(tools.first { $0.name == n }!.parameters).serialized, schemas[n]!) }
            do {
                grammar = try toolGrammars.grammar(format: format, calls: calls, parallel: parallel && effective == .required,
                                                   limits: grammars?.limits ?? GrammarLimits(), trie: trie)
            } catch let e as GrammarError {
                throw APIError.invalid("`tools` cannot be constrained: \(e.message)", param: "tools", code: "invalid_tool_schema")
            }
        } else if generating, effective == .auto, !format.lazyTriggers.isEmpty {
            // Calls the model opens are kept to the tools and their schemas; the prose around them
            // is free. A tool whose schema uses a keyword Jeton cannot enforce takes any object
            // (it must stay callable; the others keep theirs). Left free when the grammar
            // outgrows the limits.
            let anyObject: JSON = ["type": "object"]
            let loose = schemas.count < tools.count ? try? compiledSchema(anyObject) : nil
            let calls = tools.compactMap { t in
                schemas[t.name].map { (t.name, Self.parametersSchema(t.parameters).serialized, $0) } ?? loose.map { (t.name, anyObject.serialized, $0) }
            }
            if calls.count == tools.count, let g = try? toolGrammars.grammar(format: format, calls: calls, parallel: parallel, lazy: true,
                                                 limits: grammars?.limits ?? GrammarLimits(), trie: trie) {
                grammar = g
                lazy = LazyGrammar(triggers: format.lazyTriggers, rearm: parallel)
            }
        }
        // The tools as the request sent them (key order, `strict` and any other field), as
        // transformers hands them to the template.
        let rendered: [Value] = Self.exactTools(body, count: items.count) ?? items.map(Self.templateValue)
        return ToolPlan(templateTools: rendered, format: format, grammar: grammar, lazy: lazy,
                        choice: effective, toolNames: Set(names))
    }

    private func toolChoice(_ r: FieldReader) throws -> ToolPlan.Choice? {
        guard let v = r.raw("tool_choice") else { return nil }
        switch v {
        case .string("none"): return ToolPlan.Choice.none
        case .string("auto"): return .auto
        case .string("required"): return .required
        case .object:
            let c = try FieldReader(v)
            guard (try? c.string("type")) == "function", let f = c.raw("function"), case .object = f,
                  case let .string(name)? = (try FieldReader(f)).raw("name") else {
                throw APIError.invalid("`tool_choice` must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}.", param: "tool_choice")
            }
            return .function(name)
        default:
            throw APIError.invalid("`tool_choice` must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}.", param: "tool_choice")
        }
    }

    /// A function without `parameters` takes none: `{}`.
    static func parametersSchema(_ p: JSON?) -> JSON {
        p ?? ["type": "object", "properties": [:]]
    }

    static func validFunctionName(_ s: String) -> Bool {
        (1...64).contains(s.utf8.count) && s.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x2D
        }
    }

    /// The vocabulary's trie, shared with structured outputs.
    var trie: TokenTrie { grammars?.trie ?? TokenTrie(tokenizer: model.tokenizer) }

    /// A schema compiled once (through the structured-output cache when there is one).
    private func compiledSchema(_ schema: JSON) throws -> CompiledGrammar {
        let spec = GrammarSpec.jsonSchema(schema.serialized)
        if let g = grammars { return try g.grammar(spec).grammar }
        return try spec.compile()
    }

    /// The request's `tools` parsed from its text by the template engine's JSON reader, which
    /// keeps integers and floats apart as json.loads does; nil when that is not possible.
    static func exactTools(_ body: [UInt8]?, count: Int) -> [Value]? {
        guard let body, case let .object(root)? = try? Value(json: String(decoding: body, as: UTF8.self), maxDepth: 512),
              case let .array(tools)? = root["tools"], tools.count == count else { return nil }
        return tools
    }

    /// A JSON value as a template sees it (Python's json.loads result): a number as the request
    /// wrote it is an int when written without a point or exponent (and within Int), else a
    /// float, as the template engine's own JSON reader decides; a number without its text (none
    /// comes from a request) is an int when whole.
    static func templateValue(_ j: JSON) -> Value {
        switch j {
        case .null: return .none
        case let .bool(b): return .bool(b)
        case let .number(n, _?): return j.integerText.flatMap { Int($0) }.map(Value.int) ?? .double(n)
        case let .number(n, nil): return n == n.rounded() && abs(n) < 9e15 ? .int(Int(n)) : .double(n)
        case let .string(s): return .string(s)
        case let .array(a): return .array(a.map(templateValue))
        case let .object(fs): return .object(OrderedObject(fs.map { ($0.0, templateValue($0.1)) }))
        }
    }
}
