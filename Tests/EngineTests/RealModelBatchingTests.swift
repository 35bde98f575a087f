import Foundation
import XCTest
import Engine
import Model

/// With the real default model: greedy output does not change with batch size
/// or with other requests running (each of 16 concurrent requests gets exactly
/// the tokens it gets alone).
final class RealModelBatchingTests: XCTestCase {
    func testSixteenConcurrentRequestsMatchRunningAlone() throws {
        let dir = ProcessInfo.processInfo.environment["JETON_MODELS"] ?? (NSHomeDirectory() + "/.cache/jeton/models")
        let path = dir + "/SmolLM2-135M-Instruct.Q4_1.gguf"
        guard FileManager.default.fileExists(atPath: path) else {
            return XCTFail("default model missing at \(path): run `jeton pull default` first")
        }
        let loaded = try LoadedModel(path: path, threads: ProcessInfo.processInfo.activeProcessorCount)
        let t = loaded.tokenizer
        let texts = (0..<16).map { i in
            String(repeating: "Item \(i): the quick brown fox. ", count: 1 + i % 3) + "Next,"
        }
        let prompts = texts.map { t.encode($0, addSpecial: true, parseSpecial: true) }
        let lengths = (0..<16).map { 4 + ($0 * 3) % 9 }

        let gen = Generator(loaded, capacity: 512)
        let alone = try zip(prompts, lengths).map { p, n in
            try gen.generate(prompt: p, maxTokens: n, sampling: .greedy, ignoreEOS: true)
        }

        let engine = Engine(model: loaded.model, endOfGeneration: t.endOfGenerationIDs,
                            configuration: .init(maxBatchTokens: 96, maxSequences: 16, cacheTokens: 4096))
        engine.start()
        let cs = prompts.map { _ in Collector() }
        for (i, p) in prompts.enumerated() {
            try engine.submit(GenerationRequest(id: "q\(i)", promptTokens: p, maxTokens: lengths[i], ignoreEOS: true), sink: cs[i].sink)
        }
        for (i, c) in cs.enumerated() {
            XCTAssertEqual(c.wait(timeout: 300), .length)
            XCTAssertEqual(c.tokens, alone[i], "request \(i) differs when batched")
        }
        XCTAssertGreaterThan(engine.snapshot().steps, 0)
        XCTAssertEqual(engine.idleSnapshot().usedBlocks, 0)
        engine.shutdown()
    }
}
