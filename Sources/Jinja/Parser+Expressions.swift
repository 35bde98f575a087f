/// Expression grammar, with Jinja's precedence (lowest first):
/// ternary, or, and, not, comparisons/in, + -, ~, * / // %, **, unary - +,
/// then primary with postfix `.x` `[i]` `(args)` and `|filter` / `is test`.
extension Parser {
    /// `a, b` becomes a tuple where Jinja allows it (output, set, for iterable).
    mutating func parseTuple(conditional: Bool = true) throws -> Expr {
        // Runtime errors inside a tag report the tag's line.
        let line = current.line
        let first = conditional ? try parseExpression() : try parseOr()
        guard isOp(",") else { return .located(first, line: line) }
        var items = [first]
        while skipOp(",") {
            if isTupleEnd() { break }
            items.append(conditional ? try parseExpression() : try parseOr())
        }
        return .located(.tuple(items), line: line)
    }

    private func isTupleEnd() -> Bool {
        switch current.kind {
        case .blockEnd, .exprEnd, .eof: return true
        case .op(let o): return o == ")" || o == "=" 
        case .name(let n): return n == "if"
        default: return false
        }
    }

    mutating func parseExpression() throws -> Expr {
        try enter()
        defer { depth -= 1 }
        var expr = try parseOr()
        var links = 0
        defer { depth -= links }
        while skipName("if") {
            try enter(); links += 1
            let test = try parseOr()
            let otherwise: Expr? = skipName("else") ? try parseExpression() : nil
            expr = .conditional(test: test, then: expr, otherwise: otherwise)
        }
        return expr
    }

    mutating func parseOr() throws -> Expr {
        var left = try parseAnd()
        var links = 0
        defer { depth -= links }
        while skipName("or") { try enter(); links += 1; left = .or(left, try parseAnd()) }
        return left
    }

    mutating func parseAnd() throws -> Expr {
        var left = try parseNot()
        var links = 0
        defer { depth -= links }
        while skipName("and") { try enter(); links += 1; left = .and(left, try parseNot()) }
        return left
    }

    mutating func parseNot() throws -> Expr {
        if isName("not") {
            _ = next()
            try enter()
            defer { depth -= 1 }
            return .unary("not", try parseNot())
        }
        return try parseCompare()
    }

    mutating func parseCompare() throws -> Expr {
        let left = try parseMath1()
        var ops: [(String, Expr)] = []
        var links = 0
        defer { depth -= links }
        while true {
            if case .op(let o) = current.kind, ["==", "!=", "<", "<=", ">", ">="].contains(o) {
                _ = next()
                try enter(); links += 1
                ops.append((o, try parseMath1()))
            } else if skipName("in") {
                ops.append(("in", try parseMath1()))
            } else if isName("not"), pos + 1 < tokens.count, tokens[pos + 1].kind == .name("in") {
                _ = next(); _ = next()
                ops.append(("not in", try parseMath1()))
            } else {
                break
            }
        }
        return ops.isEmpty ? left : .compare(left, ops)
    }

    mutating func parseMath1() throws -> Expr {
        var left = try parseConcat()
        var links = 0
        defer { depth -= links }
        while case .op(let o) = current.kind, o == "+" || o == "-" {
            _ = next()
            try enter(); links += 1
            left = .binary(o, left, try parseConcat())
        }
        return left
    }

    mutating func parseConcat() throws -> Expr {
        var left = try parseMath2()
        var links = 0
        defer { depth -= links }
        while skipOp("~") { try enter(); links += 1; left = .binary("~", left, try parseMath2()) }
        return left
    }

    mutating func parseMath2() throws -> Expr {
        var left = try parsePow()
        var links = 0
        defer { depth -= links }
        while case .op(let o) = current.kind, ["*", "/", "//", "%"].contains(o) {
            let t = next()
            try enter(); links += 1
            left = .located(.binary(o, left, try parsePow()), line: t.line)
        }
        return left
    }

    mutating func parsePow() throws -> Expr {
        var left = try parseUnary()
        var links = 0
        defer { depth -= links }
        while skipOp("**") { try enter(); links += 1; left = .binary("**", left, try parseUnary()) }
        return left
    }

    mutating func parseUnary(withFilter: Bool = true) throws -> Expr {
        var expr: Expr
        if case .op(let o) = current.kind, o == "-" || o == "+" {
            _ = next()
            try enter()
            defer { depth -= 1 }
            expr = .unary(o, try parseUnary(withFilter: false))
        } else {
            expr = try parsePostfix(try parsePrimary())
        }
        if withFilter { expr = try parseFilterTests(expr) }
        return expr
    }

