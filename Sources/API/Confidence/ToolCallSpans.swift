/// With tools, a chat answer's text goes through the call parser and `content` is only the text
/// outside the calls, so spans (ranges of `content`) over call text go; the summary stays, of
/// every token. A streamed choice's spans wait for its last piece, when its content is known.
/// Touched only on the job's output queue (one delta at a time), hence @unchecked Sendable.
final class ToolCallSpans: @unchecked Sendable {
    private var raw: [String]
    private var content: [String]
    private var held: [[ConfidenceSpan]]

    init(choices: Int) {
        raw = Array(repeating: "", count: choices)
        content = raw
        held = Array(repeating: [], count: choices)
    }

    /// A streamed delta: its raw text, the content pieces the call parser released for it, its spans.
    func record(choice c: Int, text: String, pieces: [JSON], spans: [ConfidenceSpan]) {
        raw[c] += text
        for p in pieces { if case let .string(s)? = p["content"] { content[c] += s } }
        held[c] += spans
    }

    /// The choice's spans that lie in its content, at its end.
    func spans(choice c: Int) -> [ConfidenceSpan] { Self.within(held[c], raw: raw[c], content: content[c]) }

    /// `spans` (ranges of `raw`) that lie in `content`: all of them when the parser left the text
    /// whole, those inside it when the content is the text before the calls, else none.
    static func within(_ spans: [ConfidenceSpan], raw: String, content: String?) -> [ConfidenceSpan] {
        guard let content, !content.isEmpty else { return [] }
        if content == raw { return spans }
        guard raw.hasPrefix(content) else { return [] }
        let n = content.utf16.count
        return spans.filter { $0.end <= n }
    }
}
