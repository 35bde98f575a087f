import Foundation
import XCTest
import Engine
import Kernels
import Model

/// Gemma 3 270M through the engine, past its 512-token window: each request's greedy output
/// equals the single-sequence unbounded layout's (every position kept in every layer), while
/// the engine's sliding layers hold only a ring per sequence.
final class RealGemmaSlidingWindowTests: XCTestCase {
    func testGenerationBeyondTheWindowMatchesUnboundedLayout() throws {
        let dir = ProcessInfo.processInfo.environment["JETON_MODELS"] ?? (NSHomeDirectory() + "/.cache/jeton/models")
        let path = dir + "/gemma-3-270m-q4_k_m.gguf"
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("Gemma 3 270M is not downloaded (\(path)): run `jeton pull gemma3-270m` to enable this test")
        }
        let loaded = try LoadedModel(path: path, threads: ProcessInfo.processInfo.activeProcessorCount)
        let t = loaded.tokenizer
        var text = ""
        for i in 0..<60 { text += "Note \(i): the lighthouse keeper wrote down the ships that passed at night. " }
        let long = Array(t.encode(text, addSpecial: true).prefix(600))
        let short = Array(t.encode("The capital of France is", addSpecial: true))
        let prompts = [long, short], lengths = [24, 12]

        let gen = Generator(loaded, capacity: 700, chunkSize: 64, boundedWindow: false)
        let alone = try zip(prompts, lengths).map { p, n in
            try gen.generate(prompt: p, maxTokens: n, sampling: .greedy, ignoreEOS: true)
        }

        let config = EngineConfiguration(maxBatchTokens: 64, maxSequences: 4, cacheTokens: 4096, blockSize: 16)
        let engine = Engine(model: loaded.model, endOfGeneration: t.endOfGenerationIDs, configuration: config)
        // Sliding layers: 4 sequences' rings of (511 + 64 + 15) / 16 + 1 = 37 blocks, not the 4,096 tokens.
        let c = loaded.config, perLayerToken = 2 * c.kvDim * KVCacheType.f16.elementBytes
        let globals = c.slidingLayers.filter { !$0 }.count
        XCTAssertEqual(engine.snapshot().cacheBytes, (globals * 4096 + (c.layers - globals) * 4 * 37 * 16) * perLayerToken)
        engine.start()
        let cs = prompts.map { _ in Collector() }
        for (i, p) in prompts.enumerated() {
            try engine.submit(GenerationRequest(id: "g\(i)", promptTokens: p, maxTokens: lengths[i], ignoreEOS: true), sink: cs[i].sink)
        }
        for (i, col) in cs.enumerated() {
            XCTAssertEqual(col.wait(timeout: 600), .length)
            XCTAssertEqual(col.tokens, alone[i], "request \(i) differs from the unbounded layout")
        }
        let idle = engine.idleSnapshot()
        XCTAssertEqual(idle.usedBlocks, 0)
        XCTAssertEqual(idle.usedCacheBytes, 0, "rings are returned to the pool")
        engine.shutdown()
    }
}
