import XCTest
@testable import Engine
import Model

/// The scheduler alone: no model, no thread. Each test drives it step by step and
/// checks its plans (who computes which tokens), its queues and its block counts.
final class SchedulerTests: XCTestCase {
    /// A prompt no other seed shares (first token differs), so the prefix cache never mixes them.
    func prompt(_ seed: Int, _ length: Int) -> [Int32] {
        (0..<length).map { $0 == 0 ? Int32(100 + seed) : Int32(($0 * 31 + seed * 17) % 90 + 3) }
    }

    func shape(_ plan: StepPlan) -> [String] { plan.entries.map { "\($0.request.id)@\($0.start)+\($0.count)" } }
    func ids(_ rs: [Request]) -> [String] { rs.map(\.id) }

    func assertAllBlocksFree(_ d: SchedulerDriver, file: StaticString = #filePath, line: UInt = #line) {
        let b = d.scheduler.blocks
        XCTAssertEqual(b.freeCount, b.blockCount, "blocks still in use", file: file, line: line)
        for i in 0..<Int32(b.blockCount) where b.references(i) != 0 {
            XCTFail("block \(i) still referenced \(b.references(i)) times", file: file, line: line)
        }
        XCTAssertEqual(d.problems, [], file: file, line: line)
    }

    // MARK: - budgets and chunked prefill

    func testLongPromptsAreChunkedWithinTheTokenBudget() {
        var d = SchedulerDriver(maxBatchTokens: 40, maxSequences: 2, cacheTokens: 1024, blockSize: 16)
        for i in 0..<5 { d.submit("r\(i)", prompt: prompt(i, 100), maxTokens: 3) }
        XCTAssertEqual(shape(d.step()), ["r0@0+40"])
        XCTAssertEqual(shape(d.step()), ["r0@40+40"])
        let third = d.step()
        XCTAssertEqual(shape(third), ["r0@80+20", "r1@0+20"])
        XCTAssertEqual(third.entries.map(\.logits), [.last, .none], "only a chunk that ends the prompt yields logits")
        // Generating requests come first with their one token; the prompt chunk takes what is left.
        XCTAssertEqual(shape(d.step()), ["r0@100+1", "r1@20+39"])
        while !d.scheduler.isIdle {
            let plan = d.step()
            XCTAssertLessThanOrEqual(plan.tokenCount, 40)
            XCTAssertLessThanOrEqual(d.scheduler.running.count, 2)
            XCTAssertLessThan(d.steps, 100)
        }
        XCTAssertEqual(Set(d.finished), Set((0..<5).map { "r\($0)" }))
        assertAllBlocksFree(d)
    }

    /// Found by a user's test: a one-line request behind a 3,330-token prompt waited for the
    /// prompt's last chunk (96 s), since the prompt in progress took every step's whole budget.
    func testAShortRequestBehindALongPromptStartsAtTheNextStep() {
        var d = SchedulerDriver(maxBatchTokens: 64, maxSequences: 4, cacheTokens: 1024, blockSize: 16)
        d.submit("long", prompt: prompt(1, 400), maxTokens: 2)
        XCTAssertEqual(shape(d.step()), ["long@0+64"])
        d.submit("short", prompt: prompt(2, 10), maxTokens: 3)
        XCTAssertEqual(shape(d.step()), ["long@64+54", "short@0+10"], "the short prompt takes its tokens from the long one's chunk")
        XCTAssertEqual(shape(d.step()), ["long@118+63", "short@10+1"], "then it generates beside the long prompt")
        // A waiting prompt longer than half the budget keeps first come, first served.
        d.submit("medium", prompt: prompt(3, 40), maxTokens: 2)
        let next = d.step()
        XCTAssertEqual(next.entries.first.map { $0.request.id }, "long")
        XCTAssertFalse(next.entries.contains { $0.request.id == "medium" }, "it waits for the long prompt's budget")
        XCTAssertTrue(d.runToEnd())
        for r in d.requests { XCTAssertEqual(r.generated, r.request.maxTokens, r.id) }
        assertAllBlocksFree(d)
    }

