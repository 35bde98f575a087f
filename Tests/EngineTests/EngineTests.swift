import Foundation
import XCTest
@testable import Engine
import Model

/// Starts the engine, submits each request with a collector of its own, aborts `abort` (a
/// request id) if given, and waits for every request to end.
func runAll(_ e: Engine, _ reqs: [GenerationRequest], abort: String? = nil) -> [Collector] {
    e.start()
    let cs = reqs.map { _ in Collector() }
    for (r, c) in zip(reqs, cs) { XCTAssertNoThrow(try e.submit(r, sink: c.sink)) }
    if let abort { e.abort(abort) }
    for c in cs { XCTAssertNotNil(c.wait()) }
    return cs
}

/// Collects one request's events; waits for the end.
final class Collector: @unchecked Sendable {
    private let cond = NSCondition()
    private(set) var tokens: [Int32] = []
    private(set) var logprobs: [TokenLogprob?] = []
    private(set) var finish: FinishReason?
    private(set) var cached = 0
    private(set) var promptScores: [TokenLogprob?]?
    private(set) var speculation = SpeculationUsage.none

    var sink: GenerationSink {
        { [self] e in
            cond.lock()
            switch e {
            case let .token(t, lp, _, _): tokens.append(t); logprobs.append(lp)
            case let .finished(r, _, _, c, s): finish = r; cached = c; speculation = s
            case let .promptLogprobs(p): promptScores = p
            }
            cond.broadcast()
            cond.unlock()
        }
    }

    func wait(timeout: TimeInterval = 30) -> FinishReason? {
        cond.lock()
        defer { cond.unlock() }
        let deadline = Date().addingTimeInterval(timeout)
        while finish == nil && cond.wait(until: deadline) {}
        return finish
    }
}

extension Engine {
    /// The published snapshot once the engine has nothing left (it lags the sinks by one step).
    func idleSnapshot(timeout: TimeInterval = 5) -> EngineStats {
        let deadline = Date().addingTimeInterval(timeout)
        var s = snapshot()
        while (s.usedBlocks > 0 || s.running > 0 || s.waiting > 0) && Date() < deadline {
            usleep(1000)
            s = snapshot()
        }
        return s
    }
}

final class EngineTests: XCTestCase {
    func expected(_ prompt: [Int32], _ n: Int, vocab: Int = 97) -> [Int32] {
        var h = prompt, out: [Int32] = []
        for _ in 0..<n { let t = FakeModel.next(after: h, vocab: vocab); out.append(t); h.append(t) }
        return out
    }

    func prompt(_ seed: Int, _ len: Int) -> [Int32] { (0..<len).map { Int32(($0 * 31 + seed * 17) % 90 + 3) } }

    func testManySequencesMatchOracle() {
        let engine = Engine(model: FakeModel(), endOfGeneration: [],
                            configuration: .init(maxBatchTokens: 64, maxSequences: 8, cacheTokens: 4096, blockSize: 16))
        let reqs = (0..<20).map { GenerationRequest(id: "r\($0)", promptTokens: prompt($0, 10 + $0 * 7), maxTokens: 25) }
        let cs = runAll(engine, reqs)
        for (r, c) in zip(reqs, cs) {
            XCTAssertEqual(c.tokens, expected(r.promptTokens, 25), r.id)
            XCTAssertEqual(c.finish, .length)
        }
        engine.shutdown()
    }

    func testPreemptionKeepsOutputsUnchanged() {
        // 6 blocks of 8 tokens: three sequences of 20 + 20 tokens cannot all fit.
        let engine = Engine(model: FakeModel(), endOfGeneration: [],
                            configuration: .init(maxBatchTokens: 32, maxSequences: 8, cacheTokens: 48, blockSize: 8))
        let reqs = (0..<3).map { GenerationRequest(id: "p\($0)", promptTokens: prompt($0, 20), maxTokens: 20) }
        let cs = runAll(engine, reqs)
        for (r, c) in zip(reqs, cs) { XCTAssertEqual(c.tokens, expected(r.promptTokens, 20), r.id) }
        XCTAssertGreaterThan(engine.snapshot().preemptions, 0)
        XCTAssertEqual(engine.idleSnapshot().usedBlocks, 0)
        engine.shutdown()
    }

