import XCTest
@testable import API

/// The route table: one entry per path, methods as the OpenAI API has them.
final class APIRouteTests: XCTestCase {
    func testPathsAreDistinctAndMethodsAreOpenAIs() {
        let routes = APIRoute.allCases.map { $0.method + " " + $0.path }
        XCTAssertEqual(Set(routes).count, routes.count)
        XCTAssertEqual(APIRoute.deleteResponse.method, "DELETE")
        XCTAssertEqual(APIRoute.models.method, "GET")
        XCTAssertEqual(APIRoute.model.path, "/v1/models/{id...}")
        for r in [APIRoute.completions, .chatCompletions, .responses, .responseInputTokens, .messages, .countTokens, .embeddings, .tokenize,
                  .detokenize, .applyTemplate, .infill, .llamaCompletion] {
            XCTAssertEqual(r.method, "POST", r.path)
        }
        XCTAssertEqual(APIRoute.allCases.filter(\.generates), [.completions, .chatCompletions, .responses, .messages, .infill, .llamaCompletion])
        XCTAssertEqual(APIRoute.infill.path, "/infill")
        XCTAssertEqual(APIRoute.responses.path, "/v1/responses")
        // Anthropic's Messages API: its two routes answer in its error envelope.
        XCTAssertEqual(APIRoute.allCases.filter(\.isAnthropic).map(\.path), ["/v1/messages", "/v1/messages/count_tokens"])
    }
}
