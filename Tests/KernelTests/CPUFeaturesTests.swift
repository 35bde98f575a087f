import XCTest
@testable import Kernels
import CPrefetch
#if canImport(Glibc)
import Glibc
#endif

/// The checks that decide which SIMD kernels run: fed the cpuid registers of CPUs this machine
/// is not, and compared with what Linux reports for this one.
final class CPUFeaturesTests: XCTestCase {
    // A Haswell desktop's registers (leaf 1 ECX, leaf 7 EBX, leaf 0x80000001 ECX).
    let haswell1: UInt32 = 0x7FFA_FBBF, haswell7: UInt32 = 0x0000_27AB, haswellExt: UInt32 = 0x0000_0021

    func testAVX2NeedsEveryExtensionHaswellCodeMayUse() {
        XCTAssertTrue(CPUFeatures.avx2Usable(leaf1ECX: haswell1, leaf7EBX: haswell7, extendedECX: haswellExt))
        // Each one missing (as a VM may hide it) turns the AVX2 kernels off.
        let leaf1: [(String, UInt32)] = [("FMA", 12), ("CMPXCHG16B", 13), ("MOVBE", 22), ("POPCNT", 23), ("OSXSAVE", 27),
                                         ("AVX", 28), ("F16C", 29)]
        for (name, bit) in leaf1 {
            XCTAssertFalse(CPUFeatures.avx2Usable(leaf1ECX: haswell1 & ~(1 << bit), leaf7EBX: haswell7, extendedECX: haswellExt), name)
        }
        for (name, bit) in [("BMI1", UInt32(3)), ("AVX2", 5), ("BMI2", 8)] {
            XCTAssertFalse(CPUFeatures.avx2Usable(leaf1ECX: haswell1, leaf7EBX: haswell7 & ~(1 << bit), extendedECX: haswellExt), name)
        }
        for (name, bit) in [("LAHF/SAHF", UInt32(0)), ("LZCNT", 5)] {
            XCTAssertFalse(CPUFeatures.avx2Usable(leaf1ECX: haswell1, leaf7EBX: haswell7, extendedECX: haswellExt & ~(1 << bit)), name)
        }
    }

    func testAVX512NeedsDQAndCDBesidesVNNI() {
        // Cascade Lake: F, DQ, CD, BW, VL and VNNI.
        let ebx: UInt32 = 0xD39F_FFFB, ecx: UInt32 = 0x0000_0818
        XCTAssertTrue(CPUFeatures.avx512Usable(leaf7EBX: ebx, leaf7ECX: ecx))
        XCTAssertFalse(CPUFeatures.avx512Usable(leaf7EBX: ebx, leaf7ECX: ecx & ~(1 << 11)), "Skylake-SP: no VNNI")
        for (name, bit) in [("F", UInt32(16)), ("DQ", 17), ("CD", 28), ("BW", 30), ("VL", 31)] {
            XCTAssertFalse(CPUFeatures.avx512Usable(leaf7EBX: ebx & ~(1 << bit), leaf7ECX: ecx), name)
        }
    }

