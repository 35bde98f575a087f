/// The grammar every front end (JSON schema, regex, choice, GBNF) produces: an
/// expression over bytes and Unicode scalars with references to named rules, which
/// `GrammarBuilder` lowers to the byte-level rules the matcher runs.
public indirect enum GrammarNode: Hashable, Sendable {
    case empty
    /// These bytes, in order.
    case literal([UInt8])
    /// One byte of the set.
    case byteSet(ByteSet)
    /// One scalar of the set, as UTF-8.
    case chars(CodePointSet)
    case seq([GrammarNode])
    case alt([GrammarNode])
    /// `min` to `max` (nil: unbounded) repetitions.
    case rep(GrammarNode, min: Int, max: Int?)
    /// A rule of the builder, by id.
    case rule(Int)

    public static func text(_ s: String) -> GrammarNode { .literal(Array(s.utf8)) }
    public static func optional(_ n: GrammarNode) -> GrammarNode { .rep(n, min: 0, max: 1) }
    public static func star(_ n: GrammarNode) -> GrammarNode { .rep(n, min: 0, max: nil) }
    public static func plus(_ n: GrammarNode) -> GrammarNode { .rep(n, min: 1, max: nil) }
    public static func digits(_ r: ClosedRange<UInt8>) -> GrammarNode {
        .byteSet(ByteSet(range: (0x30 + r.lowerBound)...(0x30 + r.upperBound)))
    }
}
