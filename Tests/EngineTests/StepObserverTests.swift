import Foundation
import XCTest
@testable import Engine
import Kernels
import Model

/// The engine's per-step report (`EngineObserver.engineDidFinishStep`): one per forward pass
/// of the target model, none for a draft's, sizes and prompt tokens as computed, failed
/// passes marked.
final class StepObserverTests: XCTestCase {
    final class Recorder: EngineObserver, @unchecked Sendable {
        private let lock = NSLock()
        private var _steps: [StepTiming] = []
        private var _didStep: [Int] = []
        var steps: [StepTiming] { lock.withLock { _steps } }
        var didStep: [Int] { lock.withLock { _didStep } }
        func engineDidStep(batchTokens: Int, sequences: Int) { lock.withLock { _didStep.append(batchTokens) } }
        func requestDidStart(queueSeconds: Double) {}
        func engineDidFinishStep(_ step: StepTiming) { lock.withLock { _steps.append(step) } }
    }

    /// A model whose passes all throw.
    final class BrokenModel: BatchModel {
        let vocabSize = 11, contextLength = 4096
        func makeCacheStorage(tokens: Int, blockSize: Int, type: KVCacheType) -> KVCacheStorage {
            KVCacheStorage(layers: 1, kvDim: 1, blockSize: blockSize, blockCount: (tokens + blockSize - 1) / blockSize, type: .f32)
        }
        struct Broken: Error {}
        func forward(_ batch: [BatchSequence], cache: KVCacheStorage) throws -> [Float] { throw Broken() }
    }

    func testOneReportPerTargetPassWithItsPromptTokens() {
        let target = PatternModel(), draft = PatternModel(order: 2), recorder = Recorder()
        var c = EngineConfiguration(maxBatchTokens: 16, maxSequences: 8, cacheTokens: 4096, blockSize: 4,
                                    maxWaiting: 100, stepTargetSeconds: 0)
        c.speculation = SpeculationConfiguration(method: .draft, maxDepth: 3, maxBatchTokens: 64)
        let e = Engine(model: target, endOfGeneration: [], configuration: c, draft: draft, observer: recorder)
        // Prompts longer than a step: chunked over several passes.
        let reqs = (0..<4).map { i in
            GenerationRequest(id: "s\(i)", promptTokens: (0..<(10 + 7 * i)).map { Int32(($0 * 3 + i) % 11) }, maxTokens: 12)
        }
        _ = runAll(e, reqs)
        let steps = recorder.steps, snapshot = e.idleSnapshot()
        e.shutdown()
        // The target's passes, and only those (the draft ran too: its passes are not steps).
        XCTAssertFalse(draft.batchSizes.isEmpty)
        XCTAssertEqual(steps.map(\.tokens), target.batchSizes)
        XCTAssertEqual(recorder.didStep, target.batchSizes)
        XCTAssertEqual(steps.reduce(0) { $0 + $1.promptTokens }, snapshot.promptTokens)
        XCTAssertEqual(snapshot.promptTokens, reqs.reduce(0) { $0 + $1.promptTokens.count })
        XCTAssertTrue(steps.allSatisfy { !$0.failed && $0.seconds >= 0 && $0.promptTokens <= $0.tokens && $0.sequences >= 1 })
        // Once a pass of more than a few tokens was seen, every step has the pace's prediction.
        let firstLarge = steps.firstIndex { $0.tokens > 8 }!
        XCTAssertTrue(steps[(firstLarge + 1)...].allSatisfy { ($0.predictedSeconds ?? -1) >= 0 })
    }

