/// Every failure of parsing or rendering. Templates and context values are untrusted,
/// so anything they can cause surfaces as one of these, never as a trap.
public struct TemplateError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The template source does not parse; `line`/`column` point at it (1-based).
        case syntax
        /// Evaluation failed (type error, undefined call, bad argument...).
        case runtime
        /// The template called `raise_exception(message)`.
        case raised
        /// A resource limit (output size, loop iterations, depth, work) was hit.
        case limit
    }

    public let kind: Kind
    public let message: String
    public let line: Int?
    public let column: Int?

    public init(_ kind: Kind, _ message: String, line: Int? = nil, column: Int? = nil) {
        self.kind = kind
        self.message = message
        self.line = line
        self.column = column
    }

    public var description: String {
        if let line, let column { return "\(message) (line \(line), column \(column))" }
        if let line { return "\(message) (line \(line))" }
        return message
    }

    static func syntax(_ message: String, line: Int, column: Int) -> TemplateError {
        TemplateError(.syntax, message, line: line, column: column)
    }

    static func runtime(_ message: String) -> TemplateError { TemplateError(.runtime, message) }
    static func limit(_ message: String) -> TemplateError { TemplateError(.limit, message) }
}
