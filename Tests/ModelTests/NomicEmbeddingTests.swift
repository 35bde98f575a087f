import Foundation
import XCTest
@testable import Model

/// nomic-embed-text-v1.5 (F16) against llama.cpp (`llama-server --embedding --pooling mean`) on a
/// reference set with short and long inputs and non-ASCII text (Fixtures/nomic, made by
/// Tests/cli/make_nomic_embedding_fixture.py). Skipped when the model is not pulled. Token ids are
/// checked for every sentence; vectors for those up to 200 tokens (a few seconds), and for all
/// (inputs up to 2027 tokens, about a minute in a debug build) with JETON_LONG_TESTS=1.
final class NomicEmbeddingTests: XCTestCase {
    struct Case: Decodable {
        let text: String
        let ids: [Int32]
        let embedding_f16: String

        var embedding: [Double] {
            guard let data = Data(base64Encoded: embedding_f16) else { return [] }
            return data.withUnsafeBytes { raw in
                (0..<(raw.count / 2)).map { Double(Float(Float16(bitPattern: raw.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)))) }
            }
        }
    }

    static var modelPath: String {
        let dir = ProcessInfo.processInfo.environment["JETON_MODELS"] ?? (NSHomeDirectory() + "/.cache/jeton/models")
        return dir + "/nomic-embed-text-v1.5.f16.gguf"
    }

    static let shared: Result<LoadedEmbeddingModel, Error>? = {
        guard FileManager.default.fileExists(atPath: modelPath) else { return nil }
        return Result { try LoadedEmbeddingModel(path: modelPath, threads: ProcessInfo.processInfo.activeProcessorCount) }
    }()

    func model() throws -> LoadedEmbeddingModel {
        guard let r = Self.shared else {
            throw XCTSkip("nomic-embed-text-v1.5 is not downloaded (\(Self.modelPath)): run `jeton pull nomic-embed-text-v1.5`")
        }
        return try r.get()
    }

    func cases() throws -> [Case] {
        let text = String(decoding: try ReferenceData.fixture("nomic/llama_cpp_embeddings.jsonl"), as: UTF8.self)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(Case.self, from: Data($0.utf8)) }
    }

    func testConfig() throws {
        let m = try model()
        XCTAssertEqual(m.config.family, .nomicBERT)
        XCTAssertEqual(m.config.layers, 12)
        XCTAssertEqual(m.config.dim, 768)
        XCTAssertEqual(m.config.contextLength, 2048)
        XCTAssertEqual(m.config.vocabSize, 30522)
        XCTAssertEqual(m.tokenizer.bosID, 101)
        XCTAssertEqual(m.tokenizer.separatorID, 102)
    }

    /// Except where llama.cpp departs from the model's own (Hugging Face) tokenizer: Indic and
    /// Korean letters and words over 100 characters (WordPiece's doc; WordPieceTests checks those
    /// against Hugging Face). The vectors below embed llama.cpp's ids, so they cover every case.
    func testTokenIDsEqualLlamaCpp() throws {
        let m = try model()
        func departs(_ text: String) -> Bool {
            text.unicodeScalars.contains { (0x0900...0x0DFF).contains($0.value) || (0xAC00...0xD7AF).contains($0.value) }
                || text.split(whereSeparator: \.isWhitespace).contains { $0.count > 100 }
        }
        var skipped = 0
        for c in try cases() {
            if departs(c.text) { skipped += 1; continue }
            XCTAssertEqual(m.tokenize(c.text), c.ids, c.text)
        }
        XCTAssertEqual(skipped, 2)
    }

    func testEmbeddingsMatchLlamaCpp() throws {
        let m = try model()
        let all = ProcessInfo.processInfo.environment["JETON_LONG_TESTS"] == "1"
        let chosen = try cases().filter { all || $0.ids.count <= 200 }
        XCTAssertGreaterThan(chosen.count, 10)
        let vectors = try m.embed(tokens: chosen.map(\.ids))
        var worst = 1.0
        for (c, v) in zip(chosen, vectors) {
            let ref = c.embedding
            XCTAssertEqual(v.count, ref.count)
            var dot = 0.0, nv = 0.0, nr = 0.0
            for (a, b) in zip(v, ref) { dot += Double(a) * b; nv += Double(a) * Double(a); nr += b * b }
            let cosine = dot / (nv.squareRoot() * nr.squareRoot())
            worst = min(worst, cosine)
            XCTAssertGreaterThanOrEqual(cosine, 0.9999, "\(c.ids.count) tokens: \(c.text.prefix(60))")
            XCTAssertEqual(nv, 1, accuracy: 1e-5)
        }
        print("nomic-embed-text-v1.5 vs llama.cpp: \(chosen.count) inputs, lowest cosine \(worst)")
    }
}