    /// Steps of generating sequences alone (no prompt token, no proposal) are timed per sequence
    /// count for the short step target (`StepPace.decodeStep`); no other step is.
    func testDecodeOnlyStepsAreTimedPerCount() {
        let target = PatternModel(), recorder = Recorder()
        var c = EngineConfiguration(maxBatchTokens: 16, maxSequences: 8, cacheTokens: 4096, blockSize: 4,
                                    maxWaiting: 100, stepTargetSeconds: 0)
        c.speculation = SpeculationConfiguration(method: .draft, maxDepth: 3, maxBatchTokens: 64)
        let e = Engine(model: target, endOfGeneration: [], configuration: c, draft: PatternModel(order: 2), observer: recorder)
        let reqs = (0..<4).map { i in
            GenerationRequest(id: "d\(i)", promptTokens: (0..<(10 + 7 * i)).map { Int32(($0 * 3 + i) % 11) }, maxTokens: 12 + 3 * i)
        }
        _ = runAll(e, reqs)
        let steps = recorder.steps
        e.shutdown()
        let decodeOnly = Set(steps.filter { $0.promptTokens == 0 && $0.tokens == $0.sequences }.map(\.sequences))
        XCTAssertFalse(decodeOnly.isEmpty)
        XCTAssertTrue(steps.contains { $0.tokens > $0.sequences && $0.promptTokens == 0 }, "no step verified proposals")
        XCTAssertEqual(Set(e.scheduler.pace.decodeSteps.keys), decodeOnly)
        // Each count's average is of its own steps, in order (a proposal step's time would move it):
        // the decode-only steps the observer saw, folded into a fresh pace, give the same table.
        var expected = StepPace()
        for s in steps where s.promptTokens == 0 && s.tokens == s.sequences {
            expected.recordDecode(sequences: s.sequences, seconds: s.seconds)
        }
        for (k, v) in expected.decodeSteps { XCTAssertEqual(e.scheduler.pace.decodeSteps[k] ?? -1, v, accuracy: 1e-12, "\(k) sequences") }
    }

    /// Reads the engine's published stats when a pass begins.
    final class StatsReader: EngineObserver, @unchecked Sendable {
        private let lock = NSLock()
        weak var engine: Engine?
        private var _seen: [EngineStats] = []
        var seen: [EngineStats] { lock.withLock { _seen } }
        func engineDidStep(batchTokens: Int, sequences: Int) {
            if let s = engine?.snapshot() { lock.withLock { _seen.append(s) } }
        }
        func requestDidStart(queueSeconds: Double) {}
    }

    func testARequestCountsAsRunningDuringItsFirstPromptChunk() {
        let reader = StatsReader()
        let c = EngineConfiguration(maxBatchTokens: 8, maxSequences: 4, cacheTokens: 256, blockSize: 4, maxWaiting: 10, stepTargetSeconds: 0)
        let e = Engine(model: PatternModel(), endOfGeneration: [], configuration: c, observer: reader)
        reader.engine = e
        _ = runAll(e, [GenerationRequest(id: "r", promptTokens: (0..<20).map { Int32($0 % 11) }, maxTokens: 2)])
        e.shutdown()
        // The first pass computes the prompt's first 8 tokens: the request runs and holds its blocks.
        let first = reader.seen.first
        XCTAssertEqual(first?.running, 1)
        XCTAssertEqual(first?.waiting, 0)
        XCTAssertGreaterThanOrEqual(first?.usedBlocks ?? 0, 2)
        XCTAssertGreaterThan(first?.cacheUsage ?? 0, 0)
    }

    func testAFailedPassIsReportedAsFailed() {
        let recorder = Recorder()
        let c = EngineConfiguration(maxBatchTokens: 64, maxSequences: 4, cacheTokens: 256, blockSize: 4, maxWaiting: 10, stepTargetSeconds: 0)
        let e = Engine(model: BrokenModel(), endOfGeneration: [], configuration: c, observer: recorder)
        let cs = runAll(e, [GenerationRequest(id: "b", promptTokens: [1, 2, 3], maxTokens: 4)])
        e.shutdown()
        XCTAssertEqual(recorder.steps.count, 1)
        XCTAssertEqual(recorder.steps.first?.failed, true)
        XCTAssertEqual(recorder.steps.first?.tokens, 3)
        XCTAssertEqual(recorder.steps.first?.promptTokens, 0, "nothing was computed")
        guard case .error = cs.first?.wait() else { return XCTFail("the request ends with the pass's error") }
    }
}
