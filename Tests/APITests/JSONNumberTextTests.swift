import XCTest
@testable import API

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

    func testMadeNumbersAreFormattedFromTheirValue() {
        XCTAssertEqual(JSON(3).serialized, "3")
        XCTAssertEqual(JSON.number(0.5).serialized, "0.5")
        XCTAssertEqual(JSON.number(.infinity).serialized, "null")
        XCTAssertEqual(JSON.object([("n", JSON(Float(2)))]).serialized, #"{"n":2}"#)
    }
}