    func testStepTargetCutsChunksOnlyWhileSomeoneGenerates() {
        var d = SchedulerDriver(maxBatchTokens: 512, stepTargetSeconds: 0.6)
        d.scheduler.pace.record(tokens: 4, seconds: 0.05)     // reading the weights: 50 ms
        d.scheduler.pace.record(tokens: 512, seconds: 5.05)   // about 9.8 ms per token
        d.submit("a", prompt: prompt(1, 200), maxTokens: 5)
        let first = d.step()
        XCTAssertEqual(first.tokenBudget, 512, "nobody generates yet: the whole budget")
        XCTAssertEqual(shape(first), ["a@0+200"])
        d.submit("b", prompt: prompt(2, 300), maxTokens: 5)
        let second = d.step()
        XCTAssertEqual(second.tokenBudget, Int((0.6 - 0.05) / (5.0 / 512)))
        XCTAssertEqual(shape(second), ["a@200+1", "b@0+\(second.tokenBudget - 1)"])
    }

    /// A driver with 512-token steps, a 0.6 s step target and `short` for short prompts.
    func shortTargetDriver(_ short: Double, maxSequences: Int = 64) -> SchedulerDriver {
        var d = SchedulerDriver(maxBatchTokens: 512, stepTargetSeconds: 0.6)
        d.scheduler = Scheduler(configuration: {
            var c = EngineConfiguration(maxBatchTokens: 512, maxSequences: maxSequences, cacheTokens: 8192, stepTargetSeconds: 0.6)
            c.shortPromptStepTargetSeconds = short
            return c
        }(), slidingWindow: nil)
        return d
    }

    /// While only prompts that fit one step are in progress, chunks are cut to the short target;
    /// a prompt longer than a step (running or waiting) brings back the long one.
    func testShortPromptsGetTheShortStepTarget() {
        var d = shortTargetDriver(0.25)
        d.scheduler.pace.record(tokens: 4, seconds: 0.05)
        d.scheduler.pace.record(tokens: 512, seconds: 5.05)
        d.submit("a", prompt: prompt(1, 200), maxTokens: 50)
        XCTAssertEqual(d.step().tokenBudget, 512, "nobody generates yet")
        d.submit("b", prompt: prompt(2, 300), maxTokens: 5)
        let short = d.step()
        XCTAssertEqual(short.tokenBudget, Int((0.25 - 0.05) / (5.0 / 512)))
        d.submit("c", prompt: prompt(3, 2000), maxTokens: 5)
        let long = d.step()
        XCTAssertEqual(long.tokenBudget, Int((0.6 - 0.05) / (5.0 / 512)), "a waiting prompt longer than a step")
        // c's tail (once what is left of it fits one step) keeps the long target: still one long
        // prompt, whose extra short steps would each cost a read of the weights.
        var steps = 0
        while let c = d.scheduler.request(id: "c"), !c.isGenerating {
            XCTAssertEqual(d.step().tokenBudget, Int((0.6 - 0.05) / (5.0 / 512)), "step \(steps)")
            steps += 1
        }
        XCTAssertGreaterThan(steps, 2)
    }

