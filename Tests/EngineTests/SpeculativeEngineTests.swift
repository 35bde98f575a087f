import Foundation
import XCTest
@testable import Engine
import Model

/// Prompt-lookup speculation through the engine, with a model whose output cycles (so
/// proposals are accepted) and whose shorter n-grams mislead (so some are rejected): the
/// tokens must be exactly those of the same engine without speculation.
final class SpeculativeEngineTests: XCTestCase {
    func engine(_ model: BatchModel, speculation: SpeculationConfiguration.Method, cacheTokens: Int = 4096,
                maxBatchTokens: Int = 64, maxSequences: Int = 8, blockSize: Int = 4, depth: Int = 8) -> Engine {
        var c = EngineConfiguration(maxBatchTokens: maxBatchTokens, maxSequences: maxSequences, cacheTokens: cacheTokens,
                                    blockSize: blockSize, stepTargetSeconds: 0)
        c.speculation = SpeculationConfiguration(method: speculation, maxDepth: depth, maxBatchTokens: 32)
        let e = Engine(model: model, endOfGeneration: [], configuration: c)
        e.scheduler.speculationCost = .measuredLike
        return e
    }

    func prompts(_ n: Int, vocab: Int = 11) -> [[Int32]] {
        (0..<n).map { i in (0..<(5 + i * 3)).map { Int32(($0 * 5 + i * 3 + $0 / 3) % vocab) } }
    }

    func requests(_ ps: [[Int32]], sampling: (Int) -> SamplingParameters = { _ in .greedy }, maxTokens: Int = 60)
        -> [GenerationRequest] {
        ps.enumerated().map { i, p in GenerationRequest(id: "r\(i)", promptTokens: p, sampling: sampling(i), maxTokens: maxTokens) }
    }

    /// Tokens with and without speculation, and the speculating engine's final stats.
    func compare(_ reqs: [GenerationRequest], model: () -> BatchModel = { PatternModel() }, cacheTokens: Int = 4096,
                 maxSequences: Int = 8, file: StaticString = #filePath, line: UInt = #line) -> EngineStats {
        let plain = engine(model(), speculation: .off, cacheTokens: cacheTokens, maxSequences: maxSequences)
        let spec = engine(model(), speculation: .ngram, cacheTokens: cacheTokens, maxSequences: maxSequences)
        let a = runAll(plain, reqs), b = runAll(spec, reqs)
        for (i, (x, y)) in zip(a, b).enumerated() {
            XCTAssertEqual(x.tokens, y.tokens, "request \(i) differs with speculation", file: file, line: line)
            XCTAssertEqual(x.finish, y.finish, file: file, line: line)
        }
        XCTAssertEqual(plain.idleSnapshot().speculativeProposed, 0, file: file, line: line)
        let s = spec.idleSnapshot()
        XCTAssertEqual(s.usedBlocks, 0, "blocks left after the requests ended", file: file, line: line)
        plain.shutdown()
        spec.shutdown()
        return s
    }

    func testGreedyTokensAreThoseWithoutSpeculation() {
        let reqs = requests(prompts(6))
        let s = compare(reqs)
        XCTAssertGreaterThan(s.speculativeAccepted, 0, "the cycles were never proposed")
        XCTAssertLessThan(s.speculativeAccepted, s.speculativeProposed, "nothing was rejected: the test misses rollback")
        // Accepted tokens take no step of their own.
        XCTAssertEqual(s.generatedTokens, 6 * 60)
    }

    func testGreedyMatchesTheOracleOneRequestAtATime() {
        let p = prompts(1)[0]
        let e = engine(PatternModel(), speculation: .ngram)
        let c = runAll(e, [GenerationRequest(id: "x", promptTokens: p, maxTokens: 80)])[0]
        var h = p, want: [Int32] = []
        for _ in 0..<80 { let t = PatternModel.next(after: h.suffix(3), vocab: 11); want.append(t); h.append(t) }
        XCTAssertEqual(c.tokens, want)
        let s = e.idleSnapshot()
        XCTAssertGreaterThan(s.speculativeAccepted, 40)
        XCTAssertLessThan(s.steps, 50, "accepted proposals should save steps")
        e.shutdown()
    }

    func testSeededSamplingDrawsTheSameTokensWithPenaltiesAndBias() {
        // One draw of the request's random stream per emitted token, with or without proposals:
        // a seed gives the same tokens at any temperature.
        let reqs = requests(prompts(5), sampling: { i in
            SamplingParameters(temperature: [0.3, 0.7, 1.0, 1.3, 0.5][i], topK: [0, 4, 0, 0, 3][i], topP: [1, 1, 0.9, 1, 1][i],
                               minP: [0, 0, 0, 0.2, 0][i], repetitionPenalty: [1, 1, 1, 1, 1.1][i],
                               presencePenalty: [0, 0.2, 0, 0, 0][i], frequencyPenalty: [0, 0, 0.1, 0, 0][i],
                               logitBias: i == 1 ? [3: 0.5] : [:], seed: UInt64(100 + i))
        })
        let s = compare(reqs)
        XCTAssertGreaterThan(s.speculativeAccepted, 0)
    }

