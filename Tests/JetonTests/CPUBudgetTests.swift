import Foundation
import XCTest
@testable import Jeton

/// Threads default to the CPUs a cgroup quota allows (containers' CPU limits), read from fake
/// cgroup trees laid out as Linux mounts them (v2 unified, v1 cpu controller).
final class CPUBudgetTests: CgroupFixture {
    func cpus(online: Int) -> Int { CPUBudget.cpus(online: online, root: root + "/fs", cgroupFile: root + "/self-cgroup") }

    func testCgroupV2TakesTheSmallestLimitAlongThePath() throws {
        try write("self-cgroup", "0::/kubepods/pod1/c1\n")
        try write("fs/kubepods/pod1/cpu.max", "150000 100000\n")
        try write("fs/kubepods/pod1/c1/cpu.max", "max 100000\n")
        XCTAssertEqual(cpus(online: 8), 2)  // 1.5 CPUs: two threads, the second throttled part time
        XCTAssertEqual(cpus(online: 1), 1)
        try write("fs/kubepods/pod1/c1/cpu.max", "100000 100000\n")
        XCTAssertEqual(cpus(online: 8), 1)
    }

    func testCgroupV2InsideANamespaceReadsTheRoot() throws {
        try write("self-cgroup", "0::/\n")
        try write("fs/cpu.max", "400000 100000\n")
        XCTAssertEqual(cpus(online: 64), 4)
        try write("fs/cpu.max", "max 100000\n")
        XCTAssertEqual(cpus(online: 64), 64)
    }

    func testCgroupV1CPUController() throws {
        try write("self-cgroup", "7:memory:/docker/abc\n5:cpu,cpuacct:/docker/abc\n")
        try write("fs/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "-1\n")
        try write("fs/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n")
        try write("fs/cpu,cpuacct/docker/cpu.cfs_quota_us", "300000\n")
        try write("fs/cpu,cpuacct/docker/cpu.cfs_period_us", "100000\n")
        XCTAssertEqual(cpus(online: 64), 3)
        XCTAssertEqual(cpus(online: 2), 2)
    }

    func testNoCgroupOrNoLimitIsEveryOnlineCPU() throws {
        XCTAssertEqual(cpus(online: 6), 6)  // no /proc/self/cgroup
        try write("self-cgroup", "0::/user.slice\n")
        XCTAssertEqual(cpus(online: 6), 6)  // no cpu.max anywhere
        XCTAssertGreaterThanOrEqual(CPUBudget.cpus, 1)
    }
}
