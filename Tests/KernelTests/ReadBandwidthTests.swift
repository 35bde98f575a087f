import XCTest
@testable import Kernels
#if arch(x86_64)
import KernelsAVX2
import KernelsAVX512
#endif

final class ReadBandwidthTests: XCTestCase {
    /// The probe's read loops touch every line they are given, with and without the lines asked
    /// for ahead: each returns the XOR of all lines (whole groups of 4; the probe's lengths are).
    func testReadLoopsXorEveryLine() {
        for n in [4, 64, 68, 132, 136, 4096] {
            let lines = UnsafeMutablePointer<SIMD16<UInt32>>.allocate(capacity: n)
            defer { lines.deallocate() }
            var state: UInt32 = 0x9E37_79B9
            var expected = SIMD16<UInt32>()
            for i in 0..<n {
                var v = SIMD16<UInt32>()
                for k in 0..<16 {
                    state ^= state << 13; state ^= state >> 17; state ^= state << 5
                    v[k] = state
                }
                lines[i] = v
                expected ^= v
            }
            for ahead in ReadBandwidth.aheads {
                XCTAssertEqual(ReadBandwidth.readLines(lines, n, ahead: ahead), expected, "n \(n) ahead \(ahead)")
                #if arch(x86_64)
                if CPUFeatures.hasAVX2 {
                    XCTAssertEqual(AVX2Read.xorLines(UnsafeRawPointer(lines), n, ahead: ahead), expected, "AVX2 n \(n) ahead \(ahead)")
                }
                if CPUFeatures.hasAVX512VNNI {
                    XCTAssertEqual(AVX512Read.xorLines(UnsafeRawPointer(lines), n, ahead: ahead), expected, "AVX-512 n \(n) ahead \(ahead)")
                }
                #endif
            }
        }
    }

    /// `beside` runs the body once per run, in order, each before its probe, and gives a rate per run.
    func testBesideProbesAfterEachRun() {
        var calls: [Int] = []
        let rates = ReadBandwidth.beside(pool: ThreadPool(threads: 2), runs: 3, bytes: 64 << 20, rounds: 1) { calls.append($0) }
        XCTAssertEqual(calls, [0, 1, 2])
        XCTAssertEqual(rates.count, 3)
        for rate in rates { XCTAssertTrue(rate.isFinite && rate > 1e8, "\(rate)") }
    }

    /// A measurement is a finite, positive rate (a buffer past the caches is read whole).
    func testMeasureGivesAPositiveRate() {
        let rate = ReadBandwidth.measure(pool: ThreadPool(threads: 2), bytes: 64 << 20, rounds: 1)
        XCTAssertTrue(rate.isFinite)
        XCTAssertGreaterThan(rate, 1e8)
    }

    /// The probe's and the packed copies' buffers (`HugePages`) span whole 2 MiB pages, all asked
    /// for as huge pages (a precedence slip once asked for 0 bytes, and the probe read 4 KiB pages
    /// for five days), 2 MiB aligned.
    func testHugePagesCoverTheBuffer() {
        XCTAssertEqual(HugePages.whole(1 << 30), 1 << 30)
        XCTAssertEqual(HugePages.whole((1 << 30) + 4096), (1 << 30) + (1 << 21))
        XCTAssertEqual(HugePages.whole((3 << 21) - 1), 3 << 21)
        XCTAssertEqual(HugePages.whole(64), 1 << 21)
        XCTAssertEqual(HugePages.whole(0), 0)
        let p = HugePages.allocate(bytes: 3 << 20)
        defer { p.deallocate() }
        XCTAssertEqual(Int(bitPattern: p) & ((1 << 21) - 1), 0)
        p.storeBytes(of: 1, toByteOffset: (4 << 20) - 8, as: Int.self)  // the whole of two huge pages is ours
        #if os(Linux)
        // The advice reached the kernel for the whole span: the mappings holding its first and last
        // bytes carry the huge-page flag ("hg") in /proc/self/smaps.
        for a in [Int(bitPattern: p), Int(bitPattern: p) + (4 << 20) - 1] {
            let flags = Self.vmFlags(containing: a)
            XCTAssertNotNil(flags)
            XCTAssertTrue(flags?.split(separator: " ").contains("hg") ?? false, "\(String(a, radix: 16)): \(flags ?? "")")
        }
        #endif
    }

    /// The VmFlags of the mapping holding address `a`, from /proc/self/smaps.
    static func vmFlags(containing a: Int) -> String? {
        // Read a line at a time: /proc files report a size of 0, which whole-file readers trust.
        guard let f = fopen("/proc/self/smaps", "r") else { return nil }
        defer { fclose(f) }
        var lines: [String] = []
        var buf: UnsafeMutablePointer<CChar>?, cap = 0
        defer { free(buf) }
        while getline(&buf, &cap, f) > 0, let b = buf { lines.append(String(cString: b).trimmingCharacters(in: .newlines)) }
        var inside = false
        for line in lines {
            if let dash = line.firstIndex(of: "-"), let space = line.firstIndex(of: " "), dash < space,
               let lo = Int(line[..<dash], radix: 16), let hi = Int(line[line.index(after: dash)..<space], radix: 16) {
                inside = lo <= a && a < hi
            } else if inside && line.hasPrefix("VmFlags:") {
                return line.dropFirst("VmFlags:".count).trimmingCharacters(in: .whitespaces)
            }
        }
        return nil
    }
}