    func testPrefixCacheSharesBlocks() {
        let engine = Engine(model: FakeModel(), endOfGeneration: [],
                            configuration: .init(maxBatchTokens: 256, maxSequences: 8, cacheTokens: 1024, blockSize: 16))
        let shared = prompt(1, 64)
        let first = runAll(engine, [GenerationRequest(id: "a", promptTokens: shared + [5, 6], maxTokens: 4)])
        let second = runAll(engine, [GenerationRequest(id: "b", promptTokens: shared + [7, 8, 9], maxTokens: 4)])
        XCTAssertEqual(first[0].tokens, expected(shared + [5, 6], 4))
        XCTAssertEqual(second[0].tokens, expected(shared + [7, 8, 9], 4))
        XCTAssertEqual(second[0].cached, 64)
        XCTAssertEqual(engine.snapshot().prefixHits, 4)
        engine.shutdown()
    }

    func testStopTokenAndAbort() {
        let engine = Engine(model: FakeModel(), endOfGeneration: [], configuration: .init(cacheTokens: 1024))
        let p = prompt(3, 12)
        let exp = expected(p, 10)
        let stop = GenerationRequest(id: "s", promptTokens: p, maxTokens: 10, stopTokenIDs: [exp[4]])
        let c = runAll(engine, [stop])[0]
        let firstStop = exp.firstIndex(of: exp[4])!
        XCTAssertEqual(c.tokens, Array(exp.prefix(firstStop)))
        XCTAssertEqual(c.finish, .stop)

        let long = Collector()
        XCTAssertNoThrow(try engine.submit(GenerationRequest(id: "long", promptTokens: p, maxTokens: 900), sink: long.sink))
        engine.abort("long")
        XCTAssertEqual(long.wait(), .aborted)
        XCTAssertLessThan(long.tokens.count, 900)
        engine.shutdown()
    }

    func testRefusesWhatCannotFit() {
        let engine = Engine(model: FakeModel(context: 100), endOfGeneration: [], configuration: .init(cacheTokens: 64, blockSize: 16))
        XCTAssertThrowsError(try engine.submit(GenerationRequest(id: "x", promptTokens: prompt(0, 90), maxTokens: 20), sink: { _ in })) {
            // Over both limits: the smaller one (the cache) is named.
            XCTAssertEqual($0 as? SubmissionError, .cacheTooSmall(prompt: 90, needed: 110, capacity: 64))
        }
        let roomy = Engine(model: FakeModel(context: 100), endOfGeneration: [], configuration: .init(cacheTokens: 1024, blockSize: 16))
        XCTAssertThrowsError(try roomy.submit(GenerationRequest(id: "x", promptTokens: prompt(0, 90), maxTokens: 20), sink: { _ in })) {
            XCTAssertEqual($0 as? SubmissionError, .contextExceeded(prompt: 90, maxTokens: 20, context: 100))
        }
        roomy.shutdown()
        XCTAssertThrowsError(try engine.submit(GenerationRequest(id: "y", promptTokens: prompt(0, 60), maxTokens: 20), sink: { _ in })) {
            XCTAssertEqual($0 as? SubmissionError, .cacheTooSmall(prompt: 60, needed: 80, capacity: 64))
        }
        XCTAssertThrowsError(try engine.submit(GenerationRequest(id: "z", promptTokens: [], maxTokens: 2), sink: { _ in }))
        XCTAssertThrowsError(try engine.submit(GenerationRequest(id: "w", promptTokens: [500], maxTokens: 2), sink: { _ in }))
    }

    func testLogprobsAreOfTheModelsRowWhileSamplingChangesItInPlace() {
        // FakeModel's row: 10 at the oracle's token, 0 elsewhere. A bias makes token 7 win every
        // time; its reported log-probability must still be the model's, not the biased one.
        let engine = Engine(model: FakeModel(), endOfGeneration: [], configuration: .init(cacheTokens: 1024))
        let p = prompt(4, 9)
        var r = GenerationRequest(id: "lp", promptTokens: p, sampling: SamplingParameters(temperature: 0, logitBias: [7: 20]),
                                  maxTokens: 6, logprobs: 1)
        r.ignoreEOS = true
        let c = runAll(engine, [r])[0]
        XCTAssertEqual(c.tokens, Array(repeating: 7, count: 6))
        let lse = 10 + log(1 + 96 * exp(-10.0))
        var history = p
        for lp in c.logprobs {
            let oracle = FakeModel.next(after: history, vocab: 97)
            XCTAssertEqual(Double(lp?.logprob ?? 0), (oracle == 7 ? 10 : 0) - lse, accuracy: 1e-3)
            XCTAssertEqual(lp?.top.first?.token, oracle)
            history.append(7)
        }
        XCTAssertEqual(c.logprobs.count, 6)
        engine.shutdown()
    }