    /// A burst of short prompts around generating sequences: the short target, or twice the
    /// step the sequences take alone (for as many as are running and waiting, paused ones aside,
    /// at most maxSequences) when that is longer, a measured step counting at most twice the pace
    /// line's prediction; never above the long target, which a long prompt keeps.
    func testShortTargetFollowsTheDecodeStep() {
        func driver(maxSequences: Int = 64, slow: Bool = false) -> SchedulerDriver {
            var d = shortTargetDriver(0.12, maxSequences: maxSequences)
            d.scheduler.pace.record(tokens: 4, seconds: 0.03)
            d.scheduler.pace.record(tokens: 512, seconds: slow ? 0.03 + 512 * 0.032 : 2.53)
            d.submit("a", prompt: prompt(1, 100), maxTokens: 50)
            XCTAssertEqual(d.step().tokenBudget, 512, "nobody generates yet")
            for i in 2...4 { d.submit("s\(i)", prompt: prompt(i, 300), maxTokens: 5) }
            return d
        }
        let perToken = 2.5 / 512, line4 = 0.03 + 4 * perToken
        // No step of 4 sequences (or fewer) seen: the configured target.
        var d = driver()
        d.scheduler.pace.recordDecode(sequences: 8, seconds: 0.2)
        XCTAssertEqual(d.step().tokenBudget, Int((0.12 - 0.03) / perToken))
        // Slow decode steps for 3, plus a token's cost for the 4th: twice theirs.
        d = driver()
        d.scheduler.pace.recordDecode(sequences: 3, seconds: 0.09)
        XCTAssertEqual(d.scheduler.shortPromptTarget(), 2 * (0.09 + perToken), accuracy: 1e-12)
        XCTAssertEqual(d.step().tokenBudget, Int((2 * (0.09 + perToken) - 0.03) / perToken))
        // A step far slower than the line predicts counts as twice the prediction.
        d.scheduler.pace.recordDecode(sequences: 4, seconds: 0.5)
        XCTAssertEqual(d.scheduler.shortPromptTarget(), 4 * line4, accuracy: 1e-12)
        // Fast ones: the configured target stays.
        d = driver()
        d.scheduler.pace.recordDecode(sequences: 4, seconds: 0.04)
        XCTAssertEqual(d.step().tokenBudget, Int((0.12 - 0.03) / perToken))
        // A paused waiting request is not counted: 3 sequences, not 4.
        d = driver()
        d.scheduler.pace.recordDecode(sequences: 3, seconds: 0.08)
        d.scheduler.pace.recordDecode(sequences: 4, seconds: 0.09)
        d.scheduler.pause(d.scheduler.waiting[2])
        XCTAssertEqual(d.scheduler.shortPromptTarget(), 0.16, accuracy: 1e-12)
        // At most maxSequences: with 2 allowed, the step of 2.
        d = driver(maxSequences: 2)
        d.scheduler.pace.recordDecode(sequences: 2, seconds: 0.07)
        d.scheduler.pace.recordDecode(sequences: 4, seconds: 0.09)
        XCTAssertEqual(d.scheduler.shortPromptTarget(), 0.14, accuracy: 1e-12)
        // Never above the long target (a slow line, so the prediction does not bound it first).
        d = driver(slow: true)
        d.scheduler.pace.recordDecode(sequences: 4, seconds: 0.5)
        XCTAssertEqual(d.scheduler.shortPromptTarget(), 4 * (0.03 + 4 * 0.032), accuracy: 1e-9)
        XCTAssertEqual(d.step().tokenBudget, Int((0.6 - 0.03) / 0.032))
        // A long waiting prompt keeps the long target whatever the decode step.
        d = driver()
        d.scheduler.pace.recordDecode(sequences: 5, seconds: 0.02)
        d.submit("long", prompt: prompt(9, 2000), maxTokens: 5)
        XCTAssertEqual(d.step().tokenBudget, Int((0.6 - 0.03) / perToken))
    }

    /// The step target cuts prompt chunks, never the generating sequences' own tokens: 40 of
    /// them on a pace where 0.12 s holds ~18 tokens each get one every step.
    func testEveryGeneratingSequenceGetsItsTokenWhateverTheTarget() {
        var d = shortTargetDriver(0.12)
        for i in 0..<40 { d.submit("g\(i)", prompt: prompt(i, 8), maxTokens: 20) }
        XCTAssertEqual(d.step().entries.count, 40, "all prompts in one step")
        d.scheduler.pace.record(tokens: 4, seconds: 0.03)
        d.scheduler.pace.record(tokens: 512, seconds: 2.53)
        XCTAssertEqual(d.scheduler.pace.tokens(within: 0.12, limit: 512), 18)
        for step in 0..<10 {
            let plan = d.step()
            XCTAssertEqual(plan.tokenBudget, 40, "step \(step)")
            XCTAssertEqual(plan.entries.count, 40, "step \(step)")
        }
        XCTAssertTrue(d.problems.isEmpty, "\(d.problems)")
    }

    // MARK: - first come, first served

