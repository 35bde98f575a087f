import Foundation
import XCTest
@testable import Jinja

/// One-feature templates (literals, operators, filters, tests, methods, loops, scoping,
/// macros, whitespace control, errors) checked against Python jinja2's output, from the
/// same fixture file as the chat templates.
final class SnippetTests: XCTestCase {
    func testSnippetsMatchPythonJinja() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "templates", withExtension: "json", subdirectory: "Fixtures"))
        guard case .object(let root) = try Value(json: String(contentsOf: url, encoding: .utf8)),
              case .array(let snippets)? = root["snippets"] else {
            return XCTFail("fixture file has no snippets")
        }
        XCTAssertGreaterThan(snippets.count, 40)
        var environment = RenderEnvironment()
        environment.now = { Date(timeIntervalSince1970: 1_726_407_930) }  // 2024-09-15 13:45:30 UTC, as the generator
        var passed = 0
        for case .object(let c) in snippets {
            guard case .string(let source)? = c["template"], case .object(let context)? = c["context"] else {
                XCTFail("bad snippet \(c)")
                continue
            }
            var variables: [String: Value] = [:]
            for (k, v) in context.pairs { variables[k] = v }
            let result = Result { try Template(source).render(variables, environment: environment) }
            switch (result, c["expected"], c["raised"]) {
            case (.success(let out), .string(let expected)?, _):
                if out == expected { passed += 1 } else {
                    XCTFail("\(source.debugDescription)\n got: \(out.debugDescription)\nwant: \(expected.debugDescription)")
                }
            case (.failure(let e as TemplateError), _, .string(let message)?):
                if e.kind == .raised && e.message == message { passed += 1 } else { XCTFail("\(source): got \(e), want raise '\(message)'") }
            case (.failure(let e as TemplateError), nil, nil):
                if e.kind != .raised { passed += 1 } else { XCTFail("\(source): got \(e), want a plain error") }
            case (.success(let out), _, _):
                XCTFail("\(source.debugDescription): rendered \(out.debugDescription), want \(c["raised"] ?? c["error"] ?? .undefined)")
            case (.failure(let e), _, _):
                XCTFail("\(source.debugDescription): unexpected error \(e)")
            }
        }
        XCTAssertEqual(passed, snippets.count)
    }
}