    func testStepTimerCountsForwardPassesWithinBusyTime() {
        let engine = Engine(model: FakeModel(), endOfGeneration: [], configuration: .init(cacheTokens: 1024))
        XCTAssertEqual(engine.snapshot().forwardSeconds, 0)
        _ = runAll(engine, (0..<4).map { GenerationRequest(id: "t\($0)", promptTokens: prompt($0, 20), maxTokens: 8) })
        let s = engine.idleSnapshot()
        XCTAssertGreaterThan(s.forwardSeconds, 0)
        XCTAssertGreaterThanOrEqual(s.busySeconds, s.forwardSeconds, "forward passes happen inside the busy time")
        engine.shutdown()
    }

    func testTokenBudgetRespected() {
        let model = FakeModel()
        let engine = Engine(model: model, endOfGeneration: [],
                            configuration: .init(maxBatchTokens: 40, maxSequences: 4, cacheTokens: 2048))
        let reqs = (0..<6).map { GenerationRequest(id: "b\($0)", promptTokens: prompt($0, 100), maxTokens: 5) }
        let cs = runAll(engine, reqs)
        for (r, c) in zip(reqs, cs) { XCTAssertEqual(c.tokens, expected(r.promptTokens, 5)) }
        engine.shutdown()
        XCTAssertLessThanOrEqual(model.batchSizes.max() ?? 0, 40)
    }
}

final class EngineLifecycleTests: XCTestCase {
    func prompt(_ seed: Int, _ len: Int) -> [Int32] { (0..<len).map { Int32(($0 * 13 + seed * 7) % 90 + 3) } }

    func testAbortAtEveryStageFreesBlocks() {
        // Batch budget 8 makes a 40-token prompt take five steps of prefill.
        let engine = Engine(model: FakeModel(), endOfGeneration: [],
                            configuration: .init(maxBatchTokens: 8, maxSequences: 1, cacheTokens: 4096, blockSize: 8))
        engine.start()
        let running = Collector(), waiting = Collector(), prefilling = Collector()
        XCTAssertNoThrow(try engine.submit(GenerationRequest(id: "run", promptTokens: prompt(1, 4), maxTokens: 4000), sink: running.sink))
        XCTAssertNoThrow(try engine.submit(GenerationRequest(id: "wait", promptTokens: prompt(2, 40), maxTokens: 50), sink: waiting.sink))
        // "wait" cannot start while "run" holds the only sequence slot.
        engine.abort("wait")
        XCTAssertEqual(waiting.wait(), .aborted)
        XCTAssertTrue(waiting.tokens.isEmpty)
        engine.abort("run")
        XCTAssertEqual(running.wait(), .aborted)
        // Long enough that the abort always lands first, whatever the scheduler does meanwhile.
        XCTAssertNoThrow(try engine.submit(GenerationRequest(id: "pre", promptTokens: prompt(3, 200), maxTokens: 3000), sink: prefilling.sink))
        engine.abort("pre")
        XCTAssertEqual(prefilling.wait(), .aborted)
        XCTAssertEqual(engine.idleSnapshot().usedBlocks, 0)
        XCTAssertEqual(engine.snapshot().running, 0)
        XCTAssertEqual(engine.snapshot().waiting, 0)
        engine.shutdown()
    }

    func testNoStarvationUnderPressure() {
        // 12 blocks of 8 tokens for 10 requests of 30 + 30 tokens: most must wait or be preempted.
        let engine = Engine(model: FakeModel(), endOfGeneration: [],
                            configuration: .init(maxBatchTokens: 16, maxSequences: 4, cacheTokens: 96, blockSize: 8))
        engine.start()
        let cs = (0..<10).map { _ in Collector() }
        for (i, c) in cs.enumerated() {
            XCTAssertNoThrow(try engine.submit(GenerationRequest(id: "s\(i)", promptTokens: prompt(i, 30), maxTokens: 30), sink: c.sink))
        }
        for c in cs { XCTAssertEqual(c.wait(timeout: 60), .length) }
        for c in cs { XCTAssertEqual(c.tokens.count, 30) }
        XCTAssertEqual(engine.idleSnapshot().usedBlocks, 0)
        engine.shutdown()
    }

