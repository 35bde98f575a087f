import Engine
import Foundation
import Model
import XCTest
@testable import Jeton

/// The server checks a KV cache against the memory left before the engine writes it: the size it
/// checks must be the size the engine allocates, sliding-window layers (Gemma 3) included.
final class CacheSizingTests: XCTestCase {
    func model(_ file: String, _ name: String) throws -> LoadedModel {
        let dir = ProcessInfo.processInfo.environment["JETON_MODELS"] ?? (NSHomeDirectory() + "/.cache/jeton/models")
        let path = dir + "/" + file
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("\(file) is not downloaded: run `jeton pull \(name)` to enable this test")
        }
        return try LoadedModel(path: path, threads: 1)
    }

    func check(_ loaded: LoadedModel, cacheTokens: Int, maxSequences: Int, maxBatchTokens: Int, _ what: String) {
        let config = EngineConfiguration(maxBatchTokens: maxBatchTokens, maxSequences: maxSequences, cacheTokens: cacheTokens, blockSize: 16)
        let engine = Engine(model: loaded.model, endOfGeneration: loaded.tokenizer.endOfGenerationIDs, configuration: config)
        XCTAssertEqual(MemoryBudget.cacheBytes(loaded.config, window: loaded.model.slidingWindow, config), engine.snapshot().cacheBytes,
                       "\(what): \(cacheTokens) tokens, \(maxSequences) sequences")
    }

    func testGemmaSlidingLayersAreSizedAsTheEngineSizesThem() throws {
        let gemma = try model("gemma-3-270m-q4_k_m.gguf", "gemma3-270m")
        XCTAssertNotNil(gemma.model.slidingWindow)
        // Rings smaller than the pool, a pool capped by the cache, and a single sequence.
        for (tokens, sequences, chunk) in [(8192, 4, 512), (1024, 16, 512), (4096, 1, 64)] {
            check(gemma, cacheTokens: tokens, maxSequences: sequences, maxBatchTokens: chunk, "Gemma 3")
        }
        // Counting every layer as global (what the check did before) overstates it.
        let config = EngineConfiguration(maxBatchTokens: 512, maxSequences: 4, cacheTokens: 16384, blockSize: 16)
        XCTAssertLessThan(MemoryBudget.cacheBytes(gemma.config, window: gemma.model.slidingWindow, config),
                          MemoryBudget.cacheBytes(gemma.config, window: nil, config) / 2)
    }

    func testGlobalModelAndDraftCache() throws {
        let smol = try model("SmolLM2-135M-Instruct.Q4_1.gguf", "default")
        XCTAssertNil(smol.model.slidingWindow)
        check(smol, cacheTokens: 2048, maxSequences: 8, maxBatchTokens: 512, "SmolLM2")
        // A draft model's cache keeps every position in every layer.
        let config = EngineConfiguration(maxBatchTokens: 512, maxSequences: 8, cacheTokens: 2048, blockSize: 16)
        XCTAssertEqual(MemoryBudget.cacheBytes(smol.config, window: nil, config),
                       smol.model.makeCacheStorage(tokens: 2048, blockSize: 16, type: .f16).bytes)
    }
}
