#if arch(x86_64)
import _Builtin_intrinsics.intel.cpuid
#endif

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
}