    func testPreemptionUnderSpeculationKeepsTokensAndFreesEverything() {
        // 24 blocks of 4 tokens for 8 sequences of up to 66 tokens: they preempt each other.
        let reqs = requests(prompts(8))
        let plain = engine(PatternModel(), speculation: .off)
        let spec = engine(PatternModel(), speculation: .ngram, cacheTokens: 96)
        let a = runAll(plain, reqs), b = runAll(spec, reqs)
        for (x, y) in zip(a, b) { XCTAssertEqual(x.tokens, y.tokens) }
        let s = spec.idleSnapshot()
        XCTAssertGreaterThan(s.preemptions, 0, "the cache was large enough: no preemption tested")
        XCTAssertGreaterThan(s.speculativeAccepted, 0)
        XCTAssertEqual(s.usedBlocks, 0)
        plain.shutdown()
        spec.shutdown()
    }

    func testCancellationWhileSpeculatingFreesBlocks() {
        let e = engine(PatternModel(), speculation: .ngram)
        e.start()
        let c = Collector(), other = Collector()
        XCTAssertNoThrow(try e.submit(GenerationRequest(id: "long", promptTokens: prompts(1)[0], maxTokens: 3000), sink: c.sink))
        XCTAssertNoThrow(try e.submit(GenerationRequest(id: "short", promptTokens: prompts(2)[1], maxTokens: 50), sink: other.sink))
        XCTAssertEqual(other.wait(), .length)
        e.abort("long")
        XCTAssertEqual(c.wait(), .aborted)
        XCTAssertEqual(e.idleSnapshot().usedBlocks, 0)
        e.shutdown()
    }

    func testOptedOutRequestsProposeNothing() {
        var reqs = requests(prompts(2))
        for i in reqs.indices { reqs[i].speculative = false }
        let e = engine(PatternModel(), speculation: .ngram)
        _ = runAll(e, reqs)
        XCTAssertEqual(e.idleSnapshot().speculativeProposed, 0)
        e.shutdown()
    }

    /// Each request's finish event carries its own proposals and acceptances (the access log's
    /// acceptance rate): together they are the engine's counters, also for requests that a stop
    /// token ends on an accepted proposal (counted before that token is emitted); an opted-out
    /// request has none.
    func testFinishEventsCarryEachRequestsSpeculation() {
        let e = engine(PatternModel(), speculation: .ngram)
        var cs: [Collector] = []
        // Prompts that already hold their cycle (the oracle's next 40 tokens), and every token as
        // a stop token in turn: some requests stop on an accepted proposal. In groups of five: a
        // queue of waiting prompts would stop speculation.
        let primed = prompts(5).map { p -> [Int32] in
            var h = p
            for _ in 0..<40 { h.append(PatternModel.next(after: h.suffix(3), vocab: 11)) }
            return h
        }
        for stop in 0..<11 {
            var reqs = requests(primed, maxTokens: 37)
            for i in reqs.indices { reqs[i].id = "s\(stop)-\(i)"; reqs[i].stopTokenIDs = [Int32(stop)] }
            cs += runAll(e, reqs)
        }
        var out = requests(prompts(1), maxTokens: 37)[0]
        out.speculative = false
        let optedOut = runAll(e, [out])[0]
        let s = e.idleSnapshot()
        XCTAssertEqual(optedOut.speculation, .none, "an opted-out request proposed")
        XCTAssertNil(optedOut.speculation.acceptance)
        for (i, c) in cs.enumerated() {
            XCTAssertLessThanOrEqual(c.speculation.accepted, c.speculation.proposed, "request \(i)")
        }
        XCTAssertGreaterThan(cs.filter { $0.speculation.accepted > 0 }.count, cs.count / 2, "few requests accepted proposals")
        let total = cs.reduce(SpeculationUsage.none) { $0 + $1.speculation }
        XCTAssertEqual(total.proposed, s.speculativeProposed)
        XCTAssertEqual(total.accepted, s.speculativeAccepted)
        XCTAssertLessThan(total.accepted, total.proposed, "nothing rejected")
        e.shutdown()
    }

    func testStopTokensAndMaxTokensInsideAnAcceptedRun() {
        // A stop token that the cycle reaches, and lengths that end inside a verified run.
        var reqs = requests(prompts(4), maxTokens: 37)
        reqs[0].stopTokenIDs = [PatternModel.next(after: reqs[0].promptTokens.suffix(3), vocab: 11) == 4 ? 5 : 4]
        reqs[1].maxTokens = 1
        reqs[2].maxTokens = 2
        _ = compare(reqs)
    }
}
