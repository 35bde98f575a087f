import XCTest
@testable import Engine
import Model

/// Pausing a request whose client reads slowly: skipped by steps, keeps its blocks, takes no
/// budget, resumes where it was; given up to preemption only when blocks run short.
final class SchedulerPauseTests: XCTestCase {
    func prompt(_ seed: Int, _ length: Int) -> [Int32] {
        (0..<length).map { $0 == 0 ? Int32(100 + seed) : Int32(($0 * 31 + seed * 17) % 90 + 3) }
    }

    func shape(_ plan: StepPlan) -> [String] { plan.entries.map { "\($0.request.id)@\($0.start)+\($0.count)" } }

    func testPausedRequestIsSkippedKeepsItsBlocksAndResumes() {
        var d = SchedulerDriver(maxBatchTokens: 64, cacheTokens: 1024, blockSize: 16)
        let a = d.submit("a", prompt: prompt(1, 20), maxTokens: 6)
        d.submit("b", prompt: prompt(2, 20), maxTokens: 6)
        XCTAssertEqual(shape(d.step()), ["a@0+20", "b@0+20"])
        XCTAssertEqual(shape(d.step()), ["a@20+1", "b@20+1"])
        let held = a.blocks
        let computed = a.computed
        d.scheduler.pause(a)
        XCTAssertFalse(d.scheduler.isIdle)
        for _ in 0..<3 {
            let before = d.requests[1].computed
            XCTAssertEqual(shape(d.step()), ["b@\(before)+1"], "a paused: only b computes")
            XCTAssertEqual(a.blocks, held, "a keeps its blocks")
            XCTAssertEqual(a.computed, computed)
        }
        XCTAssertEqual(d.scheduler.running.map(\.id), ["a", "b"], "paused, not preempted")
        XCTAssertEqual(d.scheduler.preemptions, 0)
        d.scheduler.resume(a)
        XCTAssertEqual(shape(d.step()).first, "a@\(computed)+1", "a resumes where it stopped, no recompute")
        XCTAssertTrue(d.runToEnd())
        XCTAssertEqual(Set(d.finished), ["a", "b"])
        XCTAssertEqual(d.scheduler.blocks.freeCount, d.scheduler.blocks.blockCount)
        XCTAssertEqual(d.problems, [])
    }

    func testEveryRequestPausedGivesAnEmptyPlan() {
        var d = SchedulerDriver(maxBatchTokens: 64, cacheTokens: 1024, blockSize: 16)
        let a = d.submit("a", prompt: prompt(1, 20), maxTokens: 4)
        d.step()
        d.scheduler.pause(a)
        XCTAssertTrue(d.step().isEmpty)
        XCTAssertFalse(d.scheduler.hasUnpausedWork)
        d.scheduler.resume(a)
        XCTAssertTrue(d.scheduler.hasUnpausedWork)
        XCTAssertTrue(d.runToEnd())
        XCTAssertEqual(d.problems, [])
    }

    /// A request preempted for blocks waits for another to end, but not for a paused one: that
    /// one gives its blocks up instead (its client may not read for a long time).
    func testAPreemptedRequestDoesNotWaitForAPausedOne() {
        var d = SchedulerDriver(maxBatchTokens: 64, cacheTokens: 16, blockSize: 4)
        let a = d.submit("a", prompt: prompt(1, 6), maxTokens: 10)  // 16 tokens each at most: the cache
        let b = d.submit("b", prompt: prompt(2, 6), maxTokens: 10)
        var steps = 0
        while d.scheduler.preemptions == 0 && steps < 20 { d.step(); steps += 1 }
        XCTAssertEqual(d.scheduler.waiting.map(\.id), ["b"], "the newest gave its blocks up")
        d.scheduler.pause(a)
        let plan = d.step()
        XCTAssertEqual(plan.preempted.map(\.id), ["a"])
        XCTAssertTrue(plan.entries.contains { $0.request === b }, "b is back at once")
        d.scheduler.resume(a)
        XCTAssertTrue(d.runToEnd())
        XCTAssertEqual(Set(d.finished), ["a", "b"])
        XCTAssertEqual(d.problems, [])
    }

    /// A paused request keeps its blocks when giving them up would not let the waiting one in.
    func testPausedRequestIsNotPreemptedInVain() {
        // 8 blocks of 4: a (not paused) holds 5, p (paused) 1; w's 16-token prompt needs 4.
        var d = SchedulerDriver(maxBatchTokens: 64, cacheTokens: 32, blockSize: 4)
        d.submit("a", prompt: prompt(1, 18), maxTokens: 4)
        let p = d.submit("p", prompt: prompt(2, 3), maxTokens: 4)
        d.step()
        d.scheduler.pause(p)
        d.submit("w", prompt: prompt(3, 16), maxTokens: 2)
        let plan = d.step()
        XCTAssertEqual(plan.preempted.map(\.id), [], "freeing p (1 block) cannot make room for w (4)")
        XCTAssertEqual(p.blocks.count, 1)
        d.scheduler.resume(p)
        XCTAssertTrue(d.runToEnd())
        XCTAssertEqual(Set(d.finished), ["a", "p", "w"])
        XCTAssertEqual(d.problems, [])
    }

    func testPausedRequestIsPreemptedOnlyWhenBlocksAreNeeded() {
        // 4 blocks of 16: a holds 2; b's 40-token prompt needs 3, so a gives its blocks up.
        var d = SchedulerDriver(maxBatchTokens: 64, cacheTokens: 64, blockSize: 16)
        let a = d.submit("a", prompt: prompt(1, 20), maxTokens: 4)
        d.step()
        d.scheduler.pause(a)
        d.step()
        XCTAssertEqual(d.scheduler.preemptions, 0, "no memory needed: a stays in place")
        d.submit("b", prompt: prompt(2, 40), maxTokens: 4)
        let plan = d.step()
        XCTAssertEqual(shape(plan), ["b@0+40"])
        XCTAssertEqual(plan.preempted.map(\.id), ["a"])
        XCTAssertEqual(a.blocks, [], "preempted: its blocks are freed, it will be recomputed")
        XCTAssertEqual(d.scheduler.waiting.map(\.id), ["a"])
        // Still paused, it is not readmitted; resumed, it is recomputed once b is done.
        XCTAssertFalse(d.step().entries.contains { $0.request === a })
        d.scheduler.resume(a)
        XCTAssertTrue(d.runToEnd())
        XCTAssertEqual(Set(d.finished), ["a", "b"])
        XCTAssertEqual(d.scheduler.blocks.freeCount, d.scheduler.blocks.blockCount)
        XCTAssertEqual(d.problems, [])
    }
}