    func testAWaitingRequestThatDoesNotFitIsNotOvertaken() {
        // 8 blocks of 4 tokens: r0 takes 5 and grows to 7; r1 needs 4; r2 needs 1 and would fit.
        var d = SchedulerDriver(maxBatchTokens: 64, cacheTokens: 32, blockSize: 4)
        d.submit("r0", prompt: prompt(0, 20), maxTokens: 8)
        d.submit("r1", prompt: prompt(1, 16), maxTokens: 2)
        d.submit("r2", prompt: prompt(2, 4), maxTokens: 2)
        XCTAssertEqual(shape(d.step()), ["r0@0+20"])
        XCTAssertEqual(ids(d.scheduler.waiting), ["r1", "r2"])
        while d.scheduler.running.contains(where: { $0.id == "r0" }) {
            d.step()
            XCTAssertFalse(d.admissions.contains("r2") && !d.admissions.contains("r1"), "r2 overtook r1")
        }
        XCTAssertTrue(d.runToEnd())
        XCTAssertEqual(d.admissions, ["r0", "r1", "r2"])
        assertAllBlocksFree(d)
    }

    func testNoStarvationUnderPressure() {
        // 12 blocks of 8 tokens for 10 requests of 30 + 30 tokens: most wait or are preempted.
        var d = SchedulerDriver(maxBatchTokens: 16, maxSequences: 4, cacheTokens: 96, blockSize: 8)
        for i in 0..<10 { d.submit("s\(i)", prompt: prompt(i, 30), maxTokens: 30) }
        XCTAssertTrue(d.runToEnd(limit: 5_000))
        XCTAssertEqual(d.admissions, (0..<10).map { "s\($0)" }, "first admissions follow arrival order")
        XCTAssertEqual(Set(d.finished), Set((0..<10).map { "s\($0)" }))
        for r in d.requests { XCTAssertEqual(r.generated, 30, r.id) }
        XCTAssertGreaterThan(d.scheduler.preemptions, 0)
        assertAllBlocksFree(d)
    }

    // MARK: - preemption

    func testPreemptionTakesTheNewestRunningRequestAndRequeuesItByArrival() {
        // 6 blocks of 4 tokens, three 8-token prompts fill them; each first token needs a new block.
        var d = SchedulerDriver(maxBatchTokens: 64, cacheTokens: 24, blockSize: 4)
        for i in 0..<3 { d.submit("r\(i)", prompt: prompt(i, 8), maxTokens: 10) }
        XCTAssertEqual(shape(d.step()), ["r0@0+8", "r1@0+8", "r2@0+8"])
        d.submit("r3", prompt: prompt(3, 4), maxTokens: 2)
        let plan = d.step()
        XCTAssertEqual(ids(plan.preempted), ["r2"], "the newest running request goes first")
        XCTAssertEqual(shape(plan), ["r0@8+1", "r1@8+1"])
        XCTAssertEqual(ids(d.scheduler.waiting), ["r2", "r3"], "back in arrival order, ahead of later ones")
        XCTAssertEqual(d.scheduler.preemptions, 1)
        let r2 = d.requests[2]
        XCTAssertEqual(r2.tokens.count, 9, "its output so far is kept, to be recomputed")
        XCTAssertTrue(d.runToEnd())
        for r in d.requests { XCTAssertEqual(r.generated, r.request.maxTokens, r.id) }
        assertAllBlocksFree(d)
    }

    /// Found by a sweep: prompts that do not all fit, without prefix caching (as on Gemma 3).
    /// Each was admitted on its first chunk, preempted by the others' growth before its end and
    /// admitted again, recomputed from its start each time (358 preemptions for 6 prompts).
    func testPromptsThatDoNotAllFitAreNotRecomputedOverAndOver() {
        var d = SchedulerDriver(maxBatchTokens: 32, cacheTokens: 256, blockSize: 8, prefixCaching: false)
        for i in 0..<6 { d.submit("s\(i)", prompt: prompt(i, 94), maxTokens: 12) }
        var computed = 0
        while !d.scheduler.isIdle && d.steps < 5_000 {
            computed += d.step().entries.reduce(0) { $0 + $1.count }
        }
        XCTAssertTrue(d.scheduler.isIdle)
        for r in d.requests { XCTAssertEqual(r.generated, 12, r.id) }
        XCTAssertEqual(d.scheduler.preemptions, 0)
        XCTAssertEqual(computed, 6 * (94 + 11), "each prompt and output token computed once")
        assertAllBlocksFree(d)
    }

