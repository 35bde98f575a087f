import XCTest
@testable import Tokenizer

/// Where a vocabulary's fill-in-the-middle tokens come from: the file's ids first, else a
/// family's texts; the prompt's order and BOS.
final class FillInTheMiddleTests: XCTestCase {
    func testIdsFromMetadataThenFromTexts() throws {
        let tokens = ["<unk>", "<s>", "</s>", "a", "b", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<PRE>", "<SUF>", "<MID>"]
        var vocab = TokenizerVocabulary(model: "llama", tokens: tokens, scores: Array(repeating: 0, count: tokens.count),
                                        bosID: 1, eosID: 2, unknownID: 0, addBOS: true)
        let byText = try Tokenizer(vocab)
        XCTAssertEqual(byText.fillInTheMiddleIDs.map { [$0.prefix, $0.suffix, $0.middle] }, [5, 6, 7])
        vocab.fimIDs = [8, 9, 10]  // the file names CodeLlama's tokens: they win
        let byMetadata = try Tokenizer(vocab)
        XCTAssertEqual(byMetadata.fillInTheMiddleIDs.map { [$0.prefix, $0.suffix, $0.middle] }, [8, 9, 10])
        // BOS (the vocabulary adds one), prefix, the text before, suffix, the text after, middle.
        let ids = try XCTUnwrap(byMetadata.fillInTheMiddle(prefix: "a", suffix: "b"))
        XCTAssertEqual(ids.first, 1)
        XCTAssertEqual(ids.filter { [8, 9, 10].contains($0) }, [8, 9, 10])
        XCTAssertEqual(ids.last, 10)
        vocab.fimIDs = [8, 9, 99]  // an id outside the vocabulary: ignored, the texts are used
        XCTAssertEqual(try Tokenizer(vocab).fillInTheMiddleIDs.map { [$0.prefix, $0.suffix, $0.middle] }, [5, 6, 7])
        let none = try Tokenizer(TokenizerVocabulary(model: "llama", tokens: ["<unk>", "<s>", "</s>", "a"],
                                                     scores: [0, 0, 0, 0], bosID: 1, eosID: 2, unknownID: 0))
        XCTAssertNil(none.fillInTheMiddleIDs)
        XCTAssertNil(none.fillInTheMiddle(prefix: "a", suffix: "a"))
    }
}
