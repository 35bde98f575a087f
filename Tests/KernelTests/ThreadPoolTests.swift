import XCTest
import Synchronization
@testable import Kernels

final class ThreadPoolTests: XCTestCase {
    /// Every index is visited exactly once, job after job, including counts past 16 bits.
    func testCoversEachIndexOnce() {
        let pool = ThreadPool(threads: 3)
        for count in [1, 2, 7, 64, 1000, 70_000] {
            let hits = UnsafeMutablePointer<Int>.allocate(capacity: count)
            hits.initialize(repeating: 0, count: count)
            defer { hits.deallocate() }
            for _ in 0..<20 {
                pool.parallelFor(count) { r in for i in r { hits[i] += 1 } }
            }
            for i in 0..<count { XCTAssertEqual(hits[i], 20, "count \(count) index \(i)") }
        }
    }

    func testNestedCallRunsInline() {
        let pool = ThreadPool(threads: 2)
        let total = Atomic<Int>(0)
        pool.parallelFor(8) { r in
            for _ in r { pool.parallelFor(10) { total.add($0.count, ordering: .relaxed) } }
        }
        XCTAssertEqual(total.load(ordering: .relaxed), 80)
    }

    /// Many tiny jobs back to back (a forward step's pattern), then the pool is freed.
    func testManySmallJobsAndShutdown() {
        var pool: ThreadPool? = ThreadPool(threads: 2)
        let sum = Atomic<Int>(0)
        for _ in 0..<20_000 { pool?.parallelFor(4) { sum.add($0.count, ordering: .relaxed) } }
        XCTAssertEqual(sum.load(ordering: .relaxed), 80_000)
        usleep(200_000)  // let the worker fall asleep, then shut it down
        pool = nil
    }
}
