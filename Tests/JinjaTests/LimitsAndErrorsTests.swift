import Foundation
import XCTest
@testable import Jinja

/// Hostile or broken templates must fail fast with a typed error: never trap, hang,
/// or grow without bound.
final class LimitsAndErrorsTests: XCTestCase {
    private func renderError(_ source: String, _ context: [String: Value] = [:],
                             environment: RenderEnvironment = RenderEnvironment(),
                             file: StaticString = #filePath, line: UInt = #line) -> TemplateError? {
        do {
            let out = try Template(source).render(context, environment: environment)
            XCTFail("rendered \(out.prefix(80).debugDescription) instead of failing", file: file, line: line)
            return nil
        } catch let error as TemplateError {
            return error
        } catch {
            XCTFail("non-TemplateError \(error)", file: file, line: line)
            return nil
        }
    }

    /// Runs `body`, which must end with the limit's error (its own assertions say which): a
    /// limit that did not trip would run the template to its end or overflow the stack. No
    /// wall-clock bound: the machines are shared and their speed is not the test's subject.
    private func assertFast(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) {
        do { try body() } catch { XCTFail("unexpected \(error)", file: file, line: line) }
    }

    // MARK: Syntax errors carry a location

    func testSyntaxErrorsPointAtTheProblem() {
        let cases: [(String, Int, Int)] = [
            ("Hello\n{% if %}", 2, 7),
            ("{{ 1 + }}", 1, 8),
            ("ok\n\n  {{ x ] }}", 3, 8),
            ("{% for x in xs %}never closed", 1, 30),
            ("{% bogus %}", 1, 4),
            ("{{ 'unterminated }}", 1, 4),
            ("a {# no end", 1, 3),
            ("{% if x %}{% endfor %}", 1, 14),
        ]
        for (source, line, column) in cases {
            XCTAssertThrowsError(try Template(source), source) { error in
                guard let e = error as? TemplateError else { return XCTFail("not a TemplateError: \(error)") }
                XCTAssertEqual(e.kind, .syntax, source)
                XCTAssertEqual(e.line, line, "\(source.debugDescription): \(e)")
                XCTAssertEqual(e.column, column, "\(source.debugDescription): \(e)")
                XCTAssertFalse(e.message.isEmpty)
            }
        }
    }

    func testUnsupportedStatementsAreSyntaxErrors() {
        for source in ["{% include 'x' %}", "{% extends 'base' %}", "{% for x in y recursive %}{% endfor %}"] {
            XCTAssertThrowsError(try Template(source)) { XCTAssertEqual(($0 as? TemplateError)?.kind, .syntax) }
        }
    }

    // MARK: Runtime errors

    func testRaiseExceptionThrowsItsMessage() {
        let e = renderError("{% if messages[0].role != 'user' %}{{ raise_exception('Roles must alternate, got ' + messages[0].role) }}{% endif %}",
                            ["messages": [["role": "assistant", "content": "x"]]])
        XCTAssertEqual(e?.kind, .raised)
        XCTAssertEqual(e?.message, "Roles must alternate, got assistant")
        XCTAssertEqual(e?.line, nil, "raise_exception's message is the model author's, passed through as is")
    }

    func testRuntimeErrorsAreTypedAndLocated() {
        let e = renderError("line one\n{{ 1 + 'a' }}")
        XCTAssertEqual(e?.kind, .runtime)
        XCTAssertEqual(e?.line, 2)
        XCTAssertEqual(renderError("{{ undefined_function() }}")?.message, "'undefined_function' is undefined")
        XCTAssertEqual(renderError("{{ missing.attr }}")?.kind, .runtime)
        XCTAssertEqual(renderError("{{ 1 // 0 }}")?.kind, .runtime)
        XCTAssertEqual(renderError("{{ 'x' | no_such_filter }}")?.kind, .runtime)
        XCTAssertEqual(renderError("{{ 9223372036854775807 + 1 }}")?.message, "integer overflow")
        XCTAssertEqual(renderError("{{ 2 ** 64 }}")?.message, "integer overflow")
        XCTAssertEqual(renderError("{{ -(-9223372036854775807 - 1) }}")?.message, "integer overflow")
        XCTAssertEqual(renderError("{{ (-9223372036854775807 - 1) // -1 }}")?.message, "integer overflow")
        XCTAssertEqual(renderError("{{ [1, 2][::0] }}")?.kind, .runtime)
        XCTAssertEqual(renderError("{% set x.y = 1 %}")?.kind, .runtime)
        XCTAssertEqual(renderError("{% break %}")?.kind, .runtime)
    }

