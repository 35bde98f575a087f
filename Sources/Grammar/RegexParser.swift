/// Python-`re`-style regular expressions to a `GrammarNode`: literals, escapes (`\d \w \s`
/// and their negations, ASCII as with `re.ASCII`; `\n \t \xHH \uHHHH`), classes, `.`, groups
/// (capturing, `(?:`, `(?P<name>`), `|`, and `* + ? {n} {n,} {n,m}` (lazy forms too; they
/// match the same strings). Backreferences, lookaround, word boundaries and inline flags
/// are refused by name. `^`/`$` are allowed only at the ends of a top-level alternative.
public struct RegexParser {
    /// Whether characters are raw UTF-8 or written inside a JSON string (escaped).
    public enum Mode { case raw, jsonString }

    let s: [Unicode.Scalar]
    let mode: Mode
    let maxNesting: Int
    var i = 0

    public init(_ pattern: String, mode: Mode = .raw, maxNesting: Int = 64) {
        s = Array(pattern.unicodeScalars)
        self.mode = mode
        self.maxNesting = maxNesting
    }

    /// The pattern matching the whole text (`re.fullmatch`), or, with `search`, matching
    /// anywhere in it (as JSON schema's `pattern` is defined, `$` the text's end as in ECMA-262).
    public mutating func parse(search: Bool) throws -> GrammarNode {
        var branches: [GrammarNode] = []
        repeat {
            // The `|` that ended the last branch (a leading `|` is an empty first branch).
            if !branches.isEmpty { i += 1 }
            let start = i < s.count && s[i] == "^"
            if start { i += 1 }
            var node = try sequence(depth: 0)
            var endAnchor = false
            if i < s.count && s[i] == "$" { endAnchor = true; i += 1 }
            if i < s.count && s[i] != "|" { throw err(i < s.count && s[i] == ")" ? "unbalanced ')'" : "`^` or `$` inside the pattern is not supported") }
            if search {
                // ECMA-262's `$` (JSON Schema's dialect) is the end of the text: Python's also
                // matched before a final newline, and validators in JavaScript or Rust refused it.
                let any = GrammarNode.star(char(CodePointSet.all))
                node = .seq([start ? .empty : any, node, endAnchor ? .empty : any])
            }
            branches.append(node)
        } while i < s.count && s[i] == "|"
        return branches.count == 1 ? branches[0] : .alt(branches)
    }

    func err(_ m: String) -> GrammarError { .invalid("regex: \(m) (at character \(i))") }
    func unsupported(_ m: String) -> GrammarError { .unsupported("regex: \(m) is not supported (at character \(i))") }

    func char(_ set: CodePointSet) -> GrammarNode {
        mode == .raw ? .chars(set) : JSONText.char(set)
    }

    mutating func alternation(depth: Int) throws -> GrammarNode {
        var alts = [try sequence(depth: depth)]
        while i < s.count && s[i] == "|" {
            i += 1
            alts.append(try sequence(depth: depth))
        }
        return alts.count == 1 ? alts[0] : .alt(alts)
    }

    mutating func sequence(depth: Int) throws -> GrammarNode {
        var items: [GrammarNode] = []
        while i < s.count {
            let c = s[i]
            if c == "|" || c == ")" { break }
            if c == "$" && depth == 0 { break }
            let a = try atom(depth: depth)
            items.append(try quantified(a))
        }
        return items.count == 1 ? items[0] : .seq(items)
    }

    mutating func quantified(_ a: GrammarNode) throws -> GrammarNode {
        guard i < s.count else { return a }
        var lo = 0, hi: Int? = nil
        switch s[i] {
        case "*": i += 1
        case "+": lo = 1; i += 1
        case "?": hi = 1; i += 1
        case "{":
            guard let (l, h) = try bounds() else { return a }
            lo = l; hi = h
        default: return a
        }
        if i < s.count && s[i] == "?" { i += 1 }  // lazy: same language
        if i < s.count && (s[i] == "+" || s[i] == "*" || s[i] == "{") {
            if s[i] == "+" { throw unsupported("a possessive quantifier") }
            throw err("nothing to repeat")
        }
        return .rep(a, min: lo, max: hi)
    }

    /// `{n}`, `{n,}`, `{n,m}`, `{,m}`; nil (and nothing read) when `{` is a literal.
    mutating func bounds() throws -> (Int, Int?)? {
        var j = i + 1
        func num() -> Int? {
            var v = 0, any = false
            while j < s.count, let d = s[j].properties.numericType == .decimal ? Int(String(s[j])) : nil, s[j].isASCII {
                v = min(v * 10 + d, 1_000_000)
                any = true
                j += 1
            }
            return any ? v : nil
        }
        let lo = num()
        var hi: Int?
        if j < s.count && s[j] == "," {
            j += 1
            hi = num()
            guard j < s.count && s[j] == "}" else { return nil }
            if lo == nil && hi == nil { return nil }
        } else {
            guard lo != nil, j < s.count && s[j] == "}" else { return nil }
            hi = lo
        }
        i = j + 1
        let l = lo ?? 0
        if let h = hi, h < l { throw err("bad repetition bounds {\(l),\(h)}") }
        return (l, hi)
    }

