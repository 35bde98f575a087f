import Foundation
import XCTest
@testable import Jinja

final class ValueTests: XCTestCase {
    func testLiteralsBuildValuesAndKeepKeyOrder() throws {
        let message: Value = ["role": "user", "content": "hi", "n": 1, "f": 1.5, "ok": true, "none": nil, "list": [1, "two"]]
        guard case .object(let o) = message else { return XCTFail("not an object") }
        XCTAssertEqual(o.keys, ["role", "content", "n", "f", "ok", "none", "list"])
        XCTAssertEqual(o["n"], .int(1))
        XCTAssertEqual(o["none"], Value.none)
        XCTAssertEqual(Value("x"), .string("x"))
        XCTAssertEqual(Value(["a": 1]), .object(OrderedObject([("a", 1)])))
        XCTAssertEqual(Value(nil as String?), Value.none)
        let out = try Template("{{ m | tojson }}|{% for k, v in m.items() %}{{ k }},{% endfor %}").render(["m": message])
        XCTAssertEqual(out, #"{"role": "user", "content": "hi", "n": 1, "f": 1.5, "ok": true, "none": null, "list": [1, "two"]}|role,content,n,f,ok,none,list,"#)
    }

    func testOrderedObjectUpdateAndRemove() {
        var o = OrderedObject([("a", 1), ("b", 2), ("c", 3)])
        o["a"] = 10
        o["b"] = nil
        o["d"] = 4
        XCTAssertEqual(o.keys, ["a", "c", "d"])
        XCTAssertEqual(o["c"], 3)
        XCTAssertEqual(o.values, [10, 3, 4])
        XCTAssertEqual(o, OrderedObject([("d", 4), ("c", 3), ("a", 10)]), "equality ignores order, as Python dicts")
    }

    func testJSONParsingKeepsOrderAndTypes() throws {
        let v = try Value(json: #" {"z": 1, "a": [1.0, -2, 3e2, true, false, null], "s": "\u00e9\n\ud83d\ude00\"", "e": {}} "#)
        guard case .object(let o) = v else { return XCTFail("not an object") }
        XCTAssertEqual(o.keys, ["z", "a", "s", "e"])
        XCTAssertEqual(o["a"], [.double(1), .int(-2), .double(300), true, false, Value.none])
        XCTAssertEqual(o["s"], "é\n😀\"")
        XCTAssertEqual(try Template("{{ v | tojson }}").render(["v": v]),
                       #"{"z": 1, "a": [1.0, -2, 300.0, true, false, null], "s": "é\n😀\"", "e": {}}"#)
    }

    func testMalformedOrTooDeepJSONThrows() {
        for bad in ["", "{", "[1,]", "{\"a\" 1}", "tru", "\"open", "[1] x", "{1: 2}", "\"\\u12\""] {
            XCTAssertThrowsError(try Value(json: bad), bad)
        }
        XCTAssertThrowsError(try Value(json: String(repeating: "[", count: 100_000)))
        XCTAssertNoThrow(try Value(json: String(repeating: "[", count: 100) + String(repeating: "]", count: 100)))
    }

    func testStrftimeNowUsesTheInjectedClock() throws {
        var env = RenderEnvironment()
        env.now = { Date(timeIntervalSince1970: 1_721_952_000) }  // 2024-07-26 00:00:00 UTC
        let out = try Template("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%-d %B, %A %H:%M') }}").render([:], environment: env)
        XCTAssertEqual(out, "26 Jul 2024|26 July, Friday 00:00")
    }

    func testTemplateIsReusableAndSendable() throws {
        let t = try Template("{{ x }}")
        let results = try (0..<4).map { try t.render(["x": .int($0)]) }
        XCTAssertEqual(results, ["0", "1", "2", "3"])
        let sendable: any Sendable = t
        XCTAssertNotNil(sendable)
    }

    func testErrorDescriptionIncludesLocation() {
        XCTAssertEqual(TemplateError(.syntax, "bad", line: 3, column: 4).description, "bad (line 3, column 4)")
        XCTAssertEqual(TemplateError(.raised, "msg").description, "msg")
    }
}
