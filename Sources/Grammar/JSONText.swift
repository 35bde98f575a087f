/// How text appears inside a JSON string: the characters a grammar writes between quotes.
enum JSONText {
    static let quote: UInt32 = 0x22, backslash: UInt32 = 0x5C

    /// One character of `set` as it is written inside a JSON string: itself, or its escape
    /// when JSON requires one (quote, backslash, control characters).
    static func char(_ set: CodePointSet) -> GrammarNode {
        let special = CodePointSet([0...0x1F, quote...quote, backslash...backslash])
        let plain = set.subtracting(special)
        var alts: [GrammarNode] = plain.isEmpty ? [] : [.chars(plain)]
        for r in set.ranges where r.lowerBound <= 0x5C {
            for c in r.lowerBound...min(r.upperBound, 0x5C) where special.contains(c) {
                alts.append(.text(escape(c)))
            }
        }
        if alts.isEmpty { return .alt([]) }
        return alts.count == 1 ? alts[0] : .alt(alts)
    }

    static func escape(_ c: UInt32) -> String {
        switch c {
        case quote: return "\\\""
        case backslash: return "\\\\"
        case 0x0A: return "\\n"
        case 0x0D: return "\\r"
        case 0x09: return "\\t"
        case 0x08: return "\\b"
        case 0x0C: return "\\f"
        default:
            let h = String(c, radix: 16)
            return "\\u" + String(repeating: "0", count: 4 - h.count) + h
        }
    }

    /// Any one character of a JSON string, in every form JSON allows (escapes included;
    /// `\u` escapes of surrogates left out, so one escape is always one character).
    static var anyChar: GrammarNode {
        let hex = ByteSet(Array("0123456789abcdefABCDEF".utf8))
        let notD = ByteSet(Array("0123456789abcefABCEF".utf8))
        let unicode: GrammarNode = .seq([.text("\\u"), .alt([
            .seq([.byteSet(notD), .byteSet(hex), .byteSet(hex), .byteSet(hex)]),
            .seq([.byteSet(ByteSet(Array("dD".utf8))), .byteSet(ByteSet(range: 0x30...0x37)), .byteSet(hex), .byteSet(hex)]),
        ])])
        return .alt([
            .chars(CodePointSet.all.subtracting(CodePointSet([0...0x1F, quote...quote, backslash...backslash]))),
            .seq([.text("\\"), .byteSet(ByteSet(Array("\"\\/bfnrt".utf8)))]),
            unicode,
        ])
    }
}
