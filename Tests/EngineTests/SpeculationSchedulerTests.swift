import XCTest
@testable import Engine
import Model

/// Speculation in the scheduler and prompt lookup, without a model: which entries may
/// propose how many tokens, how that counts against the budget and the compute-bound limit,
/// and how a verification rolls blocks and the prefix cache back.
final class SpeculationSchedulerTests: XCTestCase {
    func scheduler(maxBatchTokens: Int = 64, cacheTokens: Int = 1024, blockSize: Int = 4, depth: Int = 8,
                   speculativeBatch: Int = 12) -> Scheduler {
        var c = EngineConfiguration(maxBatchTokens: maxBatchTokens, maxSequences: 16, cacheTokens: cacheTokens,
                                    blockSize: blockSize, stepTargetSeconds: 0)
        c.speculation = SpeculationConfiguration(method: .ngram, maxDepth: depth, maxBatchTokens: speculativeBatch)
        var s = Scheduler(configuration: c)
        // Costs as if timed: with none, a step takes no proposals until a pass of as many tokens
        // as sequences generating was timed.
        s.speculationCost = .measuredLike
        return s
    }

    var arrivals = 0
    func request(_ id: String, prompt: [Int32], maxTokens: Int = 100, speculative: Bool = true) -> Request {
        arrivals += 1
        var g = GenerationRequest(id: id, promptTokens: prompt, maxTokens: maxTokens)
        g.speculative = speculative
        return Request(request: g, sink: { _ in }, arrival: arrivals)
    }

    /// Runs the requests' prompt step and appends one generated token to each: they are then generating.
    func admit(_ s: inout Scheduler, _ rs: Request...) {
        for r in rs { s.add(r) }
        let p = s.schedule()
        XCTAssertEqual(p.entries.count, rs.count)
        s.didCompute(p)
        for r in rs {
            r.generated = 1
            s.append(7, to: r)
        }
    }

    // MARK: - prompt lookup

    func testLookupCopiesWhatFollowedTheLatestOccurrence() {
        // "1 2 3 9 9 | 1 2 3 4 5 | 1 2 3": the latest "1 2 3" is followed by 4 5.
        let t: [Int32] = [1, 2, 3, 9, 9, 1, 2, 3, 4, 5, 1, 2, 3]
        XCTAssertEqual(PromptLookup.propose(t, maxCount: 8), [4, 5, 1, 2, 3])
        XCTAssertEqual(PromptLookup.propose(t, maxCount: 2), [4, 5])
        XCTAssertEqual(PromptLookup.propose(t, maxCount: 0), [])
    }

    func testLookupFallsBackToShorterNgramsAndFindsNothingNew() {
        // The trigram "8 2 3" never occurred; the bigram "2 3" did, followed by 4.
        XCTAssertEqual(PromptLookup.propose([2, 3, 4, 8, 2, 3], maxCount: 3), [4, 8, 2])
        XCTAssertEqual(PromptLookup.propose([1, 2, 3, 4, 5, 6], maxCount: 3), [])
        XCTAssertEqual(PromptLookup.propose([5], maxCount: 3), [])
        // A unigram match is not used with the default minimum of 2.
        XCTAssertEqual(PromptLookup.propose([5, 1, 9, 5], maxCount: 3), [])
    }

    func testDepthDoublesOnFullAcceptanceAndDropsOnRejection() {
        let c = SpeculationConfiguration(method: .ngram, maxDepth: 8)
        XCTAssertEqual(c.nextDepth(current: 4, proposed: 4, accepted: 4), 8)
        XCTAssertEqual(c.nextDepth(current: 8, proposed: 8, accepted: 8), 8)
        XCTAssertEqual(c.nextDepth(current: 8, proposed: 8, accepted: 2), 3)
        XCTAssertEqual(c.nextDepth(current: 4, proposed: 4, accepted: 0), 1)
        XCTAssertEqual(c.nextDepth(current: 1, proposed: 1, accepted: 1), 2)
        XCTAssertEqual(c.nextDepth(current: 5, proposed: 0, accepted: 0), 5)
    }

    // MARK: - planning

    func testAGeneratingSequenceReservesItsDepthWithinBudgetAndBlocks() {
        var s = scheduler()
        let r = request("a", prompt: Array(1...10))
        admit(&s, r)
        let p = s.schedule()
        XCTAssertEqual(p.entries.count, 1)
        XCTAssertEqual(p.entries[0].count, 1)
        XCTAssertEqual(p.entries[0].speculate, 4)  // the initial depth
        // Blocks for the last token and every reserved position: 11 + 4 = 15 positions.
        XCTAssertEqual(r.blocks.count, 4)
        XCTAssertEqual(p.reservedSpeculation, 4)
    }

    func testNoSpeculationWhenOptedOutOrNearMaxTokensOrDuringPrompt() {
        var s = scheduler(maxBatchTokens: 64)
        let out = request("out", prompt: Array(1...10), speculative: false)
        admit(&s, out)
        XCTAssertEqual(s.schedule().entries.map(\.speculate), [0])

        var s2 = scheduler()
        let near = request("near", prompt: Array(1...10), maxTokens: 3)  // one generated: at most 2 more
        admit(&s2, near)
        // One more token may follow the last one; a step emits up to depth + 1.
        XCTAssertEqual(s2.schedule().entries.map(\.speculate), [1])

        var s3 = scheduler(maxBatchTokens: 8)
        s3.add(request("long", prompt: Array(1...20)))
        XCTAssertEqual(s3.schedule().entries.map(\.speculate), [0])  // a prompt chunk proposes nothing
    }