    /// A request preempted for blocks waits for another to end: taken back at once, the same
    /// growth preempted it again (two sequences growing to fill the cache, as `n: 2` with no
    /// `max_tokens`, were recomputed 417 times).
    func testAPreemptedRequestWaitsForAnotherToEnd() {
        var d = SchedulerDriver(maxBatchTokens: 8, cacheTokens: 64, blockSize: 4, prefixCaching: false)
        d.submit("a", prompt: prompt(0, 8), maxTokens: 50)
        d.submit("b", prompt: prompt(1, 8), maxTokens: 50)
        XCTAssertTrue(d.runToEnd(limit: 5_000))
        for r in d.requests { XCTAssertEqual(r.generated, 50, r.id) }
        XCTAssertEqual(d.scheduler.preemptions, 1)
        assertAllBlocksFree(d)
    }

    func testARequestThatCannotGrowMayPreemptItself() {
        // 3 blocks of 4: r0 (6 tokens) has room to grow; r1 (4 tokens) needs a second block.
        var d = SchedulerDriver(maxBatchTokens: 64, cacheTokens: 12, blockSize: 4)
        d.submit("r0", prompt: prompt(0, 6), maxTokens: 3)
        d.submit("r1", prompt: prompt(1, 4), maxTokens: 3)
        XCTAssertEqual(shape(d.step()), ["r0@0+6", "r1@0+4"])
        let queriesAfterAdmission = d.scheduler.prefixQueries
        let plan = d.step()
        XCTAssertEqual(ids(plan.preempted), ["r1"])
        XCTAssertEqual(shape(plan), ["r0@6+1"])
        XCTAssertEqual(ids(d.scheduler.waiting), ["r1"])
        XCTAssertTrue(d.runToEnd())
        XCTAssertEqual(d.requests[1].generated, 3)
        XCTAssertEqual(d.scheduler.prefixQueries, queriesAfterAdmission, "a re-admission is not a new query")
        XCTAssertEqual(d.scheduler.prefixHits, 0, "finding its own blocks again is not a hit")
        assertAllBlocksFree(d)
    }

    // MARK: - all-or-nothing allocation and prefix accounting

    func testARefusedAdmissionLeavesNoTraceAndPrefixHitsAreCountedOnce() {
        // 8 blocks of 4 tokens.
        var d = SchedulerDriver(maxBatchTokens: 64, cacheTokens: 32, blockSize: 4)
        let shared = prompt(0, 12)
        d.submit("p", prompt: shared, maxTokens: 1)
        d.step()                                          // p computes 3 full blocks and ends: they stay cached
        XCTAssertEqual(d.finished, ["p"])
        d.submit("big", prompt: prompt(1, 17), maxTokens: 10)  // 5 blocks: room to grow to 20 tokens
        d.step()
        let (queries, hits) = (d.scheduler.prefixQueries, d.scheduler.prefixHits)
        let q = d.submit("q", prompt: shared + prompt(2, 8), maxTokens: 2)
        let cached = d.scheduler.blocks.cachedPrefix(q.tokens, maxBlocks: 4)
        XCTAssertEqual(cached.blocks.count, 3)
        for _ in 0..<2 {
            // q needs its 3 cached blocks and 2 fresh ones; only the 3 cached ones are free.
            let free = d.scheduler.blocks.freeCount
            let plan = d.step()
            XCTAssertFalse(plan.entries.contains { $0.request === q })
            XCTAssertEqual(q.blocks, [])
            XCTAssertEqual(q.computed, 0)
            XCTAssertEqual(d.scheduler.blocks.freeCount, free, "nothing taken for q")
            for b in cached.blocks { XCTAssertEqual(d.scheduler.blocks.references(b), 0) }
            XCTAssertEqual(d.scheduler.blocks.cachedPrefix(q.tokens, maxBlocks: 4), cached, "the cached prefix survives")
            XCTAssertEqual(d.scheduler.prefixQueries, queries, "a refused request is not counted")
            XCTAssertEqual(d.scheduler.prefixHits, hits)
        }
        d.finish(d.requests[1])                           // big goes away
        XCTAssertEqual(shape(d.step()), ["q@12+8"])
        XCTAssertEqual(q.cachedTokens, 12)
        XCTAssertEqual(Array(q.blocks.prefix(3)), cached.blocks)
        XCTAssertEqual(d.scheduler.prefixQueries, queries + 5, "counted once, at admission")
        XCTAssertEqual(d.scheduler.prefixHits, hits + 3)
        XCTAssertTrue(d.runToEnd())
        assertAllBlocksFree(d)
    }

