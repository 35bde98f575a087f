#if canImport(Glibc)
import Glibc
#endif
#if arch(x86_64)
import KernelsAVX2
import KernelsAVX512
import CPrefetch
#endif

/// The machine's memory read bandwidth as the kernels see it: `threads` threads (the
/// pool's) each read their share of a buffer far larger than the caches, with
/// vector loads and nothing else (plain, and with lines prefetched ahead; the fastest
/// counts). The ceiling for generation, which reads every weight once per token.
public enum ReadBandwidth {
    /// The read-ahead distances a pass tries, in bytes (0: plain loads): the generation kernels'
    /// 4 KiB (groups of 2-8 tokens; 5-8 on Intel) and 8 KiB (one token; up to 4 on Intel). At 4 KiB
    /// alone the probe read less than the one-token kernels on the Zen 4 (35.1 GB/s against
    /// 36.7-40.3), which flattered shares.
    static let aheads = [0, Int(JETON_STREAM_GROUP_BYTES), Int(JETON_STREAM_ONE_TOKEN_BYTES)]

    /// Bytes per second, best of `rounds` passes over `bytes` bytes with plain loads and as many
    /// with lines prefetched at each distance of `aheads` (the way the kernels read; faster on
    /// some machines).
    public static func measure(pool: ThreadPool, bytes: Int = 1 << 30, rounds: Int = 5) -> Double {
        beside(pool: pool, runs: 1, bytes: bytes, rounds: rounds) { _ in }[0]
    }

    /// Runs `body(i)` for i in 0..<runs and measures the bandwidth (as `measure`) right after each
    /// run, over one buffer allocated once: on a shared machine whose bandwidth drifts by tens of
    /// percent within a minute, a rate measured in a run is set against the bandwidth of its own
    /// moment rather than of another one.
    public static func beside(pool: ThreadPool, runs: Int, bytes: Int = 1 << 30, rounds: Int = 2,
                              _ body: (Int) throws -> Void) rethrows -> [Double] {
        let count = bytes / 64
        // [count] 64-byte lines, on huge pages as the packed weights are (PackedWeights): with
        // 4 KiB pages the same reads measured 5-12% slower here, which flattered every share.
        let raw = HugePages.allocate(bytes: count * 64)
        defer { raw.deallocate() }
        let buf = raw.bindMemory(to: SIMD16<UInt32>.self, capacity: count)
        // Touch every page so the pass measures reads, not page faults.
        pool.parallelFor(count, minChunk: 4096) { r in
            for i in r { buf[i] = SIMD16(repeating: UInt32(truncatingIfNeeded: i)) }
        }
        let chunks = pool.threads  // one contiguous stretch per thread, as a matrix-vector product reads
        var sink = SIMD16<UInt32>()
        var results: [Double] = []
        for run in 0..<runs {
            try body(run)
            var best = 0.0
            for round in 0..<(aheads.count * rounds) {
                let t0 = now()
                let partial = UnsafeMutablePointer<SIMD16<UInt32>>.allocate(capacity: chunks)
                pool.parallelFor(chunks) { r in
                    for c in r {
                        let lo = c * count / chunks, hi = (c + 1) * count / chunks
                        partial[c] = readLines(buf + lo, hi - lo, ahead: aheads[round % aheads.count])
                    }
                }
                let dt = now() - t0
                for c in 0..<chunks { sink ^= partial[c] }
                partial.deallocate()
                best = max(best, Double(count * 64) / dt)
            }
            results.append(best)
        }
        if sink == SIMD16(repeating: 0x1234_5678) { results[0] += 0 }  // keeps the loads
        return results
    }

    /// XOR of `n` 64-byte lines, with the widest loads the CPU has (`ahead`: see `measure`).
    static func readLines(_ p: UnsafePointer<SIMD16<UInt32>>, _ n: Int, ahead: Int) -> SIMD16<UInt32> {
        #if arch(x86_64)
        _ = CPUFeatures.streamPrefetch  // the ahead passes ask for lines as the kernels do
        if CPUFeatures.hasAVX512VNNI { return AVX512Read.xorLines(UnsafeRawPointer(p), n, ahead: ahead) }
        if CPUFeatures.hasAVX2 { return AVX2Read.xorLines(UnsafeRawPointer(p), n, ahead: ahead) }
        #endif
        var a = SIMD16<UInt32>(), b = a, d = a, e = a
        var i = 0
        while i + 4 <= n {
            a ^= p[i]; b ^= p[i + 1]; d ^= p[i + 2]; e ^= p[i + 3]
            i += 4
        }
        return a ^ b ^ d ^ e
    }

    /// Monotonic seconds (also the int8 peak probe's clock).
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
