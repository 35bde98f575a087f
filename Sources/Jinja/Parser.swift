/// Recursive-descent parser from tokens to `Node`s, following `jinja2.parser`.
/// Nesting is bounded (`TemplateOptions.maxNestingDepth`) so hostile input cannot
/// overflow the stack here or in the interpreter.
struct Parser {
    var tokens: [Token]
    var pos = 0
    var depth = 0
    let maxDepth: Int

    init(tokens: [Token], maxDepth: Int) {
        self.tokens = tokens
        self.maxDepth = maxDepth
    }

    static func parse(_ source: String, options: TemplateOptions) throws -> [Node] {
        let tokens = try Lexer.tokenize(source, options: options)
        var parser = Parser(tokens: tokens, maxDepth: options.maxNestingDepth)
        let (nodes, end) = try parser.parseBody(until: [])
        if let end {
            throw parser.error("unexpected '\(end)'", at: parser.previous)
        }
        return nodes
    }

    // MARK: Token helpers

    var current: Token { tokens[min(pos, tokens.count - 1)] }
    var previous: Token { tokens[max(0, min(pos - 1, tokens.count - 1))] }

    mutating func next() -> Token {
        let t = current
        if pos < tokens.count - 1 { pos += 1 }
        return t
    }

    func error(_ message: String, at token: Token? = nil) -> TemplateError {
        let t = token ?? current
        return .syntax(message, line: t.line, column: t.column)
    }

    func isOp(_ op: String) -> Bool { current.kind == .op(op) }
    func isName(_ name: String) -> Bool { current.kind == .name(name) }

    mutating func skipOp(_ op: String) -> Bool {
        if isOp(op) { _ = next(); return true }
        return false
    }

    mutating func skipName(_ name: String) -> Bool {
        if isName(name) { _ = next(); return true }
        return false
    }

    mutating func expectOp(_ op: String) throws {
        guard skipOp(op) else { throw error("expected '\(op)', got \(current.describe)") }
    }

    mutating func expectName() throws -> String {
        guard case .name(let n) = current.kind else { throw error("expected a name, got \(current.describe)") }
        _ = next()
        return n
    }

    mutating func expectBlockEnd() throws {
        guard current.kind == .blockEnd else { throw error("expected end of statement '%}', got \(current.describe)") }
        _ = next()
    }

    /// Counts one level of nesting; callers `defer { depth -= 1 }`.
    mutating func enter() throws {
        depth += 1
        if depth > maxDepth { throw error("template nesting too deep (limit \(maxDepth))") }
    }

    // MARK: Statements

    /// Parses nodes until a block tag whose keyword is in `until` (consumed up to the
    /// keyword, which is returned) or the end of input (returns nil).
    mutating func parseBody(until: Set<String>) throws -> ([Node], String?) {
        try enter()
        defer { depth -= 1 }
        var nodes: [Node] = []
        while true {
            let t = next()
            switch t.kind {
            case .eof:
                if !until.isEmpty {
                    throw error("unexpected end of template, expected \(until.sorted().map { "'\($0)'" }.joined(separator: " or "))", at: t)
                }
                return (nodes, nil)
            case .text(let s):
                nodes.append(.text(s))
            case .exprBegin:
                let e = try parseTuple()
                guard current.kind == .exprEnd else { throw error("expected '}}', got \(current.describe)") }
                _ = next()
                nodes.append(.output(e))
            case .blockBegin:
                guard case .name(let keyword) = current.kind else { throw error("expected a statement keyword, got \(current.describe)") }
                if until.contains(keyword) {
                    _ = next()
                    return (nodes, keyword)
                }
                nodes.append(try parseStatement())
            default:
                throw error("unexpected \(t.describe)", at: t)
            }
        }
    }

    mutating func parseStatement() throws -> Node {
        let keywordToken = current
        let keyword = try expectName()
        switch keyword {
        case "if": return try parseIf()
        case "for": return try parseFor(line: keywordToken.line)
        case "set": return try parseSet()
        case "macro": return try parseMacro()
        case "call": return try parseCallBlock()
        case "filter": return try parseFilterBlock()
        case "break", "continue":
            try expectBlockEnd()
            return keyword == "break" ? .breakLoop : .continueLoop
        case "raw":
            try expectBlockEnd()
            let (body, _) = try parseBody(until: ["endraw"])
            try expectBlockEnd()
            return .scope(body)
        case "generation":
            // transformers' AssistantTracker extension: only marks spans, renders as is.
            try expectBlockEnd()
            let (body, _) = try parseBody(until: ["endgeneration"])
            try expectBlockEnd()
            return .scope(body)
        case "include", "import", "from", "extends", "block":
            throw error("'\(keyword)' is not supported in chat templates", at: keywordToken)
        default:
            throw error("unknown statement '\(keyword)'", at: keywordToken)
        }
    }

