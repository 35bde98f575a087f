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

    /// Stream jobs visit every index exactly once, for counts below, at and past the pool's parts
    /// (and past their 24-bit words, where they run as a plain job), pieces of 1 to more than the
    /// count, pools of 1 to 5 threads, between plain jobs (which share the generation counter).
    func testStreamsCoverEachIndexOnce() {
        for threads in [1, 2, 3, 5] {
            let pool = ThreadPool(threads: threads)
            for count in [1, 2, 3, 7, 64, 1000, 70_000] {
                for piece in [1, 4, 100] {
                    let hits = UnsafeMutablePointer<UInt8>.allocate(capacity: count)
                    hits.initialize(repeating: 0, count: count)
                    defer { hits.deallocate() }
                    let badEnds = Atomic<Int>(0)
                    for _ in 0..<10 {
                        pool.parallelStreams(count, piece: piece) { r, end in
                            if end < r.upperBound || end > count { badEnds.add(1, ordering: .relaxed) }
                            for i in r { hits[i] &+= 1 }
                        }
                        pool.parallelFor(3) { _ in }
                    }
                    XCTAssertEqual(badEnds.load(ordering: .relaxed), 0, "threads \(threads) count \(count) piece \(piece): a stream end outside the job")
                    for i in 0..<count where hits[i] != 10 {
                        XCTFail("threads \(threads) count \(count) piece \(piece): index \(i) visited \(hits[i]) times")
                        break
                    }
                }
            }
        }
        let pool = ThreadPool(threads: 2), count = ThreadPool.maxPartIndex + 3
        let hits = UnsafeMutablePointer<UInt8>.allocate(capacity: count)
        hits.initialize(repeating: 0, count: count)
        defer { hits.deallocate() }
        pool.parallelStreams(count, piece: 1 << 16) { r, end in
            XCTAssertEqual(end, r.upperBound)
            for i in r { hits[i] &+= 1 }
        }
        XCTAssertNil((0..<count).first { hits[$0] != 1 }, "a 2^24 + 3 job")
    }

    /// A range's stream end: the owner's ranges run front to back within a part and each is at
    /// least a piece long or ends where its stream does; every stream end is within the job.
    func testStreamRanges() {
        let pool = ThreadPool(threads: 2)
        for (count, piece) in [(1000, 1), (1000, 30), (37, 4), (20_000, 16)] {
            let seen = Mutex<[(Range<Int>, Int)]>([])
            pool.parallelStreams(count, piece: piece) { r, end in seen.withLock { $0.append((r, end)) } }
            let ranges = seen.withLock { $0 }.sorted { $0.0.lowerBound < $1.0.lowerBound }
            XCTAssertEqual(ranges.first?.0.lowerBound, 0)
            XCTAssertEqual(ranges.last?.0.upperBound, count)
            for (a, b) in zip(ranges, ranges.dropFirst()) { XCTAssertEqual(a.0.upperBound, b.0.lowerBound, "count \(count)") }
            for (r, end) in ranges {
                XCTAssertTrue(end >= r.upperBound && end <= count, "count \(count): \(r) ends its stream at \(end)")
                XCTAssertTrue(r.count >= piece || r.upperBound == end, "count \(count): \(r) shorter than \(piece) mid-stream")
            }
            XCTAssertTrue(ranges.contains { $0.1 > $0.0.upperBound }, "count \(count): no range reads ahead into its stream")
            // Halving: a part of n items takes about log2(n / piece) claims, not n / piece.
            XCTAssertLessThanOrEqual(ranges.count, 2 * (Int(log2(Double(count) / Double(piece))) + 2) + 4, "count \(count)")
        }
    }

    /// A thread held up in its part (its first piece sleeps) loses the rest of that part to the
    /// other thread, which takes it from the back: the job ends about when the slow piece does.
    func testStreamsTakeFromASlowPart() throws {
        let pool = ThreadPool(threads: 2)
        let count = 400
        let runner = UnsafeMutablePointer<pthread_t>.allocate(capacity: count)
        defer { runner.deallocate() }
        let slept = Atomic<Bool>(false)
        pool.parallelStreams(count) { r, end in
            for i in r { runner[i] = pthread_self() }
            // Part 0's owner claims 0..<100 first (half its part, which ends at 200).
            if r == 0..<100 && end == 200 {
                slept.store(true, ordering: .relaxed)
                usleep(300_000)
            }
        }
        // A thread that took item 0 before the owner claimed (or a worker the host never ran in
        // 300 ms) leaves nothing to check: skip rather than fail.
        try XCTSkipUnless(slept.load(ordering: .relaxed), "part 0's first piece was not its owner's")
        let slow = runner[0]
        try XCTSkipIf((0..<count).allSatisfy { pthread_equal(runner[$0], slow) != 0 }, "the other thread never ran")
        let taken = (100..<200).filter { pthread_equal(runner[$0], slow) == 0 }.count
        XCTAssertGreaterThan(taken, 50, "the other thread took \(taken) of the slow part's last 100 items")
        XCTAssertTrue((200..<400).allSatisfy { pthread_equal(runner[$0], slow) == 0 }, "the slow thread ran part of the other part")
    }

    /// The generation wraps in its 16 bits (an unmasked 0x10000 matched no claim, so the caller of
    /// every 65,536th job did none of it); jobs across the wrap still cover their items.
    func testGenerationWraps() {
        XCTAssertEqual(ThreadPool.nextGeneration(ThreadPool.pack(gen: 0xFFFF, grain: 1, next: 0, count: 0)), 0)
        XCTAssertEqual(ThreadPool.nextGeneration(ThreadPool.pack(gen: 7, grain: 0, next: 3, count: 0)), 8)
        let pool = ThreadPool(threads: 2)
        let sum = Atomic<Int>(0)
        for k in 0..<70_000 {
            if k % 2 == 0 {
                pool.parallelStreams(6) { r, _ in sum.add(r.count, ordering: .relaxed) }
            } else {
                pool.parallelFor(4) { sum.add($0.count, ordering: .relaxed) }
            }
        }
        XCTAssertEqual(sum.load(ordering: .relaxed), 35_000 * 6 + 35_000 * 4)
    }

    func testNestedStreamsRunInline() {
        let pool = ThreadPool(threads: 2)
        let total = Atomic<Int>(0), whole = Atomic<Int>(0)
        pool.parallelFor(8) { r in
            for _ in r {
                pool.parallelStreams(10) { range, end in
                    total.add(range.count, ordering: .relaxed)
                    if range == 0..<10 && end == 10 { whole.add(1, ordering: .relaxed) }
                }
            }
        }
        XCTAssertEqual(total.load(ordering: .relaxed), 80)
        XCTAssertEqual(whole.load(ordering: .relaxed), 8, "a nested stream job is one call over the whole count")
    }

    /// Many tiny stream and plain jobs interleaved, then the pool is freed.
    func testManySmallStreamJobsAndShutdown() {
        var pool: ThreadPool? = ThreadPool(threads: 3)
        let sum = Atomic<Int>(0)
        for k in 0..<20_000 {
            pool?.parallelStreams(5 + k % 7) { r, _ in sum.add(r.count, ordering: .relaxed) }
            if k % 3 == 0 { pool?.parallelFor(4) { sum.add($0.count, ordering: .relaxed) } }
        }
        let streams = (0..<20_000).reduce(0) { $0 + 5 + $1 % 7 }, plain = 4 * ((20_000 + 2) / 3)
        XCTAssertEqual(sum.load(ordering: .relaxed), streams + plain)
        usleep(200_000)
        pool = nil
    }
}