    func testBlocksReturnedAfterEveryKindOfEnd() {
        let engine = Engine(model: FakeModel(), endOfGeneration: [5],
                            configuration: .init(maxBatchTokens: 64, maxSequences: 8, cacheTokens: 512, blockSize: 4))
        engine.start()
        var cs: [Collector] = []
        for i in 0..<24 {
            let c = Collector()
            cs.append(c)
            let r = GenerationRequest(id: "e\(i)", promptTokens: prompt(i, 5 + i), maxTokens: 3 + i % 7, stopTokenIDs: i % 3 == 0 ? [7, 9] : [])
            XCTAssertNoThrow(try engine.submit(r, sink: c.sink))
            if i % 4 == 0 { engine.abort("e\(i)") }
        }
        for c in cs { XCTAssertNotNil(c.wait()) }
        XCTAssertEqual(engine.idleSnapshot().usedBlocks, 0)
        engine.shutdown()
    }
}

final class EngineSharingTests: XCTestCase {
    func testChoicesOfOneRequestShareThePromptBlocks() {
        let engine = Engine(model: FakeModel(), endOfGeneration: [],
                            configuration: .init(maxBatchTokens: 256, maxSequences: 8, cacheTokens: 1024, blockSize: 8))
        engine.start()
        let p: [Int32] = (0..<40).map { Int32($0 % 50 + 3) }
        let cs = (0..<3).map { _ in Collector() }
        for (i, c) in cs.enumerated() {
            var r = GenerationRequest(id: "n\(i)", promptTokens: p, maxTokens: 6)
            r.shareGroup = "call-1"
            XCTAssertNoThrow(try engine.submit(r, sink: c.sink))
        }
        var h = p, want: [Int32] = []
        for _ in 0..<6 { let t = FakeModel.next(after: h, vocab: 97); want.append(t); h.append(t) }
        for c in cs {
            XCTAssertEqual(c.wait(), .length)
            XCTAssertEqual(c.tokens, want)
        }
        // The two followers found the leader's 4 full prompt blocks (the last token is always computed).
        XCTAssertEqual(engine.idleSnapshot().prefixHits, 8)
        XCTAssertEqual(cs[1].cached, 32)
        engine.shutdown()
    }

    func testChoicesScoringOnePromptComputeItOnce() {
        // completions `echo` + `logprobs` with n > 1: the first choice scores the prompt, the
        // others take its scores and its blocks (they computed every position again).
        let engine = Engine(model: FakeModel(), endOfGeneration: [],
                            configuration: .init(maxBatchTokens: 256, maxSequences: 8, cacheTokens: 1024, blockSize: 8))
        engine.start()
        let p: [Int32] = (0..<40).map { Int32($0 % 50 + 3) }
        let share = SharedPromptLogprobs()
        let cs = (0..<3).map { _ in Collector() }
        for (i, c) in cs.enumerated() {
            var r = GenerationRequest(id: "s\(i)", promptTokens: p, maxTokens: 4, promptLogprobs: 2)
            r.shareGroup = "call-2"
            r.promptLogprobsShare = share
            XCTAssertNoThrow(try engine.submit(r, sink: c.sink))
        }
        for c in cs { XCTAssertEqual(c.wait(), .length) }
        let lead = cs[0].promptScores
        XCTAssertEqual(lead?.count, p.count)  // nil for the first token, then one per token after it
        XCTAssertNil(lead?.first ?? nil)
        XCTAssertEqual(lead?.last??.token, p.last)
        XCTAssertEqual(lead?.last??.top.count, 2)
        for c in cs.dropFirst() {
            XCTAssertEqual(c.promptScores, lead)
            XCTAssertEqual(c.tokens, cs[0].tokens)
            XCTAssertEqual(c.cached, 32)
        }
        XCTAssertEqual(engine.idleSnapshot().prefixHits, 8)
        engine.shutdown()
    }
}
