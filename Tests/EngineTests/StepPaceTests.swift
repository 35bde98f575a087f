import XCTest
@testable import Engine

/// The pace model that cuts prompt chunks around generating sequences.
final class StepPaceTests: XCTestCase {
    func testNoLimitUntilALargeStepIsSeen() {
        var p = StepPace()
        XCTAssertEqual(p.tokens(within: 0.4, limit: 512), 512)
        p.record(tokens: 4, seconds: 0.06)
        XCTAssertEqual(p.tokens(within: 0.4, limit: 512), 512)
    }

    func testChunkFitsTheTarget() {
        var p = StepPace()
        p.record(tokens: 4, seconds: 0.05)      // weights read once: 50 ms
        p.record(tokens: 512, seconds: 5.05)    // + ~9.8 ms per token
        let n = p.tokens(within: 0.4, limit: 512)
        XCTAssertEqual(n, Int((0.4 - 0.05) / ((5.05 - 0.05) / 512)))
        XCTAssertLessThan(0.05 + Double(n) * (5.0 / 512), 0.41)
    }

    func testBounds() {
        var p = StepPace()
        p.record(tokens: 4, seconds: 0.5)
        p.record(tokens: 64, seconds: 10)       // slower than the target allows: still 16
        XCTAssertEqual(p.tokens(within: 0.4, limit: 512), 16)
        var q = StepPace()
        q.record(tokens: 64, seconds: 0.001)    // very fast machine: the configured limit
        XCTAssertEqual(q.tokens(within: 0.4, limit: 256), 256)
    }

    func testAveragesDrift() {
        var p = StepPace()
        p.record(tokens: 100, seconds: 1)
        let first = p.perToken ?? 0
        p.record(tokens: 100, seconds: 2)
        let second = p.perToken ?? 0
        XCTAssertGreaterThan(second, first)
        XCTAssertLessThan(second, 0.02)         // blended, not replaced
    }

    /// After cheap large steps, a mixed step that runs late moves the estimate halfway at
    /// once (a step on time moves it a fifth).
    func testLateStepsAdaptFaster() {
        var p = StepPace()
        p.record(tokens: 4, seconds: 0.05)
        p.record(tokens: 512, seconds: 5.05)             // ~9.8 ms a token
        let before = p.perToken ?? 0
        p.record(tokens: 48, seconds: 0.05 + 48 * 0.02)  // 20 ms a token: late
        let late = p.perToken ?? 0
        XCTAssertEqual(late, 0.5 * before + 0.5 * 0.02, accuracy: 1e-12)
        var q = StepPace()
        q.record(tokens: 4, seconds: 0.05)
        q.record(tokens: 512, seconds: 5.05)
        q.record(tokens: 48, seconds: 0.05 + 48 * 0.005)  // early: the usual fifth
        XCTAssertEqual(q.perToken ?? 0, 0.8 * before + 0.2 * 0.005, accuracy: 1e-12)
    }

    /// Steps of generating sequences alone, kept per count apart from the line (a faster step
    /// weighs half, a slower one a fifth); a count not seen lies between the nearest seen below and
    /// above it, else takes the largest below plus the line's cost per token for each one more;
    /// none below: unknown.
    func testDecodeStepsPerCount() {
        var p = StepPace()
        XCTAssertNil(p.decodeStep(sequences: 4))
        p.recordDecode(sequences: 4, seconds: 0.05)
        p.recordDecode(sequences: 16, seconds: 0.1)
        p.recordDecode(sequences: 16, seconds: 0.2)
        XCTAssertEqual(p.decodeStep(sequences: 16)!, 0.8 * 0.1 + 0.2 * 0.2, accuracy: 1e-12)
        p.recordDecode(sequences: 4, seconds: 0.03)
        XCTAssertEqual(p.decodeStep(sequences: 4)!, 0.04, accuracy: 1e-12, "a faster step weighs half")
        XCTAssertNil(p.perToken, "the line is not fed")
        XCTAssertEqual(p.decodeStep(sequences: 7)!, 0.04 + 0.25 * (0.12 - 0.04), accuracy: 1e-12, "between 4 and 16")
        XCTAssertEqual(p.decodeStep(sequences: 40)!, 0.12, accuracy: 1e-12, "the largest below, no line yet")
        XCTAssertNil(p.decodeStep(sequences: 3), "only counts above")
        p.record(tokens: 4, seconds: 0.03)
        p.record(tokens: 100, seconds: 0.53)     // 5 ms a token past the fixed 30 ms
        XCTAssertEqual(p.decodeStep(sequences: 40)!, 0.12 + 24 * 0.005, accuracy: 1e-12)
        XCTAssertEqual(p.decodeStep(sequences: 7)!, 0.04 + 0.25 * (0.12 - 0.04), accuracy: 1e-12, "not the line between seen counts")
        p.recordDecode(sequences: 0, seconds: 1)
        p.recordDecode(sequences: 2, seconds: 0)
        XCTAssertNil(p.decodeStep(sequences: 3))
    }
}
