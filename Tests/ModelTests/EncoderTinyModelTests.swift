import Foundation
import XCTest
import Kernels
@testable import Model

/// Tiny random nomic-bert and bert encoders against float64 numpy references of the
/// architecture (scripts/make_tiny_encoders.py, Fixtures/tiny): the fast F16 kernels and the
/// Double reference twin, one sequence at a time and all in one batch.
final class EncoderTinyModelTests: XCTestCase {
    struct Fixture: Decodable {
        struct Sequence: Decodable { let ids: [Int32]; let embedding: [Double] }
        let architecture: String
        let sequences: [Sequence]
    }

    static func url(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/tiny/" + name)
    }

    func load(_ arch: String, precision: EncoderModel.Precision) throws -> (LoadedEmbeddingModel, Fixture) {
        let model = try LoadedEmbeddingModel(path: Self.url("\(arch).tiny.gguf").path, threads: 2, precision: precision)
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: Self.url("\(arch).embeddings.json")))
        XCTAssertEqual(model.config.architecture, fixture.architecture)
        return (model, fixture)
    }

    /// Largest |a − ref| over the components of unit vectors.
    func maxError(_ a: [Float], _ ref: [Double]) -> Double {
        XCTAssertEqual(a.count, ref.count)
        return zip(a, ref).map { abs(Double($0) - $1) }.max() ?? .infinity
    }

    func check(_ arch: String, _ precision: EncoderModel.Precision, tolerance: Double) throws {
        let (model, fixture) = try load(arch, precision: precision)
        let batched = try model.embed(tokens: fixture.sequences.map(\.ids))
        var worst = 0.0
        for (s, v) in zip(fixture.sequences, batched) {
            worst = max(worst, maxError(v, s.embedding))
            let alone = try model.embed(tokens: [s.ids])[0]
            XCTAssertEqual(alone, v, "\(arch): a sequence's vector must not depend on its batch")
        }
        print("tiny \(arch) \(precision): max component error \(worst)")
        XCTAssertLessThan(worst, tolerance)
    }

    func testNomicBERTFast() throws { try check("nomic-bert", .fast, tolerance: 2e-5) }
    func testNomicBERTReference() throws { try check("nomic-bert", .reference, tolerance: 2e-5) }
    func testBERTFast() throws { try check("bert", .fast, tolerance: 2e-5) }
    func testBERTReference() throws { try check("bert", .reference, tolerance: 2e-5) }

    func testTokenizerAddsCLSAndSEP() throws {
        let (model, _) = try load("nomic-bert", precision: .fast)
        // "▁the" 61, "▁hello" 62, "▁world" 63; "," and "!" are words of their own; "worlds" → ▁world + s.
        XCTAssertEqual(model.tokenize("The hello, worlds!"), [2, 61, 62, 32, 63, 66, 33, 3])
        XCTAssertEqual(model.tokenize(""), [2, 3])
    }

    func testBadInputsAreErrors() throws {
        let (model, _) = try load("nomic-bert", precision: .fast)
        XCTAssertThrowsError(try model.embed(tokens: [[]]))
        XCTAssertThrowsError(try model.embed(tokens: [[2, 99, 3]]))  // outside the vocabulary
        XCTAssertThrowsError(try model.embed(tokens: [[Int32](repeating: 5, count: model.config.contextLength + 1)]))
        let cut = model.truncated([2] + [Int32](repeating: 5, count: 100) + [3])
        XCTAssertEqual(cut.count, model.config.contextLength)
        XCTAssertEqual(cut.first, 2)
        XCTAssertEqual(cut.last, 3)
    }
}
