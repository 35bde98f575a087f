import Foundation
import XCTest
@testable import Model

/// Gemma 3 270M Q4_K_M (`jeton pull gemma3-270m`) against llama.cpp's tokenization and
/// greedy continuations (Fixtures/gemma3, copied from shared/reference/gemma3).
/// Skipped when the model is not in the cache.
final class Gemma3Tests: XCTestCase {
    nonisolated(unsafe) static var loaded: LoadedModel?  // XCTest runs a class's tests one at a time

    static var modelPath: String {
        let dir = ProcessInfo.processInfo.environment["JETON_MODELS"] ?? (NSHomeDirectory() + "/.cache/jeton/models")
        return dir + "/gemma-3-270m-q4_k_m.gguf"
    }

    func model() throws -> LoadedModel {
        if let m = Self.loaded { return m }
        guard FileManager.default.fileExists(atPath: Self.modelPath) else {
            throw XCTSkip("Gemma 3 270M is not downloaded (\(Self.modelPath)): run `jeton pull gemma3-270m` to enable these tests")
        }
        let m = try LoadedModel(path: Self.modelPath, threads: ProcessInfo.processInfo.activeProcessorCount)
        Self.loaded = m
        return m
    }

    func lines<T: Decodable>(_ name: String, as: T.Type) throws -> [T] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/gemma3/\(name)")
        let text = String(decoding: try Data(contentsOf: url), as: UTF8.self)
        return try text.split(separator: "\n").map { try JSONDecoder().decode(T.self, from: Data($0.utf8)) }
    }

    struct TokenizeCase: Decodable { let text: String; let ids: [Int32] }
    struct GreedyCase: Decodable { let prompt: String; let prompt_ids: [Int32]; let greedy_ids: [Int32] }

    func testConfig() throws {
        let c = try model().config
        XCTAssertEqual(c.family, .gemma3)
        XCTAssertEqual(c.layers, 18)
        XCTAssertEqual(c.headSize, 256)
        XCTAssertEqual(c.kvHeads, 1)
        XCTAssertEqual(c.slidingWindow, 512)
        XCTAssertEqual(c.slidingLayers.enumerated().filter { !$0.element }.map(\.offset), [5, 11, 17])
        XCTAssertEqual(c.ropeBase, 1_000_000)
        XCTAssertEqual(c.localRopeBase, 10_000)
        XCTAssertEqual(c.attentionScale, 1.0 / 16, accuracy: 1e-7)
        XCTAssertEqual(c.quantization, "Q4_K_M")
        XCTAssertNil(c.finalLogitSoftcap)
    }

    func testTokenizationMatchesLlamaCpp() throws {
        let t = try model().tokenizer
        var matched = 0
        let cases = try lines("tokenize.jsonl", as: TokenizeCase.self)
        for c in cases {
            let ids = t.encode(c.text, addSpecial: false)
            if ids == c.ids { matched += 1 } else { XCTFail("\(c.text.debugDescription): \(ids) != \(c.ids)") }
            XCTAssertEqual(t.decode(ids), c.text)
        }
        print("gemma3 tokenization: \(matched)/\(cases.count) strings match llama.cpp")
        XCTAssertEqual(t.encode("Hi").first, t.bosID, "Gemma asks for BOS")
    }

    /// Free-running greedy output equals llama.cpp's for ≥ 20 of 32 tokens on average. Both
    /// engines quantize activations to 8 bits (Gemma's outlier channels make that noisy), so
    /// they part at near-ties, and one near-tie decides a whole prompt: on this set the
    /// per-32 AVX2/VNNI kernels gave 24.5, the portable kernels 21.0, and the Q8_K K-quant
    /// kernels (llama.cpp's own activation format for these weights) 21.0, each parting at
    /// gaps under 0.35 logit. `testNextTokenAgreesGivenLlamaCppPrefix` is the steadier measure.
    func testGreedyAgreesWithLlamaCpp() throws {
        let m = try model()
        let gen = Generator(m, capacity: 512)
        var total = 0
        let cases = try lines("greedy.jsonl", as: GreedyCase.self)
        for c in cases {
            XCTAssertEqual(m.tokenizer.encode(c.prompt), c.prompt_ids, "prompt ids with BOS")
            let out = try gen.generate(prompt: c.prompt_ids, maxTokens: 32, sampling: .greedy, ignoreEOS: true)
            let agree = zip(out, c.greedy_ids).prefix { $0 == $1 }.count
            print("gemma3 greedy agreement \(agree)/32 for \(c.prompt.debugDescription)")
            total += agree
        }
        let mean = Double(total) / Double(max(cases.count, 1))
        print("gemma3 greedy agreement: mean \(mean) of 32 over \(cases.count) prompts")
        XCTAssertGreaterThanOrEqual(mean, 20)
    }

    /// Teacher-forced: given llama.cpp's own prefix at each step, our argmax is its token
    /// for ≥ 95% of the 32·prompts steps, and where not, its token is within 0.5 logit of ours.
    func testNextTokenAgreesGivenLlamaCppPrefix() throws {
        let m = try model()
        let gen = Generator(m, capacity: 512)
        let v = m.config.vocabSize
        var same = 0, steps = 0
        let cases = try lines("greedy.jsonl", as: GreedyCase.self)
        for c in cases {
            gen.reset()
            let logits = try gen.evaluate(c.prompt_ids + c.greedy_ids, all: true)  // [prompt + 32, vocab]
            for j in 0..<c.greedy_ids.count {
                let row = logits[((c.prompt_ids.count - 1 + j) * v)..<((c.prompt_ids.count + j) * v)]
                guard let best = row.indices.max(by: { row[$0] < row[$1] }) else { continue }
                let ref = row.startIndex + Int(c.greedy_ids[j])
                steps += 1
                if best == ref { same += 1 } else {
                    print("gemma3 step \(j) of \(c.prompt.debugDescription): ours \(best - row.startIndex), llama.cpp's \(c.greedy_ids[j]) lower by \(row[best] - row[ref])")
                    XCTAssertLessThan(row[best] - row[ref], 0.5, "a clear disagreement, not a near-tie")
                }
            }
        }
        print("gemma3 next-token agreement given llama.cpp's prefix: \(same)/\(steps)")
        XCTAssertGreaterThanOrEqual(Double(same), 0.95 * Double(steps))
    }
}
