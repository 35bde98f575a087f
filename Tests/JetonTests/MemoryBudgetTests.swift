import Foundation
import XCTest
@testable import Jeton

/// The memory a KV cache may take: the machine's, capped by cgroup memory limits read from fake
/// cgroup trees (v2 unified, v1 memory controller); a cache that does not fit is refused with a message.
final class MemoryBudgetTests: CgroupFixture {
    func budget(physical: Int) -> Int { MemoryBudget.bytes(physical: physical, root: root + "/fs", cgroupFile: root + "/self-cgroup") }

    func testCgroupV2TakesTheSmallestLimitAlongThePath() throws {
        try write("self-cgroup", "0::/kubepods/pod1/c1\n")
        try write("fs/kubepods/pod1/memory.max", "1073741824\n")
        try write("fs/kubepods/pod1/c1/memory.max", "max\n")
        XCTAssertEqual(budget(physical: 8 << 30), 1 << 30)
        XCTAssertEqual(budget(physical: 512 << 20), 512 << 20, "the machine's memory when it is smaller")
        try write("fs/kubepods/pod1/c1/memory.max", "536870912\n")
        XCTAssertEqual(budget(physical: 8 << 30), 512 << 20)
    }

    func testCgroupV1AndNoLimit() throws {
        try write("self-cgroup", "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n")
        try write("fs/memory/docker/abc/memory.limit_in_bytes", "805306368\n")
        XCTAssertEqual(budget(physical: 8 << 30), 768 << 20)
        // v1's "no limit" is a huge page-counter value.
        try write("fs/memory/docker/abc/memory.limit_in_bytes", "9223372036854771712\n")
        XCTAssertEqual(budget(physical: 8 << 30), 8 << 30)
        try FileManager.default.removeItem(atPath: root + "/self-cgroup")
        XCTAssertEqual(budget(physical: 3 << 30), 3 << 30, "no cgroup file: the machine's memory")
    }

    func testACacheThatDoesNotFitIsRefusedWithAMessage() throws {
        XCTAssertNoThrow(try MemoryBudget.checkCache(bytes: 448 << 20, draftBytes: 0, tokens: 16384, budget: 1 << 30, resident: 500 << 20))
        XCTAssertThrowsError(try MemoryBudget.checkCache(bytes: 448 << 20, draftBytes: 192 << 20, tokens: 16384,
                                                         budget: 1 << 30, resident: 500 << 20)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("engine.cache_tokens 16384"), text)
            XCTAssertTrue(text.contains("448 MiB") && text.contains("192 MiB") && text.contains("524 MiB more"), text)
        }
    }
}