    func testSpeculationStopsWhenTheStepIsComputeBound() {
        // Limit 12: five generating sequences take 5 tokens, leaving 7 proposals in all,
        // handed out oldest first (4, then 3, then none).
        var s = scheduler(speculativeBatch: 12)
        let rs = (0..<5).map { request("r\($0)", prompt: [Int32(50 + $0)] + Array(1...6)) }
        for r in rs { s.add(r) }
        s.didCompute(s.schedule())
        for r in rs { r.generated = 1; s.append(7, to: r) }
        XCTAssertEqual(s.schedule().entries.map(\.speculate), [4, 3, 0, 0, 0])

        // Twelve generating sequences: the step is at the limit already; nobody proposes.
        var big = scheduler(maxBatchTokens: 128, speculativeBatch: 12)
        let bs = (0..<12).map { request("b\($0)", prompt: [Int32(60 + $0)] + Array(1...6)) }
        for r in bs { big.add(r) }
        big.didCompute(big.schedule())
        for r in bs { r.generated = 1; big.append(7, to: r) }
        XCTAssertEqual(big.schedule().reservedSpeculation, 0)
    }

    func testAWaitingPromptStopsSpeculationForItsStep() {
        var s = scheduler()
        admit(&s, request("a", prompt: Array(1...10)))
        s.add(request("b", prompt: Array(20...40)))
        let p = s.schedule()
        XCTAssertEqual(p.entries.map(\.speculate), [0, 0])
        XCTAssertEqual(p.tokenCount, 1 + 21)
    }

    func testSpeculationCountsAgainstTheTokenBudget() {
        var s = scheduler(maxBatchTokens: 3)
        let r = request("a", prompt: Array(1...2))
        s.add(r)
        s.didCompute(s.schedule())
        r.generated = 1
        s.append(7, to: r)
        let p = s.schedule()
        XCTAssertEqual(p.entries.map(\.speculate), [2])  // budget 3: the token and two proposals
    }

    func testProposalsNeverPreemptAndTakeOnlySpareBlocks() {
        // 4 blocks of 4: "a" holds 3 blocks (11 tokens), "b" holds 1 block: none spare.
        var s = scheduler(cacheTokens: 16)
        let a = request("a", prompt: Array(1...10))
        let b = request("b", prompt: [40, 41])
        admit(&s, a, b)
        let p = s.schedule()
        XCTAssertEqual(p.preempted.count, 0)
        // Each proposes only into the spare slots of the blocks it holds: a's 12th position, b's 4th.
        XCTAssertEqual(p.entries.map(\.speculate), [1, 1])
        XCTAssertEqual(s.blocks.freeCount, 0)
    }

    // MARK: - verification and rollback

    func testVerificationRollsBackRejectedPositionsAndFreesTheirBlocks() {
        var s = scheduler(blockSize: 4, depth: 8)
        let r = request("a", prompt: Array(1...7))  // 7 prompt tokens + 1 generated = 8
        admit(&s, r)
        r.speculationDepth = 8
        var p = s.schedule()
        XCTAssertEqual(p.entries[0].speculate, 8)
        XCTAssertEqual(r.blocks.count, 4)  // 8 + 8 positions
        p.entries[0].draft = [1, 2, 3, 4, 5, 6, 7, 8]
        s.didCompute(p)
        XCTAssertEqual(r.computed, 8)  // only the real token counts as computed before verification
        // Two proposals accepted, then a different token: 8 + 2 + 1 tokens, 10 computed.
        for t: Int32 in [1, 2, 99] { s.append(t, to: r) }
        s.didVerify(r, accepted: 2)
        XCTAssertEqual(r.computed, 10)
        XCTAssertEqual(r.blocks.count, 3)  // 10 computed positions
        XCTAssertEqual(s.blocks.usedCount, 3)
        // The two full blocks (8 verified tokens) are in the prefix cache; the third, partly
        // filled with rejected proposals, is not.
        XCTAssertEqual(r.hashes.count, 2)
    }

    func testThePrefixCacheHoldsOnlyVerifiedTokens() {
        // Proposals fill a whole block, all rejected: another request with those tokens as its
        // prompt must find no cached block for them.
        var s = scheduler(blockSize: 4, depth: 8)
        let r = request("a", prompt: [1, 2, 3])  // + 1 generated = 4 tokens, one full block
        admit(&s, r)
        r.speculationDepth = 8
        var p = s.schedule()
        p.entries[0].draft = [5, 6, 7, 8, 9, 10, 11, 12]
        s.didCompute(p)
        s.append(42, to: r)
        s.didVerify(r, accepted: 0)
        XCTAssertEqual(r.computed, 4)
        let probe = s.blocks.cachedPrefix([1, 2, 3, 7, 5, 6, 7, 8, 9, 10, 11, 12, 0], maxBlocks: 3)
        XCTAssertEqual(probe.blocks.count, 1)  // the verified block only
    }
}
