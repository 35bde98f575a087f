import XCTest
@testable import API
import Jinja

/// Request JSON written again (a schema for the grammar, a tool's parameters) keeps each number
/// as the request wrote it; numbers made by the server are formatted from their value.
final class JSONNumberTextTests: XCTestCase {
    func testParsedNumbersKeepTheirText() throws {
        let text = #"{"big":12345678901234567891,"one":1.0,"small":-2.5e-7,"list":[9007199254740993,0.1,-0]}"#
        let v = try XCTUnwrap(JSON.parse(Array(text.utf8)))
        XCTAssertEqual(v.serialized, text)
        // The value is still there for checks and arithmetic.
        guard case let .number(big, _)? = v["big"], case let .number(one, _)? = v["one"] else { return XCTFail("numbers") }
        XCTAssertEqual(big, 12345678901234567891.0)
        XCTAssertEqual(one, 1)
        // Equality is by value, as before.
        XCTAssertEqual(JSON.parse(Array("1.0".utf8)), JSON(1))
    }

    /// As the template engine's JSON reader (and json.loads) types them: from the text.
    func testTemplateValuesTypeNumbersByTheirText() throws {
        func value(_ text: String) throws -> Value { OpenAIAPI.templateValue(try XCTUnwrap(JSON.parse(Array(text.utf8)))) }
        XCTAssertEqual(try value("1.0"), .double(1))
        XCTAssertEqual(try value("2"), .int(2))
        XCTAssertEqual(try value("-3e2"), .double(-300))
        XCTAssertEqual(try value("12345678901234567891"), .double(12345678901234567891.0))  // past Int, as the engine's reader
        XCTAssertEqual(OpenAIAPI.templateValue(JSON(7)), .int(7))
    }

    func testMadeNumbersAreFormattedFromTheirValue() {
        XCTAssertEqual(JSON(3).serialized, "3")
        XCTAssertEqual(JSON.number(0.5).serialized, "0.5")
        XCTAssertEqual(JSON.number(.infinity).serialized, "null")
        XCTAssertEqual(JSON.object([("n", JSON(Float(2)))]).serialized, #"{"n":2}"#)
    }
}
