#if canImport(Glibc)
import Glibc
#endif

/// Gives the C heap's free pages back to the system. A forward pass frees its activations at its
/// end (two 18 MB FFN buffers for a 512-token prompt of Qwen2.5-Coder-1.5B), but glibc raises its
/// mapping threshold to the size of any mapped block freed, so from the second pass on they come
/// from the heap and stay resident once free: `jeton bench --parallel 16 -p 130` on the 1.5B ended
/// 110 MiB over file and KV cache (issue 13 allows 64). Trimming when the work is done (the
/// engine idle, a benchmark's run over) keeps the passes fast, their buffers reused without page
/// faults while requests run: a fixed 1 MiB threshold instead, buffers mapped and unmapped each
/// pass, cost 3-12% of pp512 in page faults.
public enum HeapTrim {
    /// Returns whether the C library trimmed (glibc's `malloc_trim`; elsewhere nothing happens).
    @discardableResult
    public static func releaseFreeMemory() -> Bool {
        #if canImport(Glibc)
        // `malloc_trim` is declared in <malloc.h>, which the Glibc module leaves out: looked up by name.
        guard let trim = function else { return false }
        return trim(0) == 1
        #else
        return false
        #endif
    }

    #if canImport(Glibc)
    private typealias Trim = @convention(c) (Int) -> Int32
    private static let function: Trim? = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim")
        .map { unsafeBitCast($0, to: Trim.self) }
    #endif
}
