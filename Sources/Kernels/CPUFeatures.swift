#if arch(x86_64)
import _Builtin_intrinsics.intel.cpuid
#endif
#if canImport(Glibc)
import Glibc
#endif
import CAMX
import CPrefetch

/// What the CPU running this process can execute, read once with cpuid, so the
/// AVX2 kernels are only ever called where they can run.
public enum CPUFeatures {
    /// What `-target-cpu haswell` (Package.swift's AVX2 flags) lets the compiler emit anywhere in
    /// KernelsAVX2, with the OS saving YMM state (XCR0): AVX2, FMA, F16C, and the scalar extensions
    /// haswell brings (BMI1 and BMI2, LZCNT, POPCNT, MOVBE, CMPXCHG16B, LAHF/SAHF). The kernels use
    /// pext/pdep (BMI2) on purpose and the compiler picks andn, shlx, bzhi (BMI1/2) on its own: a
    /// CPU or a VM that shows AVX2 without them would stop on an illegal instruction.
    public static let hasAVX2: Bool = {
        #if arch(x86_64)
        var a: UInt32 = 0, b: UInt32 = 0, c: UInt32 = 0, d: UInt32 = 0
        guard __get_cpuid(1, &a, &b, &c, &d) != 0 else { return false }
        let leaf1 = c
        guard __get_cpuid_count(7, 0, &a, &b, &c, &d) != 0 else { return false }
        let leaf7 = b
        guard __get_cpuid(0x8000_0001, &a, &b, &c, &d) != 0 else { return false }
        guard avx2Usable(leaf1ECX: leaf1, leaf7EBX: leaf7, extendedECX: c) else { return false }
        // cpuid reports AVX where the OS does not save YMM state (Linux turns AVX off that way,
        // e.g. against a CPU flaw without its microcode fix): XCR0 must have SSE and YMM.
        return jeton_xcr0() & 0x6 == 0x6
        #else
        return false
        #endif
    }()

    /// The AVX2 kernels' check on cpuid's registers: leaf 1 ECX, leaf 7 (subleaf 0) EBX and leaf
    /// 0x80000001 ECX. Apart from `hasAVX2` so tests can feed it CPUs this machine is not.
    public static func avx2Usable(leaf1ECX c: UInt32, leaf7EBX b: UInt32, extendedECX e: UInt32) -> Bool {
        let leaf1: [UInt32] = [12, 13, 22, 23, 27, 28, 29]  // FMA, CMPXCHG16B, MOVBE, POPCNT, OSXSAVE, AVX, F16C
        let leaf7: [UInt32] = [3, 5, 8]                     // BMI1, AVX2, BMI2
        let extended: [UInt32] = [0, 5]                     // LAHF/SAHF, LZCNT
        return leaf1.allSatisfy { c & (1 << $0) != 0 } && leaf7.allSatisfy { b & (1 << $0) != 0 }
            && extended.allSatisfy { e & (1 << $0) != 0 }
    }

    /// AVX-512 F, DQ, CD, BW, VL and VNNI (on top of AVX2), with the OS saving ZMM and mask state
    /// (XCR0 bits 5-7, read by CAMX's `jeton_xcr0`) and listing the flags in /proc/cpuinfo (Linux
    /// drops them where it keeps a feature off: clearcpuid, noxsave); elsewhere, no AVX-512.
    public static let hasAVX512VNNI: Bool = {
        #if arch(x86_64) && os(Linux)
        guard hasAVX2 else { return false }
        var a: UInt32 = 0, b: UInt32 = 0, c: UInt32 = 0, d: UInt32 = 0
        guard __get_cpuid_count(7, 0, &a, &b, &c, &d) != 0 else { return false }
        guard avx512Usable(leaf7EBX: b, leaf7ECX: c) else { return false }
        guard jeton_xcr0() & 0xE6 == 0xE6 else { return false }  // SSE, YMM, opmask, ZMM halves
        return ["avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl", "avx512_vnni"].allSatisfy(cpuinfoFlags.contains)
        #else
        return false
        #endif
    }()

    /// AVX-512 BF16 (cpuid leaf 7 subleaf 1, EAX bit 5; Zen 4, Zen 5, Cooper Lake, Sapphire Rapids)
    /// on top of AVX-512 VNNI, and listed by Linux: the attention may then sum values in bf16 pairs
    /// (`Attention.bestBackend`: not on Intel by default, never for float models).
    public static let hasAVX512BF16: Bool = {
        #if arch(x86_64) && os(Linux)
        guard hasAVX512VNNI else { return false }
        var a: UInt32 = 0, b: UInt32 = 0, c: UInt32 = 0, d: UInt32 = 0
        guard __get_cpuid_count(7, 0, &a, &b, &c, &d) != 0, a >= 1 else { return false }  // leaf 7's last subleaf
        guard __get_cpuid_count(7, 1, &a, &b, &c, &d) != 0, a & (1 << 5) != 0 else { return false }
        return cpuinfoFlags.contains("avx512_bf16")
        #else
        return false
        #endif
    }()

