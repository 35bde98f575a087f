import Foundation
import XCTest
@testable import Engine
import Model

/// With the real default model: greedy tokens with prompt-lookup speculation are exactly those
/// without, on 20 prompts: repetitive ones (proposals accepted) and plain ones (mostly rejected).
/// A draft model that is the same model again must have every greedy proposal accepted, and one
/// read as Q4_0 copies must leave the tokens the target's.
final class RealModelSpeculationTests: XCTestCase {
    static let texts: [String] = {
        let repetitive = [
            "Copy this list exactly: apple, banana, cherry, apple, banana, cherry, apple, banana,",
            "def add(a, b):\n    return a + b\n\ndef add(a, b):\n    return a + b\n\ndef add(",
            "1 2 3 4 5 1 2 3 4 5 1 2 3 4 5 1 2",
            "The cat sat on the mat. The cat sat on the mat. The cat sat on the",
            "Rewrite with x renamed to y:\nfor x in range(10):\n    print(x * x)\nAnswer:\nfor y in range(10):\n",
            "<li>one</li><li>two</li><li>three</li><li>one</li><li>two</li>",
            "SELECT name FROM users; SELECT name FROM users; SELECT name FROM",
            "a b c d e f g a b c d e f g a b c",
            "Hello world! Hello world! Hello world! Hello",
            "red green blue red green blue red green blue red",
        ]
        let plain = [
            "The capital of France is", "Once upon a time,", "What is 2 + 2?", "Write a haiku about rain.",
            "import numpy as np\n", "The best way to learn Swift is", "List three colors:", "Q: Why is the sky blue?\nA:",
            "In 1492,", "def fibonacci(n):",
        ]
        return repetitive + plain
    }()

    func testGreedyTokensAreUnchangedByPromptLookupAndBySameModelDrafts() throws {
        let dir = ProcessInfo.processInfo.environment["JETON_MODELS"] ?? (NSHomeDirectory() + "/.cache/jeton/models")
        let path = dir + "/SmolLM2-135M-Instruct.Q4_1.gguf"
        guard FileManager.default.fileExists(atPath: path) else {
            return XCTFail("default model missing at \(path): run `jeton pull default` first")
        }
        let loaded = try LoadedModel(path: path, threads: ProcessInfo.processInfo.activeProcessorCount)
        let t = loaded.tokenizer
        let prompts = Self.texts.map { t.encode($0, addSpecial: true, parseSpecial: true) }

        func generate(_ method: SpeculationConfiguration.Method, draft: BatchModel? = nil) throws -> ([[Int32]], EngineStats) {
            var c = EngineConfiguration(maxBatchTokens: 256, maxSequences: 4, cacheTokens: 4096)
            c.speculation = SpeculationConfiguration(method: method, maxDepth: 6, maxBatchTokens: 16)
            c.speculation.lookupFirst = false  // the draft's own proposals are under test
            let e = Engine(model: loaded.model, endOfGeneration: t.endOfGenerationIDs, configuration: c, draft: draft)
            // A draft with the target's weights costs a target pass, so the rule would stop it:
            // the costs of a real 3x smaller draft are given instead.
            e.scheduler.speculationCost = .measuredLike
            e.start()
            let cs = prompts.map { _ in Collector() }
            for (i, p) in prompts.enumerated() {
                try e.submit(GenerationRequest(id: "q\(i)", promptTokens: p, maxTokens: 24, ignoreEOS: true), sink: cs[i].sink)
            }
            for c in cs { XCTAssertEqual(c.wait(timeout: 600), .length) }
            let s = e.idleSnapshot()
            XCTAssertEqual(s.usedBlocks, 0)
            e.shutdown()
            return (cs.map(\.tokens), s)
        }
        let (plain, _) = try generate(.off)
        let (ngram, ns) = try generate(.ngram)
        for i in prompts.indices { XCTAssertEqual(ngram[i], plain[i], "prompt \(i) differs with prompt lookup: \(Self.texts[i])") }
        XCTAssertGreaterThan(ns.speculativeAccepted, 20, "repetitive prompts should have proposals accepted")
        XCTAssertLessThan(ns.speculativeAccepted, ns.speculativeProposed, "plain prompts should have some rejected")
        XCTAssertLessThan(ns.steps, 20 * 24, "accepted proposals save steps")

        let twin = try LoadedModel(path: path, threads: ProcessInfo.processInfo.activeProcessorCount)
        let (drafted, ds) = try generate(.draft, draft: twin.model)
        for i in prompts.indices { XCTAssertEqual(drafted[i], plain[i], "prompt \(i) differs with a draft model") }
        XCTAssertGreaterThan(ds.speculativeProposed, 100)
        // The same weights: proposals are the target's argmax, except where batching changes a
        // near-tie's rounding; almost all stand.
        XCTAssertGreaterThan(Double(ds.speculativeAccepted), 0.9 * Double(ds.speculativeProposed))

        // The twin scoring its first 4,096 tokens and each sequence's own (the rest -infinity):
        // the text is still the target's, and the proposals that miss are those whose token is
        // neither.
        let partial = try LoadedModel(path: path, threads: ProcessInfo.processInfo.activeProcessorCount, logitRows: 4096)
        let (narrow, vs) = try generate(.draft, draft: partial.model)
        for i in prompts.indices { XCTAssertEqual(narrow[i], plain[i], "prompt \(i) differs with a smaller draft vocabulary") }
        XCTAssertGreaterThan(vs.speculativeProposed, 100)
        XCTAssertGreaterThan(Double(vs.speculativeAccepted), 0.9 * Double(vs.speculativeProposed))

        // The twin read as Q4_0 copies (a draft's default `speculative.draft_quantization`): its
        // proposals are another model's now, and the text is still exactly the target's.
        let shrunk = try LoadedModel(path: path, threads: ProcessInfo.processInfo.activeProcessorCount, logitRows: 4096, shrink: true)
        let (q4, qs) = try generate(.draft, draft: shrunk.model)
        for i in prompts.indices { XCTAssertEqual(q4[i], plain[i], "prompt \(i) differs with a Q4_0 draft") }
        XCTAssertGreaterThan(qs.speculativeProposed, 100)
        XCTAssertGreaterThan(Double(qs.speculativeAccepted), 0.6 * Double(qs.speculativeProposed))
    }
}
