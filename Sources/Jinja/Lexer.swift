/// Splits template source into tokens, applying Jinja's whitespace control the way
/// `jinja2.lexer` does: `{%-`/`-%}` strip, `trim_blocks` drops one newline after a block
/// or comment, `lstrip_blocks` drops indentation before one, `{%+`/`+%}` opt out.
struct Lexer {
    private let src: [Unicode.Scalar]
    private let options: TemplateOptions
    private var pos = 0
    private var line = 1
    private var lineStart = 0
    private var tokens: [Token] = []

    init(_ source: String, options: TemplateOptions) {
        // Jinja normalizes every line ending to "\n" and drops one trailing newline.
        var scalars: [Unicode.Scalar] = []
        scalars.reserveCapacity(source.unicodeScalars.count)
        var it = source.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        while let c = pending ?? it.next() {
            pending = nil
            if c == "\r" {
                scalars.append("\n")
                if let n = it.next(), n != "\n" { pending = n }
            } else {
                scalars.append(c)
            }
        }
        if !options.keepTrailingNewline, scalars.last == "\n" { scalars.removeLast() }
        self.src = scalars
        self.options = options
    }

    static func tokenize(_ source: String, options: TemplateOptions) throws -> [Token] {
        var lexer = Lexer(source, options: options)
        try lexer.run()
        return lexer.tokens
    }

    private var column: Int { pos - lineStart + 1 }

    private func peek(_ offset: Int = 0) -> Unicode.Scalar? {
        let i = pos + offset
        return i < src.count ? src[i] : nil
    }

    private func error(_ message: String) -> TemplateError {
        .syntax(message, line: line, column: column)
    }

    /// Moves forward, keeping line/column accurate.
    private mutating func advance(_ n: Int = 1) {
        for _ in 0..<n where pos < src.count {
            if src[pos] == "\n" { line += 1; lineStart = pos + 1 }
            pos += 1
        }
    }

    private mutating func emit(_ kind: Token.Kind, line: Int, column: Int) {
        tokens.append(Token(kind: kind, line: line, column: column))
    }

    private mutating func run() throws {
        var lineStarting = true
        while pos < src.count {
            // Find the next tag opener.
            var i = pos
            var opener: Unicode.Scalar? = nil
            while i + 1 < src.count {
                if src[i] == "{", src[i + 1] == "{" || src[i + 1] == "%" || src[i + 1] == "#" {
                    opener = src[i + 1]
                    break
                }
                i += 1
            }
            guard let kind = opener else {
                let textLine = line, textCol = column
                emit(.text(String(String.UnicodeScalarView(src[pos...]))), line: textLine, column: textCol)
                advance(src.count - pos)
                break
            }
            var text = src[pos..<i]
            let sign: Unicode.Scalar? = (i + 2 < src.count && (src[i + 2] == "-" || src[i + 2] == "+")) ? src[i + 2] : nil
            if sign == "-" {
                while let last = text.last, isPyWhitespace(last) { text = text.dropLast() }
            } else if options.lstripBlocks, kind != "{", sign != "+" {
                let lpos = (text.lastIndex(of: "\n").map { $0 + 1 }) ?? text.startIndex
                if lpos > text.startIndex || lineStarting {
                    let tail = text[lpos...]
                    if !tail.isEmpty, tail.allSatisfy(isPyWhitespace) { text = text[..<lpos] }
                }
            }
            if !text.isEmpty {
                emit(.text(String(String.UnicodeScalarView(text))), line: line, column: column)
            }
            advance(i - pos)
            let tagLine = line, tagCol = column
            advance(sign == "-" || (sign == "+" && kind != "{") ? 3 : 2)
            switch kind {
            case "#":
                lineStarting = try lexComment(contentStart: pos, line: tagLine, column: tagCol)
            case "{":
                emit(.exprBegin, line: tagLine, column: tagCol)
                lineStarting = try lexTag(block: false)
            default:
                emit(.blockBegin, line: tagLine, column: tagCol)
                if isRawStart() {
                    lineStarting = try lexRaw()
                } else {
                    lineStarting = try lexTag(block: true)
                }
            }
        }
        emit(.eof, line: line, column: column)
    }

    /// After a closing tag: `-` strips all following whitespace, trim_blocks one newline.
    /// Returns whether the consumed text ended with a newline (Jinja's "line starting").
    private mutating func afterTagEnd(sign: Unicode.Scalar?, trims: Bool) -> Bool {
        var lastWasNewline = false
        if sign == "-" {
            while let c = peek(), isPyWhitespace(c) { lastWasNewline = c == "\n"; advance() }
        } else if sign != "+", trims, options.trimBlocks, peek() == "\n" {
            advance()
            lastWasNewline = true
        }
        return lastWasNewline
    }

