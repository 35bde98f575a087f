import Foundation

/// How a template is parsed. Defaults are what Hugging Face's `apply_chat_template` uses.
public struct TemplateOptions: Sendable {
    /// Drop the first newline after a block tag (`%}`) or comment.
    public var trimBlocks = true
    /// Strip spaces and tabs before a block tag or comment at the start of a line.
    public var lstripBlocks = true
    /// Keep a single trailing newline of the source (Jinja drops it by default).
    public var keepTrailingNewline = false
    /// Deepest nesting of blocks and expressions the parser accepts (each link of an
    /// operator, filter or attribute chain counts as a level). Bounds the depth of the
    /// syntax tree, hence the recursion of parsing, evaluating and freeing it.
    public var maxNestingDepth = 64

    public init() {}
}

/// Resource bounds for one render, so a hostile template cannot hang or exhaust memory.
public struct RenderLimits: Sendable {
    /// Largest output, and largest string any expression may build, in UTF-8 bytes.
    public var maxOutputBytes = 1 << 20
    /// Total `for` iterations over the whole render (nested loops count each inner pass).
    /// Also the longest `range()`.
    public var maxLoopIterations = 100_000
    /// Deepest macro call chain.
    public var maxCallDepth = 32
    /// Deepest recursion of statement and expression evaluation, across macro calls;
    /// keeps a render within a small thread stack.
    public var maxEvalDepth = 200
    /// Evaluation steps (nodes and per-element work in filters) over the whole render.
    public var maxSteps = 5_000_000
    /// Total bytes of strings built over the whole render; catches quadratic concatenation.
    public var maxWorkBytes = 256 << 20
    /// Deepest nesting of values that `tojson`, `string` and comparisons walk.
    public var maxValueDepth = 128

    public init() {}
}

/// Everything a render needs besides the variables.
public struct RenderEnvironment: Sendable {
    public var limits = RenderLimits()
    /// Source of "now" for `strftime_now`, injectable so tests are deterministic.
    public var now: @Sendable () -> Date = { Date() }
    /// Time zone `strftime_now` formats in (Python uses local time; servers run in UTC).
    public var timeZone = TimeZone(identifier: "UTC") ?? TimeZone.current

    public init() {}
}