    mutating func parsePrimary() throws -> Expr {
        let t = next()
        switch t.kind {
        case .name(let n):
            switch n {
            case "true", "True": return .literal(.bool(true))
            case "false", "False": return .literal(.bool(false))
            case "none", "None": return .literal(.none)
            default: return .located(.name(n), line: t.line)
            }
        case .string(var s):
            // Adjacent literals concatenate, as in Python.
            while case .string(let more) = current.kind { s += more; _ = next() }
            return .literal(.string(s))
        case .int(let i): return .literal(.int(i))
        case .double(let d): return .literal(.double(d))
        case .op("("):
            // Elements go through parseExpression, which counts the nesting level.
            if skipOp(")") { return .tuple([]) }
            let first = try parseExpression()
            if skipOp(")") { return first }
            var items = [first]
            while skipOp(",") {
                if isOp(")") { break }
                items.append(try parseExpression())
            }
            try expectOp(")")
            return .tuple(items)
        case .op("["):
            var items: [Expr] = []
            while !isOp("]") {
                if !items.isEmpty { try expectOp(",") }
                if isOp("]") { break }
                items.append(try parseExpression())
            }
            try expectOp("]")
            return .list(items)
        case .op("{"):
            var pairs: [(Expr, Expr)] = []
            while !isOp("}") {
                if !pairs.isEmpty { try expectOp(",") }
                if isOp("}") { break }
                let key = try parseExpression()
                try expectOp(":")
                pairs.append((key, try parseExpression()))
            }
            try expectOp("}")
            return .dict(pairs)
        default:
            throw error("unexpected \(t.describe)", at: t)
        }
    }

    mutating func parsePostfix(_ base: Expr) throws -> Expr {
        var expr = base
        var links = 0
        defer { depth -= links }
        while true {
            let t = current
            if isOp(".") || isOp("[") || isOp("(") { try enter(); links += 1 }
            if skipOp(".") {
                switch current.kind {
                case .name(let n): _ = next(); expr = .attribute(expr, n)
                case .int(let i): _ = next(); expr = .item(expr, .literal(.int(i)))
                default: throw error("expected an attribute name, got \(current.describe)")
                }
            } else if skipOp("[") {
                expr = try parseSubscript(expr)
            } else if isOp("(") {
                expr = .located(.call(expr, try parseCallArguments()), line: t.line)
            } else {
                return expr
            }
        }
    }

    /// After `[`: an index or a slice `[start:stop:step]`.
    mutating func parseSubscript(_ base: Expr) throws -> Expr {
        var parts: [Expr?] = []
        var current: Expr? = nil
        var sawColon = false
        while !isOp("]") {
            if skipOp(":") {
                parts.append(current)
                current = nil
                sawColon = true
                guard parts.count <= 2 else { throw error("too many ':' in slice") }
            } else {
                guard current == nil else { throw error("expected ']' or ':', got \(self.current.describe)") }
                current = try parseExpression()
            }
        }
        try expectOp("]")
        if !sawColon {
            guard let index = current else { throw error("expected an index inside '[]'") }
            return .item(base, index)
        }
        parts.append(current)
        while parts.count < 3 { parts.append(nil) }
        return .slice(base, start: parts[0], stop: parts[1], step: parts[2])
    }

    mutating func parseCallArguments() throws -> Arguments {
        try expectOp("(")
        var args = Arguments()
        while !isOp(")") {
            if !args.positional.isEmpty || !args.keyword.isEmpty { try expectOp(",") }
            if isOp(")") { break }
            if case .name(let n) = current.kind, pos + 1 < tokens.count, tokens[pos + 1].kind == .op("=") {
                _ = next(); _ = next()
                args.keyword.append((n, try parseExpression()))
            } else {
                guard args.keyword.isEmpty else { throw error("positional argument follows keyword argument") }
                args.positional.append(try parseExpression())
            }
        }
        try expectOp(")")
        return args
    }

    mutating func parseDottedName() throws -> String {
        var name = try expectName()
        while skipOp(".") { name += "." + (try expectName()) }
        return name
    }

    /// `| filter(args)` and `is [not] test args` chains after a unary expression.
    mutating func parseFilterTests(_ base: Expr) throws -> Expr {
        var expr = base
        var links = 0
        defer { depth -= links }
        while true {
            let t = current
            if isOp("|") || isName("is") || isOp("(") { try enter(); links += 1 }
            if skipOp("|") {
                let name = try parseDottedName()
                let args = isOp("(") ? try parseCallArguments() : Arguments()
                expr = .located(.filter(expr, name: name, args), line: t.line)
            } else if skipName("is") {
                let negated = skipName("not")
                let name = try parseDottedName()
                var args = Arguments()
                if isOp("(") {
                    args = try parseCallArguments()
                } else if startsBareTestArgument() {
                    // `x is divisibleby 3`, `x is sameas none`
                    args.positional = [try parsePostfix(try parsePrimary())]
                }
                expr = .located(.test(expr, name: name, args, negated: negated), line: t.line)
            } else if isOp("(") {
                expr = .located(.call(expr, try parseCallArguments()), line: t.line)
            } else {
                return expr
            }
        }
    }

    private func startsBareTestArgument() -> Bool {
        switch current.kind {
        case .string, .int, .double: return true
        case .op(let o): return o == "[" || o == "{" || o == "("
        case .name(let n): return !["else", "or", "and", "if", "is", "in", "not"].contains(n)
        default: return false
        }
    }
}