    mutating func atom(depth: Int) throws -> GrammarNode {
        let c = s[i]
        switch c {
        case "(":
            guard depth < maxNesting else { throw GrammarError.tooLarge("regex: groups nested deeper than \(maxNesting)") }
            i += 1
            if i < s.count && s[i] == "?" {
                if i + 1 < s.count && s[i + 1] == ":" {
                    i += 2
                } else if i + 2 < s.count && s[i + 1] == "P" && s[i + 2] == "<" {
                    guard let close = s[i...].firstIndex(of: ">") else { throw err("unterminated group name") }
                    i = close + 1
                } else if i + 1 < s.count && (s[i + 1] == "=" || s[i + 1] == "!" || s[i + 1] == "<") {
                    throw unsupported("lookaround")
                } else {
                    throw unsupported("an inline flag or group extension")
                }
            }
            let inner = try alternation(depth: depth + 1)
            guard i < s.count && s[i] == ")" else { throw err("missing ')'") }
            i += 1
            return inner
        case "[":
            return char(try charClass())
        case ".":
            i += 1
            // ECMA-262's `.` (JSON Schema's `pattern`) leaves out every line terminator; Python's only \n.
            return char(mode == .jsonString ? Self.ecmaLineTerminators.inverted : CodePointSet([0x0A...0x0A]).inverted)
        case "\\":
            let set = try escape(inClass: false)
            return char(set)
        case "*", "+", "?":
            throw err("nothing to repeat")
        case "{":
            if let _ = try? lookaheadBounds() { throw err("nothing to repeat") }
            i += 1
            return char(CodePointSet([c.value...c.value]))
        case "^", "$":
            throw unsupported("`\(c)` inside the pattern")
        default:
            i += 1
            return char(CodePointSet([c.value...c.value]))
        }
    }

    func lookaheadBounds() throws -> Bool {
        var copy = self
        guard try copy.bounds() != nil else { throw err("") }
        return true
    }

    static let digit = CodePointSet([0x30...0x39])
    static let word = CodePointSet([0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A])
    static let space = CodePointSet([0x09...0x0D, 0x20...0x20])
    /// ECMA-262's line terminators, which its `.` does not match.
    static let ecmaLineTerminators = CodePointSet([0x0A...0x0A, 0x0D...0x0D, 0x2028...0x2029])
    /// ECMA-262's `\s`, which JSON Schema's `pattern` uses: Unicode spaces and line ends too
    /// (its `\d` and `\w` are ASCII, as here).
    static let ecmaSpace = CodePointSet([0x09...0x0D, 0x20...0x20, 0xA0...0xA0, 0x1680...0x1680, 0x2000...0x200A,
                                         0x2028...0x2029, 0x202F...0x202F, 0x205F...0x205F, 0x3000...0x3000, 0xFEFF...0xFEFF])
    var spaceClass: CodePointSet { mode == .jsonString ? Self.ecmaSpace : Self.space }

    mutating func escape(inClass: Bool) throws -> CodePointSet {
        i += 1
        guard i < s.count else { throw err("trailing backslash") }
        let c = s[i]
        i += 1
        func one(_ v: UInt32) -> CodePointSet { CodePointSet([v...v]) }
        switch c {
        case "d": return Self.digit
        case "D": return Self.digit.inverted
        case "w": return Self.word
        case "W": return Self.word.inverted
        case "s": return spaceClass
        case "S": return spaceClass.inverted
        case "n": return one(0x0A)
        case "t": return one(0x09)
        case "r": return one(0x0D)
        case "f": return one(0x0C)
        case "v": return one(0x0B)
        case "a": return one(0x07)
        case "0": return one(0)
        case "b" where inClass: return one(0x08)
        case "x": return one(try hex(2))
        case "u": return one(try hex(4))
        case "U": return one(try hex(8))
        case "b", "B", "A", "Z", "z", "G": throw unsupported("`\\\(c)`")
        case "1"..."9": throw unsupported("a backreference")
        default:
            if c.properties.isAlphabetic || c.properties.numericType != nil { throw err("unknown escape `\\\(c)`") }
            return one(c.value)
        }
    }

    mutating func hex(_ n: Int) throws -> UInt32 {
        guard i + n <= s.count, let v = UInt32(String(String.UnicodeScalarView(s[i..<(i + n)])), radix: 16) else {
            throw err("bad hex escape")
        }
        i += n
        guard v <= CodePointSet.maxScalar else { throw err("escape beyond Unicode") }
        return v
    }

    mutating func charClass() throws -> CodePointSet {
        i += 1  // [
        var negate = false
        if i < s.count && s[i] == "^" { negate = true; i += 1 }
        var set = CodePointSet()
        var first = true
        while true {
            guard i < s.count else { throw err("unterminated character class") }
            if s[i] == "]" && !first { i += 1; break }
            first = false
            var lo: UInt32
            if s[i] == "\\" {
                let e = try escape(inClass: true)
                guard e.ranges.count == 1, e.ranges[0].lowerBound == e.ranges[0].upperBound else {
                    set.formUnion(e)
                    continue
                }
                lo = e.ranges[0].lowerBound
            } else {
                if s[i] == "[" && i + 1 < s.count && s[i + 1] == ":" { throw unsupported("POSIX classes") }
                lo = s[i].value
                i += 1
            }
            if i + 1 < s.count && s[i] == "-" && s[i + 1] != "]" {
                i += 1
                var hi: UInt32
                if s[i] == "\\" {
                    let e = try escape(inClass: true)
                    guard e.ranges.count == 1, e.ranges[0].lowerBound == e.ranges[0].upperBound else { throw err("bad range") }
                    hi = e.ranges[0].lowerBound
                } else {
                    hi = s[i].value
                    i += 1
                }
                guard lo <= hi else { throw err("bad character range") }
                set.insert(lo...hi)
            } else {
                set.insert(lo...lo)
            }
            _ = lo
        }
        return negate ? set.inverted : set
    }
}