    func testSiblingsWaitForTheSharedPromptThenReuseIt() {
        var d = SchedulerDriver(maxBatchTokens: 16, cacheTokens: 1024, blockSize: 8)
        let p = prompt(5, 40)
        for n in ["a", "b", "c"] { d.submit(n, prompt: p, maxTokens: 4, shareGroup: "call") }
        XCTAssertEqual(shape(d.step()), ["a@0+16"])
        XCTAssertEqual(shape(d.step()), ["a@16+16"])
        XCTAssertEqual(shape(d.step()), ["a@32+8"], "b waits while a computes the shared prompt")
        // The last prompt token is always computed, so the siblings find 4 of the 5 blocks.
        // c waits while b computes its own last block, then finds the same 4.
        XCTAssertEqual(shape(d.step()), ["a@40+1", "b@32+8"])
        XCTAssertEqual(shape(d.step()), ["a@41+1", "b@40+1", "c@32+8"])
        XCTAssertEqual(d.requests[1].cachedTokens, 32)
        XCTAssertEqual(d.requests[2].cachedTokens, 32)
        XCTAssertEqual(d.scheduler.prefixHits, 8)
        XCTAssertTrue(d.runToEnd())
        assertAllBlocksFree(d)
    }

    func testPromptLogprobsComputeEveryPromptPosition() {
        var d = SchedulerDriver(maxBatchTokens: 64, cacheTokens: 256, blockSize: 4)
        let p = prompt(7, 16)
        d.submit("first", prompt: p, maxTokens: 1)
        d.step()
        let queries = d.scheduler.prefixQueries
        d.submit("echo", prompt: p, maxTokens: 1, promptLogprobs: 2)
        let plan = d.step()
        XCTAssertEqual(shape(plan), ["echo@0+16"], "no prefix hit: every row is needed")
        XCTAssertEqual(plan.entries.map(\.logits), [.all])
        XCTAssertEqual(d.scheduler.prefixQueries, queries, "no lookup, no query")
        XCTAssertTrue(d.runToEnd())
        assertAllBlocksFree(d)
    }

    // MARK: - every block comes back

    func testEveryBlockComesBackAfterEveryKindOfEnd() {
        // Shared prefixes, prompt logprobs, aborts while waiting or running, and preemptions
        // in a cache far too small, from a fixed seed.
        var d = SchedulerDriver(maxBatchTokens: 24, maxSequences: 6, cacheTokens: 64, blockSize: 4)
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ n: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int((seed >> 33) % UInt64(n))
        }
        let heads = (0..<3).map { prompt($0, 8) }
        var submitted = 0
        while submitted < 40 || !d.scheduler.isIdle {
            if submitted < 40 && next(3) == 0 {
                let p = heads[next(3)] + prompt(10 + submitted, 1 + next(12))
                d.submit("x\(submitted)", prompt: p, maxTokens: 1 + next(10), promptLogprobs: next(5) == 0 ? 1 : nil)
                submitted += 1
            }
            let live = d.scheduler.running + d.scheduler.waiting
            if !live.isEmpty && next(7) == 0 { d.finish(live[next(live.count)]) }
            d.step()
            XCTAssertLessThan(d.steps, 5_000)
            if d.steps >= 5_000 { break }
        }
        XCTAssertEqual(Set(d.finished).count, 40)
        XCTAssertGreaterThan(d.scheduler.preemptions, 0)
        XCTAssertGreaterThan(d.scheduler.prefixHits, 0)
        assertAllBlocksFree(d)
    }
}
