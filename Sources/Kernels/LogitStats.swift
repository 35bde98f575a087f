import KernelsAVX2

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole-vocabulary passes over one token's logits for sampling and confidence: in AVX2 where the
/// CPU has it and the matmul backend uses it (the portable loops' results, bit for bit for input
/// without NaN; those loops, compiled without AVX, ran each 8-lane step as two SSE halves). With them
/// and a copy of the row, a greedy token measured for confidence took ~0.3 ms over Qwen's 152K
/// vocabulary: 4.7 ms between the forward passes of 16 sequences (a tenth of their step) while the
/// pool's workers waited; 1.1 ms with these and the in-place measure (Engine.sampleMeasuring).
public enum LogitStats {
    static let avx2: Bool = {
        #if arch(x86_64)
        return CPUFeatures.hasAVX2 && [.avx2, .avx512].contains(MatMul.defaultBackend)
        #else
        return false
        #endif
    }()

    /// The index of the first largest of x[0..<n]: NaN never wins, and 0 when nothing is above -infinity.
    public static func argmax(_ x: UnsafePointer<Float>, _ n: Int) -> Int {
        #if arch(x86_64)
        if avx2 {
            let m = AVX2LogitScan.maximum(x, n)
            guard m > -.infinity else { return 0 }
            return AVX2LogitScan.firstIndex(of: m, x, n)
        }
        #endif
        var best = 0, bv = -Float.infinity
        for i in 0..<n where x[i] > bv { bv = x[i]; best = i }
        return best
    }

    /// The largest of x[0..<n] (NaN ignored; -infinity when there is none).
    public static func maximum(_ x: UnsafePointer<Float>, _ n: Int) -> Float {
        #if arch(x86_64)
        if avx2 { return AVX2LogitScan.maximum(x, n) }
        #endif
        let raw = UnsafeRawPointer(x)
        var vmax = SIMD8<Float>(repeating: -.infinity)
        var i = 0
        while i + 8 <= n {
            let v = raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            vmax.replace(with: v, where: v .> vmax)
            i += 8
        }
        var m = vmax.max()
        while i < n { if x[i] > m { m = x[i] }; i += 1 }
        return m
    }

    /// With z = (x − m)·inv floored at −80 (e^−80 is nothing beside the best token's 1) and
    /// w = e^z: (Σw, Σw·z) over x[0..<n]. Lanes sum sixteen 8-lane chunks in Float, then into
    /// Double: a 150K vocabulary keeps log Σw to ~1e-7.
    public static func softmaxSums(_ x: UnsafePointer<Float>, _ n: Int, max m: Float, inverseTemperature inv: Float)
        -> (total: Double, weighted: Double) {
        var (total, weighted) = (0.0, 0.0)
        #if arch(x86_64)
        if avx2 { (total, weighted) = AVX2SoftmaxSums.sums(x, n, max: m, inverseTemperature: inv) } else {
            (total, weighted) = portableSums(x, n, max: m, inverseTemperature: inv)
        }
        #else
        (total, weighted) = portableSums(x, n, max: m, inverseTemperature: inv)
        #endif
        for i in (n / 8 * 8)..<n {
            let z = max((x[i] - m) * inv, -80)
            let w = expf(z)
            total += Double(w)
            weighted += Double(w * z)
        }
        return (total, weighted)
    }

    /// `softmaxSums` over x[0..<n / 8 · 8] in portable SIMD (`AVX2SoftmaxSums` repeats its steps).
    static func portableSums(_ x: UnsafePointer<Float>, _ n: Int, max m: Float, inverseTemperature inv: Float)
        -> (total: Double, weighted: Double) {
        let raw = UnsafeRawPointer(x)
        var total = 0.0, weighted = 0.0
        let vm = SIMD8<Float>(repeating: m), vi = SIMD8<Float>(repeating: inv)
        let floor = SIMD8<Float>(repeating: -80)
        var i = 0
        while i + 8 <= n {
            var sw = SIMD8<Float>(), swz = SIMD8<Float>()
            var k = 0
            while k < 16 && i + 8 <= n {
                var z = (raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) - vm) * vi
                // Masked tokens (-inf) would make 0·-inf: they have weight 0 and add nothing.
                z.replace(with: floor, where: z .< floor)
                let w = VectorOps.exp8(z)
                sw += w
                swz += w * z
                i += 8
                k += 1
            }
            total += Double(sw.sum())
            weighted += Double(swz.sum())
        }
        return (total, weighted)
    }
}
