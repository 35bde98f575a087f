/// llama.cpp's GBNF: `name ::= alternatives` rules, `"literals"`, `[classes]`, `.`, rule
/// names, `( )`, `* + ? {m} {m,} {m,n}`, `#` comments. Newlines are spacing; a rule ends where
/// the next `name ::=` starts. The grammar starts at `root`.
public struct GBNFParser {
    let s: [Unicode.Scalar]
    let builder: GrammarBuilder
    var i = 0
    var ids: [String: Int] = [:]
    var defined: Set<String> = []

    public init(_ text: String, builder: GrammarBuilder) {
        s = Array(text.unicodeScalars)
        self.builder = builder
    }

    /// Adds the rules to the builder; returns the id of `root`.
    public mutating func parse() throws -> Int {
        skip()
        while i < s.count {
            let name = try ruleName()
            skip()
            guard match("::=") else { throw err("expected `::=` after `\(name)`") }
            guard !defined.contains(name) else { throw err("rule `\(name)` is defined twice") }
            defined.insert(name)
            let body = try alternatives(depth: 0)
            builder.define(id(name), body)
            skip()
        }
        guard let root = ids["root"], defined.contains("root") else { throw GrammarError.invalid("grammar: no `root` rule") }
        for (n, _) in ids where !defined.contains(n) { throw GrammarError.invalid("grammar: rule `\(n)` is used but not defined") }
        return root
    }

    func err(_ m: String) -> GrammarError { .invalid("grammar: \(m) (at character \(i))") }

    mutating func id(_ name: String) -> Int {
        if let r = ids[name] { return r }
        let r = builder.addRule(name)
        ids[name] = r
        return r
    }

    static func isNameChar(_ c: Unicode.Scalar) -> Bool {
        c.isASCII && (c.properties.isAlphabetic || ("0"..."9").contains(c) || c == "-" || c == "_")
    }

    mutating func skip() {
        while i < s.count {
            if s[i] == "#" { while i < s.count && s[i] != "\n" { i += 1 }; continue }
            guard s[i] == " " || s[i] == "\t" || s[i] == "\n" || s[i] == "\r" else { break }
            i += 1
        }
    }

    mutating func match(_ t: String) -> Bool {
        let u = Array(t.unicodeScalars)
        guard i + u.count <= s.count, Array(s[i..<(i + u.count)]) == u else { return false }
        i += u.count
        return true
    }

    mutating func ruleName() throws -> String {
        let start = i
        while i < s.count && Self.isNameChar(s[i]) { i += 1 }
        guard i > start else { throw err("expected a rule name") }
        return String(String.UnicodeScalarView(s[start..<i]))
    }

    /// Whether a rule definition (`name ::=`) starts here.
    func atRuleStart() -> Bool {
        var j = i
        while j < s.count && Self.isNameChar(s[j]) { j += 1 }
        guard j > i else { return false }
        while j < s.count && (s[j] == " " || s[j] == "\t") { j += 1 }
        return j + 2 < s.count && s[j] == ":" && s[j + 1] == ":" && s[j + 2] == "="
    }

    mutating func alternatives(depth: Int) throws -> GrammarNode {
        var alts = [try sequence(depth: depth)]
        while i < s.count && s[i] == "|" {
            i += 1
            alts.append(try sequence(depth: depth))
        }
        return alts.count == 1 ? alts[0] : .alt(alts)
    }