    private mutating func lexComment(contentStart: Int, line startLine: Int, column startCol: Int) throws -> Bool {
        while pos + 1 < src.count {
            if src[pos] == "#", src[pos + 1] == "}" {
                let sign: Unicode.Scalar? = pos - 1 >= contentStart && (src[pos - 1] == "-" || src[pos - 1] == "+") ? src[pos - 1] : nil
                advance(2)
                return afterTagEnd(sign: sign, trims: true)
            }
            advance()
        }
        throw TemplateError.syntax("unclosed comment", line: startLine, column: startCol)
    }

    /// `{% raw %}` right after the block opener?
    private func isRawStart() -> Bool {
        var i = pos
        while i < src.count, isPyWhitespace(src[i]) { i += 1 }
        guard i + 3 <= src.count, String(String.UnicodeScalarView(src[i..<i + 3])) == "raw" else { return false }
        i += 3
        while i < src.count, isPyWhitespace(src[i]) { i += 1 }
        if i < src.count, src[i] == "-" || src[i] == "+" { i += 1 }
        return i + 1 < src.count && src[i] == "%" && src[i + 1] == "}"
    }

    /// Emits `raw`, the raw body as text, and `endraw` as ordinary block tokens.
    private mutating func lexRaw() throws -> Bool {
        let startLine = line, startCol = column
        while let c = peek(), isPyWhitespace(c) { advance() }
        emit(.name("raw"), line: line, column: column)
        advance(3)
        while let c = peek(), isPyWhitespace(c) { advance() }
        let sign: Unicode.Scalar? = peek() == "-" || peek() == "+" ? peek() : nil
        if sign != nil { advance() }
        emit(.blockEnd, line: line, column: column)
        advance(2)
        _ = afterTagEnd(sign: sign, trims: true)
        // Body runs to `{%[-+]? endraw [-+]?%}`.
        var i = pos
        while i + 1 < src.count {
            if src[i] == "{", src[i + 1] == "%" {
                var j = i + 2
                let endSign: Unicode.Scalar? = j < src.count && (src[j] == "-" || src[j] == "+") ? src[j] : nil
                if endSign != nil { j += 1 }
                while j < src.count, isPyWhitespace(src[j]) { j += 1 }
                if j + 6 <= src.count, String(String.UnicodeScalarView(src[j..<j + 6])) == "endraw" {
                    var body = src[pos..<i]
                    if endSign == "-" { while let l = body.last, isPyWhitespace(l) { body = body.dropLast() } }
                    if !body.isEmpty { emit(.text(String(String.UnicodeScalarView(body))), line: line, column: column) }
                    advance(i - pos)
                    emit(.blockBegin, line: line, column: column)
                    advance(j - i)
                    return try lexTag(block: true)
                }
            }
            i += 1
        }
        throw TemplateError.syntax("missing endraw for raw block", line: startLine, column: startCol)
    }

    /// Lexes expression tokens up to the closing `}}` or `%}`.
    private mutating func lexTag(block: Bool) throws -> Bool {
        let close: Unicode.Scalar = block ? "%" : "}"
        var brackets: [Unicode.Scalar] = []
        while true {
            while let c = peek(), isPyWhitespace(c) { advance() }
            guard let c = peek() else {
                throw error(block ? "unexpected end of template, expected '%}'" : "unexpected end of template, expected '}}'")
            }
            let tl = line, tc = column
            if brackets.isEmpty {
                if c == close, peek(1) == "}" {
                    emit(block ? .blockEnd : .exprEnd, line: tl, column: tc)
                    advance(2)
                    return afterTagEnd(sign: nil, trims: block)
                }
                if (c == "-" || (c == "+" && block)), peek(1) == close, peek(2) == "}" {
                    emit(block ? .blockEnd : .exprEnd, line: tl, column: tc)
                    advance(3)
                    return afterTagEnd(sign: c, trims: block)
                }
            }
            if c == "_" || isIdentifierStart(c) {
                var s = String.UnicodeScalarView()
                while let d = peek(), d == "_" || isIdentifierStart(d) || ("0"..."9").contains(d) { s.append(d); advance() }
                emit(.name(String(s)), line: tl, column: tc)
            } else if ("0"..."9").contains(c) {
                try lexNumber(line: tl, column: tc)
            } else if c == "'" || c == "\"" {
                try lexString(quote: c, line: tl, column: tc)
            } else {
                let n = peek(1)
                let isTwo = (c == "/" && n == "/") || (c == "*" && n == "*") || (n == "=" && (c == "=" || c == "!" || c == "<" || c == ">"))
                if isTwo, let n {
                    emit(.op(String(c) + String(n)), line: tl, column: tc)
                    advance(2)
                } else if Lexer.operatorScalars.contains(c) {
                    if c == "(" || c == "[" || c == "{" { brackets.append(c) }
                    if c == ")" || c == "]" || c == "}" {
                        let expected: Unicode.Scalar = c == ")" ? "(" : c == "]" ? "[" : "{"
                        guard brackets.last == expected else { throw error("unexpected '\(c)'") }
                        brackets.removeLast()
                    }
                    emit(.op(String(c)), line: tl, column: tc)
                    advance()
                } else {
                    throw error("unexpected character '\(c.escaped(asASCII: true))'")
                }
            }
        }
    }