    /// This machine: the checks agree with the flags Linux lists in /proc/cpuinfo.
    func testTheChecksAgreeWithLinuxFlags() throws {
        #if arch(x86_64) && os(Linux)
        let text = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let line = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix("flags") })
        let flags = Set(line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" }).map(String.init))
        let avx2 = ["avx2", "fma", "f16c", "avx", "bmi1", "bmi2", "abm", "popcnt", "movbe", "cx16", "lahf_lm"]
            .allSatisfy(flags.contains)
        XCTAssertEqual(CPUFeatures.hasAVX2, avx2, "flags: \(flags.sorted())")
        let avx512 = avx2 && ["avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl", "avx512_vnni"].allSatisfy(flags.contains)
        XCTAssertEqual(CPUFeatures.hasAVX512VNNI, avx512)
        XCTAssertEqual(CPUFeatures.hasAVX512BF16, avx512 && flags.contains("avx512_bf16"))
        #else
        throw XCTSkip("reads Linux's /proc/cpuinfo on x86-64")
        #endif
    }
    /// Intel Xeons stream weights into L2 (their prefetchnta halved one thread's reads), every
    /// other vendor non-temporally; `JETON_STREAM_PREFETCH` overrides, in any case, and an unknown
    /// value falls back to the vendor's choice.
    func testStreamPrefetchByVendorAndSetting() {
        XCTAssertEqual(CPUFeatures.streamPrefetch(vendor: "GenuineIntel", setting: nil), .intoL2)
        XCTAssertEqual(CPUFeatures.streamPrefetch(vendor: "AuthenticAMD", setting: nil), .nonTemporal)
        XCTAssertEqual(CPUFeatures.streamPrefetch(vendor: "HygonGenuine", setting: nil), .nonTemporal)
        XCTAssertEqual(CPUFeatures.streamPrefetch(vendor: "", setting: nil), .nonTemporal)
        XCTAssertEqual(CPUFeatures.streamPrefetch(vendor: "GenuineIntel", setting: "nta"), .nonTemporal)
        XCTAssertEqual(CPUFeatures.streamPrefetch(vendor: "AuthenticAMD", setting: "L2"), .intoL2)
        XCTAssertEqual(CPUFeatures.streamPrefetch(vendor: "GenuineIntel", setting: "t0"), .intoL2)
        XCTAssertEqual(CPUFeatures.streamPrefetch(vendor: "AuthenticAMD", setting: ""), .nonTemporal)
    }

    /// Q4_K groups meet their scales in two products on Intel, with a shift and a blend elsewhere;
    /// `JETON_Q4K_SCALES` overrides in any case, an unknown value falls back to the vendor's choice,
    /// and this CPU's is that of its vendor and setting.
    func testQ4KScaleStepByVendorAndSetting() {
        XCTAssertTrue(CPUFeatures.q4KTwoScaleProducts(vendor: "GenuineIntel", setting: nil))
        XCTAssertFalse(CPUFeatures.q4KTwoScaleProducts(vendor: "AuthenticAMD", setting: nil))
        XCTAssertFalse(CPUFeatures.q4KTwoScaleProducts(vendor: "", setting: nil))
        XCTAssertFalse(CPUFeatures.q4KTwoScaleProducts(vendor: "GenuineIntel", setting: "Blend"))
        XCTAssertTrue(CPUFeatures.q4KTwoScaleProducts(vendor: "AuthenticAMD", setting: "products"))
        XCTAssertTrue(CPUFeatures.q4KTwoScaleProducts(vendor: "GenuineIntel", setting: "both"))
        XCTAssertFalse(CPUFeatures.q4KTwoScaleProducts(vendor: "AuthenticAMD", setting: ""))
        let setting = getenv("JETON_Q4K_SCALES").map { String(cString: $0) }
        XCTAssertEqual(CPUFeatures.q4KTwoScaleProducts, CPUFeatures.q4KTwoScaleProducts(vendor: CPUFeatures.vendor, setting: setting))
        XCTAssertTrue(CPUFeatures.isIntel("GenuineIntel"))
        XCTAssertFalse(CPUFeatures.isIntel("GenuineIotel"))
    }

    /// The choice reaches the kernels: once the backend is chosen, CPrefetch's variable (read by
    /// every `jeton_prefetch_stream`) says what `streamPrefetch` does, and the vendor is cpuid's.
    func testStreamPrefetchReachesTheKernels() throws {
        #if arch(x86_64)
        _ = MatMul.defaultBackend
        let hint = jeton_stream_hint()  // before anything else here reads `streamPrefetch`
        XCTAssertEqual(hint, CPUFeatures.streamPrefetch == .intoL2 ? 1 : 0)
        XCTAssertEqual(CPUFeatures.vendor.utf8.count, 12, CPUFeatures.vendor)
        let setting = getenv("JETON_STREAM_PREFETCH").map { String(cString: $0) }
        XCTAssertEqual(CPUFeatures.streamPrefetch, CPUFeatures.streamPrefetch(vendor: CPUFeatures.vendor, setting: setting))
        if setting == nil { XCTAssertEqual(hint, CPUFeatures.vendor == "GenuineIntel" ? 1 : 0, CPUFeatures.vendor) }
        #else
        throw XCTSkip("cpuid and the prefetch hints are x86-64's")
        #endif
    }
}
