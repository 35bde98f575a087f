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

    /// Chunks cover the job once, each at least `minChunk` long but the last, and none over a
    /// sixteenth of it for two threads (a thread slowed by another process holds little).
    func testChunkSizes() {
        let pool = ThreadPool(threads: 2)
        for (count, minChunk) in [(1000, 1), (1000, 50), (4096, 8), (37, 4), (20_000, 1)] {
            let seen = Mutex<[Range<Int>]>([])
            pool.parallelFor(count, minChunk: minChunk) { r in seen.withLock { $0.append(r) } }
            let ranges = seen.withLock { $0 }.sorted { $0.lowerBound < $1.lowerBound }
            XCTAssertEqual(ranges.first?.lowerBound, 0)
            XCTAssertEqual(ranges.last?.upperBound, count)
            for (a, b) in zip(ranges, ranges.dropFirst()) { XCTAssertEqual(a.upperBound, b.lowerBound, "count \(count)") }
            for r in ranges where r.upperBound < count { XCTAssertGreaterThanOrEqual(r.count, minChunk, "count \(count)") }
            let largest = ranges.map(\.count).max() ?? 0
            XCTAssertLessThanOrEqual(largest, max(minChunk, count / 16), "count \(count) minChunk \(minChunk)")
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
