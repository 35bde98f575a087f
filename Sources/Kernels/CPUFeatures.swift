#if arch(x86_64)
import _Builtin_intrinsics.intel.cpuid
#endif
#if canImport(Glibc)
import Glibc
#endif
import CAMX

/// What the CPU running this process can execute, read once with cpuid, so the
/// AVX2 kernels are only ever called where they can run.
public enum CPUFeatures {
    /// AVX2 and FMA (and F16C, which every AVX2 CPU has) with the OS saving YMM state.
    public static let hasAVX2: Bool = {
        #if arch(x86_64)
        var a: UInt32 = 0, b: UInt32 = 0, c: UInt32 = 0, d: UInt32 = 0
        guard __get_cpuid(1, &a, &b, &c, &d) != 0 else { return false }
        let fma = c & (1 << 12) != 0, osxsave = c & (1 << 27) != 0, avx = c & (1 << 28) != 0, f16c = c & (1 << 29) != 0
        guard fma, osxsave, avx, f16c else { return false }
        guard __get_cpuid_count(7, 0, &a, &b, &c, &d) != 0 else { return false }
        return b & (1 << 5) != 0
        #else
        return false
        #endif
    }()

    /// AVX-512 F, BW, VL and VNNI (on top of AVX2), with the OS saving ZMM and mask state.
    /// `xgetbv` is a clang macro Swift cannot import, so the XCR0 check (bits 5-7) is
    /// Linux's: the kernel drops the avx512 flags from /proc/cpuinfo when it does not
    /// enable that state (noxsave, clearcpuid, old kernels); elsewhere, no AVX-512.
    public static let hasAVX512VNNI: Bool = {
        #if arch(x86_64) && os(Linux)
        guard hasAVX2 else { return false }
        var a: UInt32 = 0, b: UInt32 = 0, c: UInt32 = 0, d: UInt32 = 0
        guard __get_cpuid_count(7, 0, &a, &b, &c, &d) != 0 else { return false }
        let f = b & (1 << 16) != 0, bw = b & (1 << 30) != 0, vl = b & (1 << 31) != 0, vnni = c & (1 << 11) != 0
        guard f, bw, vl, vnni else { return false }
        guard let file = fopen("/proc/cpuinfo", "r") else { return false }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 1 << 16)
        var flags: String?
        while flags == nil, fgets(&line, Int32(line.count), file) != nil {
            let s = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if s.hasPrefix("flags") { flags = s }
        }
        guard let flags else { return false }
        let set = Set(flags.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init))
        return ["avx512f", "avx512bw", "avx512vl", "avx512_vnni"].allSatisfy(set.contains)
        #else
        return false
        #endif
    }()

    /// AMX tiles with int8 products (Sapphire Rapids and later), on top of AVX-512 VNNI, and
    /// Linux's permission for this process to use the tile state (asked for here, once). The
    /// batched Q4_K kernel then multiplies tiles (`AMXKQuantPacked`); `JETON_AMX=0` in the
    /// environment keeps the VNNI kernels, to compare the two.
    public static let hasAMX: Bool = {
        #if arch(x86_64) && os(Linux)
        guard hasAVX512VNNI else { return false }
        if let value = getenv("JETON_AMX"), String(cString: value) == "0" { return false }
        var a: UInt32 = 0, b: UInt32 = 0, c: UInt32 = 0, d: UInt32 = 0
        guard __get_cpuid_count(7, 0, &a, &b, &c, &d) != 0 else { return false }
        let tile = d & (1 << 24) != 0, int8 = d & (1 << 25) != 0
        guard tile, int8 else { return false }
        return jeton_amx_request() == 0
        #else
        return false
        #endif
    }()
}
