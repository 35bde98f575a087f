import XCTest
@testable import API

/// The route table: one entry per path, methods as the OpenAI API has them.
final class APIRouteTests: XCTestCase {
    func testPathsAreDistinctAndMethodsAreOpenAIs() {
        let paths = APIRoute.allCases.map(\.path)
        XCTAssertEqual(Set(paths).count, paths.count)
        XCTAssertEqual(APIRoute.models.method, "GET")
        XCTAssertEqual(APIRoute.model.path, "/v1/models/{id}")
        for r in [APIRoute.completions, .chatCompletions, .responses, .embeddings, .tokenize, .detokenize, .applyTemplate] {
            XCTAssertEqual(r.method, "POST", r.path)
        }
        XCTAssertEqual(APIRoute.allCases.filter(\.generates), [.completions, .chatCompletions, .responses])
        XCTAssertEqual(APIRoute.responses.path, "/v1/responses")
    }
}
