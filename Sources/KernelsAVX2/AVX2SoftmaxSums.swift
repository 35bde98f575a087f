#if arch(x86_64)
/// `LogitStats.portableSums` on 256-bit registers: the same steps (z = (l − m)·inv floored at −80,
/// w = exp8(z), sixteen 8-lane chunks summed in Float, then into Double), so the same bits for
/// input without NaN. The
/// portable loop, compiled without AVX, ran each 8-lane step as two SSE halves: about 0.2 ms a
/// token over a 152K vocabulary, beside a 3 ms step share of 16 sequences.
public enum AVX2SoftmaxSums {
    /// (Σw, Σw·z) over y[0..<n / 8 · 8]; the caller adds the tail.
    public static func sums(_ y: UnsafePointer<Float>, _ n: Int, max m: Float, inverseTemperature inv: Float)
        -> (total: Double, weighted: Double) {
        let raw = UnsafeRawPointer(y)
        var total = 0.0, weighted = 0.0
        let vm = SIMD8<Float>(repeating: m), vi = SIMD8<Float>(repeating: inv)
        let floor = SIMD8<Float>(repeating: -80)
        var i = 0
        while i + 8 <= n {
            var sw = SIMD8<Float>(), swz = SIMD8<Float>()
            var k = 0
            while k < 16 && i + 8 <= n {
                var z = (raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) - vm) * vi
                z.replace(with: floor, where: z .< floor)
                let w = AVX2Activation.exp8(z)
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
#endif
