import Foundation
import XCTest
import HTTP
@testable import API

/// The one mapping from error kind to HTTP status and OpenAI error type.
final class APIErrorTests: XCTestCase {
    func testEveryKindHasItsOwnStatusAndComesBackFromIt() {
        let statuses = APIError.Kind.allCases.map(\.statusAndType.status)
        XCTAssertEqual(Set(statuses).count, statuses.count, "two kinds share a status")
        for kind in APIError.Kind.allCases {
            XCTAssertEqual(APIError.Kind(status: kind.statusAndType.status), kind)
        }
    }

    func testTypesAreOpenAIs() {
        XCTAssertEqual(APIError.invalid("x").type, "invalid_request_error")
        XCTAssertEqual(APIError.invalid("x").status, 400)
        XCTAssertEqual(APIError.modelNotFound("m").status, 404)
        XCTAssertEqual(APIError.modelNotFound("m").code, "model_not_found")
        XCTAssertEqual(APIError(.authentication, message: "x").type, "authentication_error")
        XCTAssertEqual(APIError.queueFull("x").status, 429)
        XCTAssertEqual(APIError.queueFull("x").type, "rate_limit_error")
        XCTAssertEqual(APIError.queueFull("x").retryAfter, 1)
        XCTAssertEqual(APIError.internal("x").type, "server_error")
        XCTAssertEqual(APIError.unavailable("x").status, 503)
    }

    func testTransportErrorsKeepTheirStatus() throws {
        // A status with a kind of its own, and one without (431) that keeps its code.
        for (code, type) in [(413, "invalid_request_error"), (431, "invalid_request_error"), (503, "service_unavailable"),
                             (505, "server_error"), (401, "authentication_error")] {
            let r = APIError.transport(status: HTTPStatus(code), code: "c", message: "m")
            XCTAssertEqual(r.status.code, code)
            let body = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])
            let error = try XCTUnwrap(body["error"] as? [String: Any])
            XCTAssertEqual(error["type"] as? String, type, "status \(code)")
            XCTAssertEqual(error["code"] as? String, "c")
        }
    }
}