    /// Regressions: arithmetic on hostile bounds used to trap (Double to Int conversion in
    /// range(), index overflow in slicing with a huge step).
    func testExtremeBoundsDoNotTrap() throws {
        XCTAssertEqual(try Template("{{ [1, 2, 3][1::9223372036854775807] }}|{{ [1, 2, 3][::-9223372036854775807] }}|{{ 'abc'[-9223372036854775807:9223372036854775807] }}").render([:]),
                       "[2]|[3]|abc")
        XCTAssertEqual(try Template("{{ range(9223372036854775807, 9223372036854775806, -9223372036854775807) | list }}").render([:]),
                       "[9223372036854775807]")
        XCTAssertEqual(try Template("{{ range(0, 10, -9223372036854775807 - 1) | list }}").render([:]), "[]")
    }

    func testUndefinedRendersEmptyAndIsFalsy() throws {
        let out = try Template("[{{ nope }}][{{ m.missing }}][{% if nope %}t{% else %}f{% endif %}][{{ nope | length }}]")
            .render(["m": ["role": "user"]])
        XCTAssertEqual(out, "[][][f][0]")
    }

    // MARK: Limits

    func testHugeRangeIsRejectedQuickly() {
        assertFast {
            XCTAssertEqual(renderError("{% for i in range(1000000000) %}x{% endfor %}")?.kind, .limit)
            XCTAssertEqual(renderError("{% for i in range(-9223372036854775807, 9223372036854775807) %}{% endfor %}")?.kind, .limit)
        }
    }

    func testNestedLoopsHitTheIterationLimit() {
        assertFast {
            let e = renderError("{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}")
            XCTAssertEqual(e?.kind, .limit)
            XCTAssertTrue(e?.message.contains("loop iterations") ?? false, "\(String(describing: e))")
        }
    }

    func testInfiniteMacroRecursionHitsTheDepthLimit() {
        assertFast {
            XCTAssertEqual(renderError("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}")?.kind, .limit)
            XCTAssertEqual(renderError("{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}")?.kind, .limit)
        }
    }

    func testDeepSyntacticNestingIsRejectedNotOverflowed() {
        assertFast {
            for source in ["{{ " + String(repeating: "(", count: 100_000) + "1" + String(repeating: ")", count: 20_000) + " }}",
                           "{{ " + String(repeating: "[", count: 50_000) + " }}",
                           "{{ " + String(repeating: "-", count: 50_000) + "1 }}",
                           "{{ " + String(repeating: "not ", count: 50_000) + "1 }}",
                           String(repeating: "{% if true %}", count: 10_000),
                           // Left-deep chains: no parser recursion, but a deep tree to evaluate and free.
                           "{{ 1" + String(repeating: " + 1", count: 20_000) + " }}",
                           "{{ x" + String(repeating: " | trim", count: 20_000) + " }}",
                           "{{ x" + String(repeating: ".a", count: 20_000) + " }}",
                           "{{ x" + String(repeating: "[0]", count: 20_000) + " }}",
                           "{{ x" + String(repeating: "()", count: 20_000) + " }}",
                           "{{ 1" + String(repeating: " ~ 1", count: 20_000) + " }}",
                           "{{ 1" + String(repeating: " and 1", count: 20_000) + " }}",
                           "{{ 1" + String(repeating: " < 1", count: 20_000) + " }}",
                           "{{ 1" + String(repeating: " if 1 else 2", count: 20_000) + " }}"] {
                XCTAssertThrowsError(try Template(source)) { XCTAssertEqual(($0 as? TemplateError)?.kind, .syntax) }
            }
        }
    }

    func testOutputSizeIsBounded() {
        var env = RenderEnvironment()
        env.limits.maxOutputBytes = 1000
        assertFast {
            XCTAssertEqual(renderError("{% for i in range(100) %}{{ 'x' * 20 }}{% endfor %}", environment: env)?.kind, .limit)
            XCTAssertEqual(renderError("{% for i in range(100000) %}{{ 'y' * 100 }}{% endfor %}")?.kind, .limit)
        }
    }

    func testHugeValuesAreRefusedBeforeAllocation() {
        assertFast {
            XCTAssertEqual(renderError("{{ 'x' * 1000000000000 }}")?.kind, .limit)
            XCTAssertEqual(renderError("{{ 'xy' * 9223372036854775807 }}")?.kind, .limit)
            XCTAssertEqual(renderError("{{ [1, 2] * 9223372036854775807 }}")?.kind, .limit)
            XCTAssertEqual(renderError("{% set s = 'a' * 1000000 %}{{ s.replace('a', s) }}")?.kind, .limit)
            XCTAssertEqual(renderError("{{ ('a\\n' * 100000) | indent(1000) }}")?.kind, .limit)
        }
    }

