/// One lexical token of a template, with its 1-based position for error messages.
struct Token: Sendable {
    enum Kind: Sendable, Equatable {
        case text(String)          // literal template data, whitespace control applied
        case exprBegin, exprEnd    // {{ }}
        case blockBegin, blockEnd  // {% %}
        case name(String)
        case string(String)
        case int(Int)
        case double(Double)
        case op(String)            // operators and punctuation
        case eof
    }

    let kind: Kind
    let line: Int
    let column: Int

    var describe: String {
        switch kind {
        case .text: return "template data"
        case .exprBegin: return "'{{'"
        case .exprEnd: return "'}}'"
        case .blockBegin: return "'{%'"
        case .blockEnd: return "'%}'"
        case .name(let n): return "'\(n)'"
        case .string: return "string literal"
        case .int(let i): return "'\(i)'"
        case .double(let d): return "'\(d)'"
        case .op(let o): return "'\(o)'"
        case .eof: return "end of template"
        }
    }
}
