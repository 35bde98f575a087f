import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Gives the C heap's free pages back to the system once the process has been quiet a while. A
/// forward pass frees its activations at its end (two 18 MB FFN buffers for a 512-token prompt of
/// Qwen2.5-Coder-1.5B), but glibc raises its mapping threshold to the size of any mapped block freed,
/// so from the second pass on they come from the heap and stay resident once free: `jeton bench
/// --parallel 16 -p 130` on the 1.5B ended 110 MiB over file and KV cache (issue 13 allows 64).
///
/// While passes follow one another their buffers are reused without page faults (a fixed 1 MiB
/// threshold instead, buffers mapped and unmapped each pass, cost 3-12% of pp512). The heap is one
/// for the process, so the components that run passes (the engine, the embedding batcher) say when
/// they work, and each one, after `quietSeconds` with nothing to do, trims only if no pass of any
/// of them ran or runs in that time (else it asks again after another quiet while): a client sending requests one after another does not fault
/// the buffers in again each time (a trim takes about 1 ms, faulting 36 MiB back about 13).
public enum HeapTrim {
    /// How long the process must be without passes before a trim.
    public static let quietSeconds = 1.0

    /// Trims `releaseIfQuiet` has made, for tests.
    public static var quietTrims: Int { trims.load(ordering: .relaxed) }

    private static let trims = Atomic<Int>(0)
    private static let working = Atomic<Int>(0)
    private static let lastWork = Atomic<UInt64>(0)  // uptime in ns when the last work ended

    /// A component starts a pass (or a step of passes).
    public static func workStarted() {
        working.add(1, ordering: .relaxed)
    }

    /// It ended.
    public static func workEnded() {
        lastWork.store(uptimeNanoseconds(), ordering: .relaxed)
        working.subtract(1, ordering: .relaxed)
    }

    /// Trims if no pass runs and none ended within `quietSeconds` (a tenth of it spared for the
    /// caller's timed wait, on another clock); returns whether the process was that quiet, so the
    /// caller knows to ask again later if not.
    @discardableResult
    public static func releaseIfQuiet() -> Bool {
        guard working.load(ordering: .relaxed) == 0,
              uptimeNanoseconds() &- lastWork.load(ordering: .relaxed) >= UInt64(0.9 * quietSeconds * 1e9) else { return false }
        trims.add(1, ordering: .relaxed)
        releaseFreeMemory()
        return true
    }

    /// Trims now (`jeton bench` after its run, alone in its process); returns whether the C library
    /// trimmed (glibc's `malloc_trim`; elsewhere nothing happens).
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
    private typealias Trim = @convention(c) (Int) -> Int32  // int malloc_trim(size_t pad)
    private static let function: Trim? = dlsym(nil, "malloc_trim").map { unsafeBitCast($0, to: Trim.self) }
    #endif

    private static func uptimeNanoseconds() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }
}
