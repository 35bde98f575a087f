/// Why a grammar does not compile. `path` names where in the input (a JSON pointer into a
/// schema, or a regex/grammar position), so the API can put it in its 400.
public struct GrammarError: Error, Equatable, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        case invalid          // not a schema / regex / grammar at all
        case unsupported      // well-formed, but a keyword or construct Jeton cannot enforce
        case tooLarge         // over the size, nesting or time limits
    }
    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    static func invalid(_ m: String) -> GrammarError { GrammarError(.invalid, m) }
    static func unsupported(_ m: String) -> GrammarError { GrammarError(.unsupported, m) }
    static func tooLarge(_ m: String) -> GrammarError { GrammarError(.tooLarge, m) }
}
