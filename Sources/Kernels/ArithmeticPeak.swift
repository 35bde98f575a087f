#if arch(x86_64)
import KernelsAVX2
import KernelsAVX512
#endif

/// The machine's multiply-add rates as the prompt kernels see them: every thread of the pool
/// runs the kernels' own multiply-add instruction on registers only (int8: `vpdpbusd` with
/// AVX-512 VNNI, the `vpmaddubsw` step with AVX2; float: `vfmadd`). The ceiling for prompt
/// processing, which is compute-bound; nil without either instruction set. The instruction is that of the matmul
/// backend (`MatMul.defaultBackend`), so `JETON_KERNELS=avx2` on an AVX-512 machine measures
/// the AVX2 ceiling its prompts run under.
public enum ArithmeticPeak {
    /// Multiply-adds per second, best of `rounds` passes of about `seconds` each. `tiles`: the
    /// AMX tile unit's rate instead (nil without AMX), the ceiling where AMX serves prompts.
    public static func int8MACsPerSecond(pool: ThreadPool, tiles: Bool = false, seconds: Double = 0.2,
                                         rounds: Int = 3) -> Double? {
        #if arch(x86_64)
        let run: (Int) -> Int32, perIteration: Int
        if tiles {
            guard CPUFeatures.hasAMX else { return nil }
            run = AMXPeak.run
            perIteration = AMXPeak.macsPerIteration
        } else if CPUFeatures.hasAVX512VNNI && MatMul.defaultBackend == .avx512 {
            run = VNNIPeak.run
            perIteration = VNNIPeak.macsPerIteration
        } else if CPUFeatures.hasAVX2 && [.avx2, .avx512].contains(MatMul.defaultBackend) {
            run = AVX2Peak.run
            perIteration = AVX2Peak.macsPerIteration
        } else {
            return nil
        }
        return measure(run, perIteration, pool: pool, seconds: seconds, rounds: rounds)
        #else
        return nil
        #endif
    }

    /// Float multiply-adds per second (`vfmadd`, 16 floats with AVX-512, 8 with AVX2): the
    /// ceiling of a model of float weights' prompts (F16's kernels use `vfmadd`; F32 and BF16
    /// run the portable float path, whose share of it stays low).
    public static func floatMACsPerSecond(pool: ThreadPool, seconds: Double = 0.2, rounds: Int = 3) -> Double? {
        #if arch(x86_64)
        if CPUFeatures.hasAVX512VNNI && MatMul.defaultBackend == .avx512 {
            return measure(AVX512FMAPeak.run, AVX512FMAPeak.macsPerIteration, pool: pool, seconds: seconds, rounds: rounds)
        } else if CPUFeatures.hasAVX2 && [.avx2, .avx512].contains(MatMul.defaultBackend) {
            return measure(AVX2FMAPeak.run, AVX2FMAPeak.macsPerIteration, pool: pool, seconds: seconds, rounds: rounds)
        }
        return nil
        #else
        return nil
        #endif
    }

    /// The best of `rounds` passes of `run` on every thread of the pool, each about `seconds` long.
    private static func measure(_ run: (Int) -> Int32, _ perIteration: Int, pool: ThreadPool, seconds: Double,
                                rounds: Int) -> Double {
        // Sized from a short trial so a pass lasts about `seconds` on any machine.
        var iterations = 1 << 16
        let trial = ReadBandwidth.now()
        _ = run(iterations)
        let dt = max(ReadBandwidth.now() - trial, 1e-6)
        iterations = max(1 << 16, Int(Double(iterations) * seconds / dt))
        var best = 0.0
        var sink: Int32 = 0
        for _ in 0..<rounds {
            let t0 = ReadBandwidth.now()
            let threads = pool.threads
            let partial = UnsafeMutablePointer<Int32>.allocate(capacity: threads)
            pool.parallelFor(threads) { r in
                for i in r { partial[i] = run(iterations) }
            }
            let elapsed = ReadBandwidth.now() - t0
            for i in 0..<threads { sink &+= partial[i] }
            partial.deallocate()
            best = max(best, Double(threads * iterations * perIteration) / elapsed)
        }
        if sink == 0x1234_5678 { best += 0 }  // keeps the results
        return best
    }
}
