import XCTest
@testable import API

/// The routing table of a server with several models: names, aliases, kinds, fallbacks.
final class ModelTableTests: XCTestCase {
    func table() throws -> ModelTable {
        try ModelTable([
            .init(id: "smol", aliases: ["default", "SmolLM2 135M Instruct", "shared"], kind: .generation),
            .init(id: "qwen", aliases: ["qwen2.5-coder-1.5b", "shared"], kind: .generation),
            .init(id: "nomic", aliases: ["nomic-embed-text-v1.5", "embed", "smol-alias"], kind: .embedding),
        ])
    }

    func testNamesAndAliasesReachTheirModel() throws {
        let t = try table()
        XCTAssertEqual(t.resolve("smol"), 0)
        XCTAssertEqual(t.resolve("default"), 0)
        XCTAssertEqual(t.resolve("qwen2.5-coder-1.5b"), 1)
        XCTAssertEqual(t.resolve("embed"), 2)
        XCTAssertEqual(t.resolve("nomic"), 2)
        XCTAssertNil(t.resolve("gpt-4o"))
        XCTAssertNil(t.resolve(""))
        XCTAssertNil(t.resolve("Smol"), "names are exact")
        // An alias two models carry reaches the first listed.
        XCTAssertEqual(t.resolve("shared"), 0)
    }

    func testAnIdWinsOverAnotherModelsAlias() throws {
        let t = try ModelTable([.init(id: "a", aliases: ["b"], kind: .generation),
                                .init(id: "b", aliases: [], kind: .embedding)])
        XCTAssertEqual(t.resolve("b"), 1)
    }

    func testTwoModelsWithOneIdAreRefused() {
        XCTAssertThrowsError(try ModelTable([.init(id: "a", aliases: [], kind: .generation),
                                             .init(id: "a", aliases: [], kind: .embedding)])) {
            XCTAssertTrue("\($0)".contains("`a`"))
        }
    }

    func testRequestsWithoutAModelGoToTheFirstOfTheirKind() throws {
        let t = try table()
        XCTAssertEqual(t.fallback(for: .embedding), 2)
        XCTAssertEqual(t.fallback(for: .generation), 0)
        XCTAssertEqual(t.fallback(for: nil), 0)
        let onlyEmbedding = try ModelTable([.init(id: "e", aliases: [], kind: .embedding)])
        XCTAssertEqual(onlyEmbedding.fallback(for: .generation), 0)
    }

    func testEndpointKinds() {
        XCTAssertEqual(ModelTable.kind(of: .chatCompletions), .generation)
        XCTAssertEqual(ModelTable.kind(of: .completions), .generation)
        XCTAssertEqual(ModelTable.kind(of: .embeddings), .embedding)
        XCTAssertNil(ModelTable.kind(of: .tokenize))
        XCTAssertNil(ModelTable.kind(of: .detokenize))  // both kinds of model detokenize
    }
}