    /// The flags of /proc/cpuinfo's first processor (empty where it cannot be read).
    static let cpuinfoFlags: Set<String> = {
        guard let file = fopen("/proc/cpuinfo", "r") else { return [] }
        defer { fclose(file) }
        var line = [CChar](repeating: 0, count: 1 << 16)
        var flags: String?
        while flags == nil, fgets(&line, Int32(line.count), file) != nil {
            let s = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if s.hasPrefix("flags") { flags = s }
        }
        return Set((flags ?? "").split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).map(String.init))
    }()

    /// The AVX-512 kernels' check on cpuid leaf 7 (subleaf 0): F, DQ, CD, BW, VL (EBX) and VNNI
    /// (ECX), Cascade Lake's set. KernelsAVX512 is compiled for `znver4`, which has more (VBMI,
    /// BF16, GFNI, ...): Tests/cli/test_instruction_sets.py checks the compiled modules use none of
    /// it (BF16 only in the functions `hasAVX512BF16` guards). The compiler uses DQ on its own (kshiftrb, vxorps on zmm registers); every CPU with
    /// VNNI has DQ and CD, so the check turns none of them away.
    public static func avx512Usable(leaf7EBX b: UInt32, leaf7ECX c: UInt32) -> Bool {
        let ebx: [UInt32] = [16, 17, 28, 30, 31]  // F, DQ, CD, BW, VL
        return ebx.allSatisfy { b & (1 << $0) != 0 } && c & (1 << 11) != 0
    }

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

    /// How the generation kernels ask for weights they read once a token (`jeton_prefetch_stream`).
    public enum StreamPrefetch: String, Sendable {
        case nonTemporal = "nta"  // prefetchnta
        case intoL2 = "l2"        // prefetcht1
    }

    /// Non-temporal except on Intel: AMD's prefetchnta streamed Qwen 1.5B's packed weights 12-22%
    /// faster than prefetcht1 on Zen 5, while an Intel Xeon's fills L1 alone and holds a fill
    /// buffer a line until it arrives (Emerald Rapids, one thread: 6-10 GB/s against 16 with
    /// prefetcht1; Qwen 1.5B generated 17 t/s against 28). `JETON_STREAM_PREFETCH=nta|l2` chooses,
    /// to compare. Reading this hands the choice to the kernels (CPrefetch's variable):
    /// `MatMul.defaultBackend` and `ReadBandwidth` read it, so the forward pass and the probe run
    /// with it (kernels called with an explicit backend before either, as tests do, stream
    /// non-temporally: the same bits).
    public static let streamPrefetch: StreamPrefetch = {
        let setting = getenv("JETON_STREAM_PREFETCH").map { String(cString: $0) }
        let choice = streamPrefetch(vendor: vendor, setting: setting)
        jeton_set_stream_hint(choice == .intoL2 ? 1 : 0)
        return choice
    }()

    /// The choice for a CPU vendor (cpuid leaf 0's string) and the environment's setting (nil,
    /// or an unknown value: by vendor). Apart from `streamPrefetch` so tests can feed it others.
    public static func streamPrefetch(vendor: String, setting: String?) -> StreamPrefetch {
        if let setting, let chosen = StreamPrefetch(rawValue: setting.lowercased()) { return chosen }
        return isIntel(vendor) ? .intoL2 : .nonTemporal
    }

    /// Whether cpuid's vendor string is Intel's: the vendor the choices made by measurement on an
    /// Intel Xeon go by (`streamPrefetch`, `q4KTwoScaleProducts`, `Attention.tileBackend`).
    public static func isIntel(_ vendor: String) -> Bool { vendor == "GenuineIntel" }

    /// Whether the AVX-512 Q4_K kernel for 2-8 tokens (prompts, batches) meets a unit's scales in
    /// two products rather than a shift, a blend and one product: on Intel every 512-bit operation
    /// issues on the two ports that multiply (0 and 5), so one operation fewer a token and unit
    /// ran faster on an Emerald Rapids guest without AMX (Qwen 1.5B, alternated: pp512 +4-6%,
    /// pp128x16 +2-6%, tg32x16 +5%); where AMX runs Q4_K prompts, this is for batches of 2-8
    /// tokens a group and the tokens past AMX's last 16. AMD's Zen 4 and 5 shift and blend on pipes
    /// of their own. `JETON_Q4K_SCALES=products|blend` chooses, to compare.
    public static let q4KTwoScaleProducts = q4KTwoScaleProducts(vendor: vendor,
                                                                  setting: getenv("JETON_Q4K_SCALES").map { String(cString: $0) })

    /// The choice for a CPU vendor and the environment's setting ("products", "blend", any case;
    /// nil or anything else: by vendor). Apart so tests can feed it others.
    public static func q4KTwoScaleProducts(vendor: String, setting: String?) -> Bool {
        switch setting?.lowercased() {
        case "products": return true
        case "blend": return false
        default: return isIntel(vendor)
        }
    }

    /// cpuid leaf 0's vendor string ("GenuineIntel", "AuthenticAMD", ...; empty off x86).
    public static let vendor: String = {
        #if arch(x86_64)
        var a: UInt32 = 0, b: UInt32 = 0, c: UInt32 = 0, d: UInt32 = 0
        guard __get_cpuid(0, &a, &b, &c, &d) != 0 else { return "" }
        let bytes = [b, d, c].flatMap { r in (0..<4).map { UInt8(truncatingIfNeeded: r >> (8 * $0)) } }
        return String(decoding: bytes, as: UTF8.self)
        #else
        return ""
        #endif
    }()
}
