import XCTest
import Model
@testable import API

/// Spans of low-probability tokens over text that arrives a character at a time: a token
/// inside a multi-byte character decodes to nothing until the character completes.
final class ConfidenceTrackerTests: XCTestCase {
    let low = TokenConfidence(logprob: log(0.05), entropy: 1), high = TokenConfidence(logprob: log(0.9), entropy: 1)

    /// An emoji in three tokens (4 bytes, 2 UTF-16 units), the first unlikely: the span is the
    /// emoji, not an empty range where the second token left the character unfinished.
    func testARunEndingInsideACharacterReachesItsEnd() {
        var t = ConfidenceTracker(threshold: 0.2)
        t.add(low, start: 0, end: 0, holdsBytes: true)
        t.add(high, start: 0, end: 0, holdsBytes: true)
        XCTAssertEqual(t.takeSpans(released: 0), [])
        t.add(high, start: 0, end: 2, holdsBytes: false)
        t.add(high, start: 2, end: 4, holdsBytes: false)
        let spans = t.takeSpans(released: 4)
        XCTAssertEqual(spans.map { [$0.start, $0.end, $0.tokens] }, [[0, 2, 1]])
    }

    /// An unlikely token again before the character ends continues the same span.
    func testAnUnlikelyTokenInsideTheSameCharacterContinuesTheSpan() {
        var t = ConfidenceTracker(threshold: 0.2)
        t.add(high, start: 0, end: 1, holdsBytes: false)
        t.add(low, start: 1, end: 1, holdsBytes: true)
        t.add(high, start: 1, end: 1, holdsBytes: true)
        t.add(low, start: 1, end: 3, holdsBytes: false)
        t.add(high, start: 3, end: 4, holdsBytes: false)
        XCTAssertEqual(t.takeSpans(released: 4).map { [$0.start, $0.end, $0.tokens] }, [[1, 3, 2]])
        XCTAssertEqual(t.summary.tokens, 5)
    }

    /// An answer that ends inside a character (or a span cut away by a stop sequence) leaves no empty span.
    func testNoEmptySpans() {
        var t = ConfidenceTracker(threshold: 0.2)
        t.add(high, start: 0, end: 2, holdsBytes: false)
        t.add(low, start: 2, end: 2, holdsBytes: true)
        XCTAssertEqual(t.finish(textLength: 2), [])
        var u = ConfidenceTracker(threshold: 0.2)
        u.add(low, start: 0, end: 3, holdsBytes: false)
        u.add(high, start: 3, end: 5, holdsBytes: false)
        XCTAssertEqual(u.finish(textLength: 5).map { [$0.start, $0.end] }, [[0, 3]])
    }
}

/// With tools, spans are ranges of `content` (the text outside the calls).
final class ToolCallSpansTests: XCTestCase {
    func testSpansKeptOnlyInsideTheContent() {
        let spans = [ConfidenceSpan(start: 0, end: 4), ConfidenceSpan(start: 10, end: 14)]
        let raw = "Sure, calling it: <tool_call>{}</tool_call>"
        XCTAssertEqual(ToolCallSpans.within(spans, raw: raw, content: raw), spans)
        XCTAssertEqual(ToolCallSpans.within(spans, raw: raw, content: "Sure, call"), [spans[0]])
        XCTAssertEqual(ToolCallSpans.within(spans, raw: raw, content: nil), [])
        XCTAssertEqual(ToolCallSpans.within(spans, raw: raw, content: "elsewhere"), [])
        // Streamed: pieces arrive with their spans; the content is what the parser released.
        let s = ToolCallSpans(choices: 1)
        s.record(choice: 0, text: "Sure", pieces: [["content": "Sure"]], spans: [spans[0]])
        s.record(choice: 0, text: ", call", pieces: [], spans: [spans[1]])
        XCTAssertEqual(s.spans(choice: 0), [spans[0]])
    }
}
