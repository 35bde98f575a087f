/// What a request constrains its output to, before compiling.
public enum GrammarSpec: Hashable, Sendable {
    case jsonSchema(String)   // schema text
    case jsonObject           // any JSON object
    case regex(String)        // the whole output matches (re.fullmatch)
    case choice([String])     // exactly one of these strings
    case gbnf(String)         // llama.cpp grammar, from `root`

    /// The cache key: the kind and the text.
    public var key: String {
        switch self {
        case let .jsonSchema(s): return "schema:" + s
        case .jsonObject: return "json_object"
        case let .regex(s): return "regex:" + s
        case let .choice(xs): return "choice:" + xs.map { "\($0.utf8.count):\($0)" }.joined()
        case let .gbnf(s): return "gbnf:" + s
        }
    }

    /// Compiles, within the limits (size, nesting, symbols, time).
    public func compile(limits: GrammarLimits = .init()) throws -> CompiledGrammar {
        let size = key.utf8.count
        guard size <= limits.maxSourceBytes + 16 else {
            throw GrammarError.tooLarge("the grammar text is \(size) bytes; at most \(limits.maxSourceBytes) are accepted")
        }
        let b = GrammarBuilder(limits: limits)
        switch self {
        case let .jsonSchema(text):
            let schema: JSONValue
            do {
                schema = try JSONValue.parse(text, maxDepth: limits.maxNesting * 2 + 8)
            } catch let e as GrammarError where e.kind == .tooLarge {
                // A schema level is two JSON levels (the schema, its `properties`): named as the setting is.
                throw GrammarError.tooLarge("the schema is nested deeper than \(limits.maxNesting) levels (grammar.max_nesting)")
            }
            return try JSONSchemaCompiler(schema, builder: b).compile()
        case .jsonObject:
            let c = JSONSchemaCompiler(.object([]), builder: b)
            let root = b.addRule("root")
            b.define(root, c.anyObject)
            return try b.compile(root: root)
        case let .regex(pattern):
            var p = RegexParser(pattern, mode: .raw, maxNesting: limits.maxNesting)
            let root = b.addRule("root")
            b.define(root, try p.parse(search: false))
            return try b.compile(root: root)
        case let .choice(xs):
            guard !xs.isEmpty else { throw GrammarError.invalid("the choice is empty") }
            let root = b.addRule("root")
            b.define(root, .alt(xs.map { .text($0) }))
            return try b.compile(root: root)
        case let .gbnf(text):
            var p = GBNFParser(text, builder: b)
            let root = try p.parse()
            return try b.compile(root: root)
        }
    }
}
