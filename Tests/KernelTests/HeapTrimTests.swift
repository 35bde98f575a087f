#if canImport(Glibc)
import Glibc
import XCTest
@testable import Kernels

final class HeapTrimTests: XCTestCase {
    /// Resident memory in KiB (VmRSS).
    private func residentKiB() throws -> Int {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") })
        return try XCTUnwrap(Int(line.split(separator: " ").dropFirst().first { !$0.isEmpty } ?? ""))
    }

    /// A forward pass's buffers freed on the heap stay resident until trimmed: glibc's mapping
    /// threshold rises to a freed mapped block's size, so a 16 MiB block after a 24 MiB one comes
    /// from the heap, and its pages stay once it is free (the trim threshold rises too).
    func testFreedHeapBuffersGoBackToTheSystem() throws {
        let big = try XCTUnwrap(malloc(24 << 20))
        memset(big, 1, 24 << 20)
        free(big)
        let block = try XCTUnwrap(malloc(16 << 20))
        // glibc marks a block with a mapping of its own in its chunk header (size word, bit 2); a
        // fixed threshold (MALLOC_MMAP_THRESHOLD_, GLIBC_TUNABLES) maps this one, which free unmaps.
        let mapped = (block - 8).load(as: UInt.self) & 2 != 0
        if mapped { free(block) }
        try XCTSkipIf(mapped, "the allocator mapped the block: nothing stays on the heap to trim")
        memset(block, 1, 16 << 20)  // resident now
        // A small block after it keeps it from the heap's top, as a pass's later allocations do.
        let after = try XCTUnwrap(malloc(1 << 10))
        defer { free(after) }
        free(block)
        let before = try residentKiB()
        XCTAssertTrue(HeapTrim.releaseFreeMemory(), "glibc trimmed nothing")
        let trimmed = try residentKiB()
        XCTAssertGreaterThan(before - trimmed, 12 << 10, "RSS \(before) KiB before the trim, \(trimmed) after")
    }
}
#endif