    private mutating func lexNumber(line tl: Int, column tc: Int) throws {
        var digits = ""
        func takeDigits(_ lexer: inout Lexer) {
            while let d = lexer.peek(), ("0"..."9").contains(d) || (d == "_" && lexer.peek(1).map { ("0"..."9").contains($0) } == true) {
                if d != "_" { digits.unicodeScalars.append(d) }
                lexer.advance()
            }
        }
        takeDigits(&self)
        var isFloat = false
        if peek() == ".", let n = peek(1), ("0"..."9").contains(n) {
            isFloat = true
            digits += "."
            advance()
            takeDigits(&self)
        }
        if peek() == "e" || peek() == "E" {
            let sign = peek(1) == "+" || peek(1) == "-"
            if let n = peek(sign ? 2 : 1), ("0"..."9").contains(n) {
                isFloat = true
                digits += "e"
                advance()
                if sign { digits.unicodeScalars.append(peek() ?? "+"); advance() }
                takeDigits(&self)
            }
        }
        if isFloat {
            guard let d = Double(digits) else { throw TemplateError.syntax("invalid number '\(digits)'", line: tl, column: tc) }
            emit(.double(d), line: tl, column: tc)
        } else {
            guard let i = Int(digits) else { throw TemplateError.syntax("integer literal too large", line: tl, column: tc) }
            emit(.int(i), line: tl, column: tc)
        }
    }

    /// String literal with Python escapes (Jinja decodes with "unicode-escape";
    /// unknown escapes keep their backslash).
    private mutating func lexString(quote: Unicode.Scalar, line tl: Int, column tc: Int) throws {
        advance()
        var out = String.UnicodeScalarView()
        while true {
            guard let c = peek() else { throw TemplateError.syntax("unterminated string", line: tl, column: tc) }
            advance()
            if c == quote { break }
            guard c == "\\" else { out.append(c); continue }
            guard let e = peek() else { throw TemplateError.syntax("unterminated string", line: tl, column: tc) }
            advance()
            switch e {
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "\\": out.append("\\")
            case "'": out.append("'")
            case "\"": out.append("\"")
            case "a": out.append("\u{07}")
            case "b": out.append("\u{08}")
            case "f": out.append("\u{0C}")
            case "v": out.append("\u{0B}")
            case "\n": break  // line continuation
            case "x", "u", "U":
                let n = e == "x" ? 2 : e == "u" ? 4 : 8
                var hex = ""
                for _ in 0..<n {
                    guard let h = peek(), h.properties.isASCIIHexDigit else {
                        throw TemplateError.syntax("truncated \\\(e) escape", line: tl, column: tc)
                    }
                    hex.unicodeScalars.append(h)
                    advance()
                }
                guard let v = UInt32(hex, radix: 16), let s = Unicode.Scalar(v) else {
                    throw TemplateError.syntax("invalid \\\(e) escape", line: tl, column: tc)
                }
                out.append(s)
            case "0"..."7":
                var v = e.value - 48
                for _ in 0..<2 {
                    guard let d = peek(), ("0"..."7").contains(d) else { break }
                    v = v * 8 + d.value - 48
                    advance()
                }
                out.append(Unicode.Scalar(v) ?? "\u{FFFD}")
            default:
                out.append("\\")
                out.append(e)
            }
        }
        emit(.string(String(out)), line: tl, column: tc)
    }

    private static let operatorScalars = Set("+-*/%~()[]{},.:|=<>".unicodeScalars)

    private func isIdentifierStart(_ c: Unicode.Scalar) -> Bool {
        if c.isASCII { return (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || c == "_" }
        return c.properties.isAlphabetic
    }
}

/// Python's `str.isspace` for one code point.
func isPyWhitespace(_ c: Unicode.Scalar) -> Bool {
    c.properties.isWhitespace || (c.value >= 0x1C && c.value <= 0x1F)
}