    func testQuadraticConcatenationHitsTheWorkLimit() {
        // Each pass copies a growing string: 100k passes would copy ~50 GB.
        assertFast {
            let e = renderError("{% set ns = namespace(s='') %}{% for i in range(100000) %}{% set ns.s = ns.s ~ ('x' * 1000) %}{% endfor %}{{ ns.s | length }}")
            XCTAssertEqual(e?.kind, .limit)
        }
    }

    func testDeeplyNestedValuesAreBounded() {
        assertFast {
            let e = renderError("{% set ns = namespace(v=[]) %}{% for i in range(100000) %}{% set ns.v = [ns.v] %}{% endfor %}{{ ns.v }}")
            XCTAssertEqual(e?.kind, .limit)
        }
        // A caller-built value nested deeper than the walk limit: tojson and printing refuse it.
        var deep: Value = .none
        for _ in 0..<1000 { deep = .array([deep]) }
        XCTAssertEqual(renderError("{{ x | tojson }}", ["x": deep])?.kind, .limit)
        XCTAssertEqual(renderError("{{ x }}", ["x": deep])?.kind, .limit)
        XCTAssertEqual(renderError("{{ x == x }}", ["x": deep])?.kind, .limit)
    }

    func testStepLimitBoundsWorkWithoutLoops() {
        var env = RenderEnvironment()
        env.limits.maxSteps = 1000
        XCTAssertEqual(renderError("{{ range(5000) | join(',') }}", environment: env)?.kind, .limit)
    }

    func testLimitsAreConfigurable() throws {
        var env = RenderEnvironment()
        env.limits.maxLoopIterations = 10
        XCTAssertEqual(renderError("{% for i in range(11) %}{% endfor %}", environment: env)?.kind, .limit)
        XCTAssertEqual(try Template("{% for i in range(10) %}{{ i }}{% endfor %}").render([:], environment: env), "0123456789")
    }

    /// Server threads may have small stacks: the deepest template the parser accepts, and
    /// macro recursion up to the call-depth limit, must fit in a 512 KB stack. Debug builds
    /// use several times more stack per frame (measured: release runs all of this in 128 KB,
    /// debug needs about 2 MB for the macro case), so the test gives them 4 MB.
    func testMaximumNestingRunsOnASmallStack() throws {
        let depth = TemplateOptions().maxNestingDepth - 4
        let parens = "{{ " + String(repeating: "(", count: depth) + "1" + String(repeating: ")", count: depth) + " }}"
        let blocks = String(repeating: "{% if true %}", count: depth) + "{{ 1 }}" + String(repeating: "{% endif %}", count: depth)
        let list = "{{ " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + " | tojson }}"
        /// Written by the thread before `done` is fulfilled, read after the wait.
        final class Box: @unchecked Sendable {
            var outputs: [String] = []
            var failure: Error? = nil
        }
        let box = Box()
        let chain = "{{ 1" + String(repeating: " + 1", count: depth - 4) + " }}"
        let recursion = "{% macro f(n) %}{% if n > 0 %}{% for i in [1] %}{% if true %}{{ f(n - 1) | trim }}{% endif %}{% endfor %}{% endif %}{% endmacro %}{{ f(1000) }}"
        let done = expectation(description: "rendered")
        let thread = Thread {
            do {
                box.outputs.append(try Template(blocks).render([:]))
                box.outputs.append(try Template(parens).render([:]))
                box.outputs.append(try Template(chain).render([:]))
                do {
                    _ = try Template(recursion).render([:])
                } catch let e as TemplateError where e.kind == .limit {
                    // expected: the depth limits trip before the stack runs out
                }
                box.outputs.append(try Template(list).render([:]))
            } catch {
                box.failure = error
            }
            done.fulfill()
        }
        #if DEBUG
        thread.stackSize = 4 << 20
        #else
        thread.stackSize = 512 << 10
        #endif
        thread.start()
        wait(for: [done], timeout: 30)
        XCTAssertNil(box.failure)
        XCTAssertEqual(box.outputs.count, 4)
        XCTAssertEqual(box.outputs.prefix(3), ["1", "1", String(depth - 3)])
        XCTAssertEqual(box.outputs.last?.count, 2 * depth)
    }
}
