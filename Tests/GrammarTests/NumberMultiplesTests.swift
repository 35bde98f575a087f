import XCTest
@testable import Grammar

/// `multipleOf` as a digit automaton: exact multiples within the bounds, minimised so that steps
/// that only look at the last digits stay small, and clear refusals.
final class NumberMultiplesTests: XCTestCase {
    func schema(_ s: String) throws -> CompiledGrammar { try GrammarSpec.jsonSchema(s).compile() }

    func testIntegersWithinBounds() throws {
        let g = try schema(#"{"type": "integer", "multipleOf": 7, "minimum": -15, "exclusiveMaximum": 21}"#)
        for v in -30...30 {
            XCTAssertEqual(g.accepts(Array(String(v).utf8)), v % 7 == 0 && v >= -15 && v < 21, "\(v)")
        }
        XCTAssertFalse(g.accepts(Array("-0".utf8)))
        XCTAssertFalse(g.accepts(Array("07".utf8)))
        XCTAssertFalse(g.accepts(Array("7.0".utf8)))
    }

    func testFractionalStepWritesAtMostItsDigits() throws {
        let g = try schema(#"{"type": "number", "multipleOf": 0.25, "exclusiveMinimum": 0, "maximum": 2.1}"#)
        for (text, ok) in [("0.25", true), ("0.5", true), ("0.50", true), ("2", true), ("2.0", true), ("0", false),
                           ("2.25", false), ("0.1", false), ("0.250", false), ("1.", false), ("-0.25", false)] {
            XCTAssertEqual(g.accepts(Array(text.utf8)), ok, text)
        }
        // An integer step on a number, or any step on an integer: integers only.
        let i = try schema(#"{"type": "integer", "multipleOf": 0.4}"#)  // integers that are multiples of 0.4: of 2
        XCTAssertTrue(i.accepts(Array("-4".utf8)))
        XCTAssertFalse(i.accepts(Array("3".utf8)))
    }

    /// A multiple of 1,000 depends on the last three digits only: a handful of rules, where the
    /// remainders times the lengths would be 16,000 states.
    func testMinimisedAutomaton() throws {
        let g = try schema(#"{"type": "integer", "multipleOf": 1000}"#)
        XCTAssertLessThan(g.ruleCount, 200)
        XCTAssertTrue(g.accepts(Array("123000".utf8)))
        XCTAssertTrue(g.accepts(Array("0".utf8)))
        XCTAssertFalse(g.accepts(Array("123100".utf8)))
        XCTAssertTrue(g.accepts(Array("9999999999999000".utf8)))
        XCTAssertFalse(g.accepts(Array("10000000000000000".utf8)))  // 17 digits
    }

    /// Round steps: remainders merged (10,000), trailing zeros stripped (10^6), few multiples listed (10^15).
    func testRoundAndLargeSteps() throws {
        for (step, good, bad) in [("10000", ["0", "-20000", "9999999999990000"], ["5000", "100000001"]),
                                  ("1000000", ["3000000", "-1000000"], ["1000", "1000001"]),
                                  ("1e15", ["2000000000000000", "-9000000000000000"], ["1000", "10000000000000000"])] {
            let g = try schema(#"{"type": "integer", "multipleOf": \#(step)}"#)
            XCTAssertLessThan(g.ruleCount, 400, step)
            for s in good { XCTAssertTrue(g.accepts(Array(s.utf8)), "\(step) \(s)") }
            for s in bad { XCTAssertFalse(g.accepts(Array(s.utf8)), "\(step) \(s)") }
        }
    }

    func testRefusals() throws {
        for (s, kind, needle) in [(#"{"type": "integer", "multipleOf": 0}"#, GrammarError.Kind.invalid, "greater than 0"),
                                  (#"{"type": "number", "multipleOf": 1e-7}"#, .unsupported, "fraction digits"),
                                  (#"{"type": "integer", "multipleOf": 99991}"#, .tooLarge, "99991"),
                                  (#"{"type": "integer", "multipleOf": 5, "minimum": 1, "maximum": 4}"#, .invalid, "no multiple"),
                                  (#"{"type": "string", "multipleOf": 5}"#, .unsupported, "applies to numbers")] {
            XCTAssertThrowsError(try schema(s), s) { e in
                XCTAssertEqual((e as? GrammarError)?.kind, kind, "\(e)")
                XCTAssertTrue("\(e)".contains(needle), "\(e)")
            }
        }
    }

    func testFormats() throws {
        for (format, good, bad) in [("ipv6", ["::", "fe80::1", "1:2:3:4:5:6:7:8"], ["1::2::3", "12345::", ":::"]),
                                    ("hostname", ["example.com", "localhost"], ["-a.com", "a..b", "1.2.3.4"]),
                                    ("duration", ["P1Y2D", "PT1H5S", "P2W"], ["P", "PT", "P2W1D", "PT1D"])] {
            let g = try schema(#"{"type": "string", "format": "\#(format)"}"#)
            for s in good { XCTAssertTrue(g.accepts(Array("\"\(s)\"".utf8)), "\(format) \(s)") }
            for s in bad { XCTAssertFalse(g.accepts(Array("\"\(s)\"".utf8)), "\(format) \(s)") }
        }
    }
}
