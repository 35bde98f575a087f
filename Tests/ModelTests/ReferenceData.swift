import Foundation

/// Loads the default model's path and the reference fixtures from other engines.
enum ReferenceData {
    static var modelPath: String {
        let dir = ProcessInfo.processInfo.environment["JETON_MODELS"]
            ?? (NSHomeDirectory() + "/.cache/jeton/models")
        return dir + "/SmolLM2-135M-Instruct.Q4_1.gguf"
    }

    static func fixture(_ name: String) throws -> Data {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent(name)
        return try Data(contentsOf: url)
    }

    struct GreedyCase: Decodable {
        let prompt: String
        let prompt_ids: [Int32]
        let top10_logits: [[Double]]
        let greedy_ids: [Int32]
        let greedy_text: String
        let llama_cpp_greedy_ids: [Int32]
        let llama_cpp_agrees_for: Int
    }

    static func greedyCases() throws -> [GreedyCase] {
        let text = String(decoding: try fixture("greedy.jsonl"), as: UTF8.self)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(GreedyCase.self, from: Data($0.utf8)) }
    }

    struct Perplexity: Decodable {
        let text: String
        let ids: [Int32]
        let ppl: Double
    }

    static func perplexity() throws -> Perplexity {
        try JSONDecoder().decode(Perplexity.self, from: try fixture("perplexity.json"))
    }
}