    mutating func parseIf() throws -> Node {
        var branches: [(Expr, [Node])] = []
        var condition = try parseTuple(conditional: true)
        while true {
            try expectBlockEnd()
            let (body, end) = try parseBody(until: ["elif", "else", "endif"])
            branches.append((condition, body))
            if end == "elif" {
                condition = try parseTuple(conditional: true)
                continue
            }
            if end == "else" {
                try expectBlockEnd()
                let (otherwise, _) = try parseBody(until: ["endif"])
                try expectBlockEnd()
                return .ifChain(branches, otherwise: otherwise)
            }
            try expectBlockEnd()
            return .ifChain(branches, otherwise: [])
        }
    }

    mutating func parseFor(line: Int) throws -> Node {
        var targets = [try expectName()]
        while skipOp(",") {
            if isName("in") { break }
            targets.append(try expectName())
        }
        guard skipName("in") else { throw error("expected 'in', got \(current.describe)") }
        // No ternary here: a trailing `if` is the loop filter.
        let iterable = try parseTuple(conditional: false)
        var filter: Expr? = nil
        if skipName("if") { filter = try parseExpression() }
        if skipName("recursive") { throw error("recursive loops are not supported", at: previous) }
        try expectBlockEnd()
        let (body, end) = try parseBody(until: ["else", "endfor"])
        var otherwise: [Node] = []
        if end == "else" {
            try expectBlockEnd()
            (otherwise, _) = try parseBody(until: ["endfor"])
        }
        try expectBlockEnd()
        return .forLoop(targets: targets, iterable: iterable, filter: filter, body: body, otherwise: otherwise, line: line)
    }

    mutating func parseSet() throws -> Node {
        let first = try expectName()
        var target = AssignTarget.name(first)
        if skipOp(".") {
            target = .attribute(first, try expectName())
        } else if isOp(",") {
            var names = [first]
            while skipOp(",") { names.append(try expectName()) }
            target = .names(names)
        }
        if skipOp("=") {
            let value = try parseTuple()
            try expectBlockEnd()
            return .set(target, value)
        }
        // Block form: {% set x %}...{% endset %}, optionally filtered.
        let filters = try parseFilterChain()
        try expectBlockEnd()
        let (body, _) = try parseBody(until: ["endset"])
        try expectBlockEnd()
        return .setBlock(target, body: body, filters: filters)
    }

    /// `| f | g(args)` chains used by block set; a filter block starts without the pipe.
    mutating func parseFilterChain(leadingPipe: Bool = true) throws -> [(String, Arguments)] {
        var filters: [(String, Arguments)] = []
        var needPipe = leadingPipe
        while !needPipe || skipOp("|") {
            needPipe = true
            let name = try parseDottedName()
            let args = isOp("(") ? try parseCallArguments() : Arguments()
            filters.append((name, args))
        }
        return filters
    }

    mutating func parseParameters() throws -> [(String, Expr?)] {
        var params: [(String, Expr?)] = []
        try expectOp("(")
        while !isOp(")") {
            if !params.isEmpty { try expectOp(",") }
            if isOp(")") { break }
            let name = try expectName()
            let defaultValue: Expr? = skipOp("=") ? try parseExpression() : nil
            params.append((name, defaultValue))
        }
        try expectOp(")")
        return params
    }

    mutating func parseMacro() throws -> Node {
        let name = try expectName()
        let params = try parseParameters()
        try expectBlockEnd()
        let (body, _) = try parseBody(until: ["endmacro"])
        if case .name = current.kind { _ = next() }  // {% endmacro name %}
        try expectBlockEnd()
        return .macro(MacroDefinition(name: name, parameters: params, body: body))
    }

    mutating func parseCallBlock() throws -> Node {
        let callerParams = isOp("(") ? try parseParameters() : []
        let call = try parseExpression()
        guard case .call = unlocated(call) else { throw error("expected a macro call after 'call'") }
        try expectBlockEnd()
        let (body, _) = try parseBody(until: ["endcall"])
        try expectBlockEnd()
        return .callBlock(call: call, callerParameters: callerParams, body: body)
    }

    mutating func parseFilterBlock() throws -> Node {
        let filters = try parseFilterChain(leadingPipe: false)
        guard !filters.isEmpty else { throw error("expected a filter name") }
        try expectBlockEnd()
        let (body, _) = try parseBody(until: ["endfilter"])
        try expectBlockEnd()
        return .filterBlock(filters: filters, body: body)
    }

    func unlocated(_ e: Expr) -> Expr {
        if case .located(let inner, _) = e { return unlocated(inner) }
        return e
    }
}
