import XCTest
@testable import Engine
import Kernels
import Model

/// Models with sliding-window layers: those layers' blocks come from a pool of their own,
/// and a sequence holds a ring there that stops growing at `ringBlocks`, however long it gets.
final class SlidingWindowSchedulerTests: XCTestCase {
    func prompt(_ seed: Int, _ length: Int) -> [Int32] {
        (0..<length).map { $0 == 0 ? Int32(100 + seed) : Int32(($0 * 31 + seed * 17) % 90 + 3) }
    }

    func testRingStopsGrowingAtTheWindowAndIsFreedAtTheEnd() {
        // Window 8, chunks of at most 6, blocks of 4: a ring of (7 + 6 + 3) / 4 + 1 = 5 blocks.
        var d = SchedulerDriver(maxBatchTokens: 6, maxSequences: 3, cacheTokens: 1024, blockSize: 4, slidingWindow: 8)
        XCTAssertEqual(d.scheduler.ringBlocks, 5)
        XCTAssertEqual(d.scheduler.localBlocks?.blockCount, 15, "three sequences' rings, not the context")
        let rs = (0..<3).map { d.submit("r\($0)", prompt: prompt($0, 30), maxTokens: 50) }
        var longest = 0, mostUsed = 0
        while !d.scheduler.isIdle && d.steps < 2000 {
            d.step()
            for r in d.scheduler.running {
                XCTAssertLessThanOrEqual(r.ring.count, 5)
                longest = max(longest, r.computed)
            }
            mostUsed = max(mostUsed, d.scheduler.localBlocks?.usedCount ?? 0)
        }
        XCTAssertTrue(d.scheduler.isIdle)
        XCTAssertGreaterThan(longest, 70, "sequences ran far beyond the window")
        XCTAssertLessThanOrEqual(mostUsed, 15)
        XCTAssertEqual(d.problems, [])
        XCTAssertEqual(d.scheduler.localBlocks?.usedCount, 0, "rings are returned to the pool")
        XCTAssertEqual(d.scheduler.blocks.usedCount, 0)
        XCTAssertTrue(rs.allSatisfy { $0.ring.isEmpty && $0.blocks.isEmpty })
    }

    func testPrefixCacheIsOffWithSlidingLayers() {
        // The ring no longer holds the sliding layers' keys of an early prefix: a hit would be wrong.
        var d = SchedulerDriver(maxBatchTokens: 64, maxSequences: 4, cacheTokens: 1024, blockSize: 4, slidingWindow: 8)
        d.submit("a", prompt: prompt(1, 40), maxTokens: 2)
        XCTAssertTrue(d.runToEnd())
        let b = d.submit("b", prompt: prompt(1, 40), maxTokens: 2)
        d.step()
        XCTAssertEqual(b.cachedTokens, 0)
        XCTAssertEqual(d.scheduler.prefixHits, 0)
        XCTAssertTrue(d.runToEnd())
        XCTAssertEqual(d.problems, [])
    }

    func testRingShortageWaitsOrPreemptsAndNothingLeaks() {
        // A local pool that cannot hold every sequence's full ring: admission and preemption
        // must take both pools into account, all or nothing.
        var d = SchedulerDriver(maxBatchTokens: 8, maxSequences: 4, cacheTokens: 40, blockSize: 4, slidingWindow: 4)
        XCTAssertEqual(d.scheduler.ringBlocks, 4)  // (3 + 8 + 3) / 4 + 1
        XCTAssertEqual(d.scheduler.localBlocks?.blockCount, 10, "no more than the cache's blocks")
        for i in 0..<6 { d.submit("r\(i)", prompt: prompt(i, 12), maxTokens: 20) }
        XCTAssertTrue(d.runToEnd())
        XCTAssertEqual(d.finished.count, 6)
        XCTAssertEqual(d.problems, [])
        XCTAssertEqual(d.scheduler.localBlocks?.usedCount, 0)
        XCTAssertEqual(d.scheduler.blocks.usedCount, 0)
    }

    func testModelsWithoutSlidingLayersHaveNoLocalPool() {
        let d = SchedulerDriver(maxBatchTokens: 64, cacheTokens: 256, blockSize: 4)
        XCTAssertNil(d.scheduler.localBlocks)
        XCTAssertEqual(d.scheduler.ringBlocks, 0)
        XCTAssertTrue(d.scheduler.blocks.prefixCaching)
    }
}