    mutating func sequence(depth: Int) throws -> GrammarNode {
        var items: [GrammarNode] = []
        while true {
            skip()
            guard i < s.count else { break }
            let c = s[i]
            if c == "|" || c == ")" { break }
            if depth == 0 && atRuleStart() { break }
            var a: GrammarNode
            switch c {
            case "\"":
                i += 1
                var bytes: [UInt8] = []
                while true {
                    guard i < s.count else { throw err("unterminated literal") }
                    if s[i] == "\"" { i += 1; break }
                    var v = s[i] == "\\" ? try escape() : { defer { i += 1 }; return s[i].value }()
                    // A surrogate pair written as two escapes (JSON style) is one character; a lone
                    // surrogate is no character at all (its bytes would be invalid UTF-8).
                    if (0xD800...0xDBFF).contains(v), i + 1 < s.count, s[i] == "\\", s[i + 1] == "u" {
                        let low = try escape()
                        guard (0xDC00...0xDFFF).contains(low) else { throw err("a high surrogate escape must be followed by a low one") }
                        v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard !(0xD800...0xDFFF).contains(v) else { throw err("a lone surrogate escape is not a character") }
                    bytes += CodePointSet.encode(v)
                }
                a = .literal(bytes)
            case "[":
                a = .chars(try charClass())
            case ".":
                i += 1
                a = .chars(.all)
            case "(":
                guard depth < builder.limits.maxNesting else { throw GrammarError.tooLarge("grammar: groups nested deeper than \(builder.limits.maxNesting)") }
                i += 1
                a = try alternatives(depth: depth + 1)
                skip()
                guard i < s.count && s[i] == ")" else { throw err("missing ')'") }
                i += 1
            default:
                guard Self.isNameChar(c) else { throw err("unexpected `\(c)`") }
                a = .rule(id(try ruleName()))
            }
            items.append(try quantified(a))
        }
        return items.count == 1 ? items[0] : .seq(items)
    }

    mutating func quantified(_ a: GrammarNode) throws -> GrammarNode {
        guard i < s.count else { return a }
        switch s[i] {
        case "*": i += 1; return .star(a)
        case "+": i += 1; return .plus(a)
        case "?": i += 1; return .optional(a)
        case "{":
            i += 1
            skip()
            let lo = number() ?? 0
            skip()
            var hi: Int? = lo
            if i < s.count && s[i] == "," {
                i += 1
                skip()
                hi = number()
                skip()
            }
            guard i < s.count && s[i] == "}" else { throw err("bad repetition") }
            i += 1
            if let h = hi, h < lo { throw err("bad repetition bounds") }
            return .rep(a, min: lo, max: hi)
        default: return a
        }
    }

    mutating func number() -> Int? {
        var v = 0, any = false
        while i < s.count, s[i].isASCII, ("0"..."9").contains(s[i]) {
            v = min(v * 10 + Int(s[i].value - 0x30), 1_000_000)
            any = true
            i += 1
        }
        return any ? v : nil
    }

    mutating func escape() throws -> UInt32 {
        i += 1
        guard i < s.count else { throw err("trailing backslash") }
        let c = s[i]
        i += 1
        func hex(_ n: Int) throws -> UInt32 {
            guard i + n <= s.count, let v = UInt32(String(String.UnicodeScalarView(s[i..<(i + n)])), radix: 16),
                  v <= CodePointSet.maxScalar else { throw err("bad hex escape") }
            i += n
            return v
        }
        switch c {
        case "n": return 0x0A
        case "t": return 0x09
        case "r": return 0x0D
        case "x": return try hex(2)
        case "u": return try hex(4)
        case "U": return try hex(8)
        case "\\", "\"", "[", "]", "-", "^", "/": return c.value
        default: throw err("unknown escape `\\\(c)`")
        }
    }

    mutating func charClass() throws -> CodePointSet {
        i += 1
        var negate = false
        if i < s.count && s[i] == "^" { negate = true; i += 1 }
        var set = CodePointSet()
        while true {
            guard i < s.count else { throw err("unterminated character class") }
            if s[i] == "]" { i += 1; break }
            let lo = s[i] == "\\" ? try escape() : { defer { i += 1 }; return s[i].value }()
            if i + 1 < s.count && s[i] == "-" && s[i + 1] != "]" {
                i += 1
                let hi = s[i] == "\\" ? try escape() : { defer { i += 1 }; return s[i].value }()
                guard lo <= hi else { throw err("bad character range") }
                set.insert(lo...hi)
            } else {
                set.insert(lo...lo)
            }
        }
        return negate ? set.inverted : set
    }
}
