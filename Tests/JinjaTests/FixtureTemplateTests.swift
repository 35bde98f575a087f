import Foundation
import XCTest
@testable import Jinja

/// Golden outputs from Python's jinja2 configured as transformers' apply_chat_template
/// (scripts/make_template_fixtures.py): every case must match byte for byte, or throw
/// where Python threw (with the same message for raise_exception).
final class FixtureTemplateTests: XCTestCase {
    struct Fixture {
        let templates: [String: String]
        let cases: [OrderedObject]
        let now: Date
    }

    static func loadFixture() throws -> Fixture {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "templates", withExtension: "json", subdirectory: "Fixtures"))
        let text = try String(contentsOf: url, encoding: .utf8)
        guard case .object(let root) = try Value(json: text),
              case .object(let templates)? = root["templates"],
              case .array(let cases)? = root["cases"],
              case .string(let nowText)? = root["now"] else {
            throw XCTSkip("malformed fixture file")
        }
        var sources: [String: String] = [:]
        for (k, v) in templates.pairs { if case .string(let s) = v { sources[k] = s } }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd'T'HH:mm:ss"
        let now = try XCTUnwrap(formatter.date(from: nowText))
        return Fixture(templates: sources, cases: cases.compactMap { if case .object(let o) = $0 { return o } else { return nil } }, now: now)
    }

    func testAllFixtureTemplatesMatchPythonJinja() throws {
        let fixture = try Self.loadFixture()
        XCTAssertGreaterThanOrEqual(fixture.templates.count, 9)
        XCTAssertGreaterThanOrEqual(fixture.cases.count, 100)
        var environment = RenderEnvironment()
        let now = fixture.now
        environment.now = { now }
        var compiled: [String: Template] = [:]
        for (name, source) in fixture.templates {
            do { compiled[name] = try Template(source) } catch { XCTFail("\(name) does not parse: \(error)") }
        }
        var passed = 0
        for c in fixture.cases {
            guard case .string(let name)? = c["template"], case .string(let conversation)? = c["conversation"],
                  case .object(let context)? = c["context"], let template = compiled[name] else {
                XCTFail("bad case \(c)")
                continue
            }
            let label = "\(name) / \(conversation) / add_generation_prompt=\(context["add_generation_prompt"] ?? .undefined)"
            var variables: [String: Value] = [:]
            for (k, v) in context.pairs { variables[k] = v }
            let result = Result { try template.render(variables, environment: environment) }
            switch (result, c["expected"], c["raised"], c["error"]) {
            case (.success(let out), .string(let expected)?, _, _):
                if out == expected { passed += 1 } else { XCTFail("\(label): output differs\n--- got ---\n\(out)\n--- expected ---\n\(expected)") }
            case (.failure(let error as TemplateError), _, .string(let message)?, _):
                if error.kind == .raised && error.message == message { passed += 1 } else {
                    XCTFail("\(label): expected raise_exception('\(message)'), got \(error)")
                }
            case (.failure(let error as TemplateError), _, _, .string?):
                if error.kind != .raised { passed += 1 } else { XCTFail("\(label): expected a runtime error, got \(error)") }
            case (.success(let out), _, _, _):
                XCTFail("\(label): expected an error (\(c["raised"] ?? c["error"] ?? .undefined)), rendered \(out.debugDescription)")
            case (.failure(let error), _, _, _):
                XCTFail("\(label): unexpected error \(error)")
            }
        }
        XCTAssertEqual(passed, fixture.cases.count, "\(passed)/\(fixture.cases.count) fixture cases pass")
    }
}
