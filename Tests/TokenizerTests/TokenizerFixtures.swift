import Foundation
import GGUF
import Tokenizer
import XCTest

/// Fixture files, the default model's vocabulary (read through the GGUF target) and the
/// metadata → `TokenizerVocabulary` mapping used by the tests.
enum TokenizerFixtures {
    struct MissingFixture: Error, CustomStringConvertible {
        var description: String
    }

    static func url(_ name: String) throws -> URL {
        guard let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            throw MissingFixture(description: "Fixtures folder missing from the test bundle")
        }
        return dir.appendingPathComponent(name)
    }

    static func json(_ name: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url(name)))
    }

    /// Lines of `tokenize.jsonl` (copied from shared/reference).
    static func referenceCases() throws -> [(text: String, ids: [Int32])] {
        let text = try String(contentsOf: url("tokenize.jsonl"), encoding: .utf8)
        var out: [(String, [Int32])] = []
        for line in text.split(separator: "\n") where !line.isEmpty {
            let obj = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            guard let t = obj?["text"] as? String, let ids = obj?["ids"] as? [Int] else {
                throw MissingFixture(description: "bad line in tokenize.jsonl: \(line)")
            }
            out.append((t, ids.map { Int32($0) }))
        }
        return out
    }

    static var modelPath: String {
        let dir = ProcessInfo.processInfo.environment["JETON_MODELS"]
            ?? (NSHomeDirectory() + "/.cache/jeton/models")
        return dir + "/SmolLM2-135M-Instruct.Q4_1.gguf"
    }

    /// The default model's tokenizer, loaded once. Fails (not skips) when the model file
    /// is missing: CI fetches it before the tests.
    static func smolLM() throws -> Tokenizer {
        try smolLMResult.get()
    }

    private static let smolLMResult: Result<Tokenizer, Error> = Result {
        let path = modelPath
        guard FileManager.default.fileExists(atPath: path) else {
            throw MissingFixture(description: "model file not found at \(path); fetch it first (set JETON_MODELS to its folder)")
        }
        let file = try GGUFFile(path: path)
        return try Tokenizer(vocabulary(from: file.metadata))
    }

    static func vocabulary(from m: [String: GGUFValue]) throws -> TokenizerVocabulary {
        try TokenizerVocabulary(metadata: m)
    }

    /// The SentencePiece fixture made by scripts/make_tokenizer_fixtures.py.
    static func sentencePiece() throws -> (tokenizer: Tokenizer, cases: [(text: String, ids: [Int32])]) {
        guard let obj = try json("spm_bpe.json") as? [String: Any],
              let tokens = obj["tokens"] as? [String],
              let scores = obj["scores"] as? [Double],
              let types = obj["token_types"] as? [Int],
              let cases = obj["cases"] as? [[String: Any]] else {
            throw MissingFixture(description: "spm_bpe.json malformed")
        }
        let vocab = TokenizerVocabulary(
            model: "llama", pre: "default", tokens: tokens,
            tokenTypes: types.map { Int32($0) }, scores: scores.map { Float($0) },
            bosID: 1, eosID: 2, unknownID: 0,
            addBOS: true, addEOS: false, addSpacePrefix: true)
        let parsed = cases.compactMap { c -> (String, [Int32])? in
            guard let t = c["text"] as? String, let ids = c["ids"] as? [Int] else { return nil }
            return (t, ids.map { Int32($0) })
        }
        return (try Tokenizer(vocab), parsed)
    }
}
