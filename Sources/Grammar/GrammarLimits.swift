import Dispatch

/// Bounds on compile work, so a hostile schema or grammar cannot stall the server.
public struct GrammarLimits: Sendable, Equatable {
    /// Bytes of schema / regex / grammar text.
    public var maxSourceBytes = 65_536
    /// Nesting of schemas, regex groups and grammar parentheses.
    public var maxNesting = 64
    /// Terminals and references of the compiled rules (bounded repetitions and numeric ranges
    /// expand into them).
    public var maxSymbols = 200_000
    /// Wall-clock seconds one compile may take.
    public var maxCompileSeconds = 2.0
    /// Indent (spaces or tabs) a JSON grammar allows after a newline; elsewhere whitespace is
    /// at most one space (see `JSONSchemaCompiler.ws`). 0: compact JSON, no whitespace.
    public var maxWhitespace = 16

    public init() {}
}

/// A compile's time budget, checked at points that repeat (rules lowered, schemas visited).
struct Deadline {
    let end: UInt64
    init(seconds: Double) {
        end = DispatchTime.now().uptimeNanoseconds &+ UInt64(max(seconds, 0) * 1e9)
    }
    func check() throws {
        if DispatchTime.now().uptimeNanoseconds > end {
            throw GrammarError.tooLarge("compiling took longer than the limit")
        }
    }
}
