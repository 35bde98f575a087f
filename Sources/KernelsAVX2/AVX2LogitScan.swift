#if arch(x86_64)
import _Builtin_intrinsics.intel

/// The scans of a token's logits that pick the rows a second, finer pass corrects
/// (Kernels/KQuantLogits), and the argmax of sampling (Kernels/LogitStats): a 152K vocabulary is
/// 600 KB a token, read several times per step, which Swift's generic SIMD comparisons compiled
/// without AVX made a tenth of a 16-sequence step (compiled here, with AVX2, they are vcmpps).
public enum AVX2LogitScan {
    /// The largest of y[0..<n] (NaN ignored; -infinity when n is 0).
    public static func maximum(_ y: UnsafePointer<Float>, _ n: Int) -> Float {
        var m0 = _mm256_set1_ps(-.infinity), m1 = m0
        var i = 0
        while i + 16 <= n {
            // maxps keeps the second operand when the first is NaN: the running maximum stays a number.
            m0 = _mm256_max_ps(_mm256_loadu_ps(y + i), m0)
            m1 = _mm256_max_ps(_mm256_loadu_ps(y + i + 8), m1)
            i += 16
        }
        let lanes = unsafeBitCast(_mm256_max_ps(m0, m1), to: SIMD8<Float>.self)
        var best = -Float.infinity
        for k in 0..<8 where lanes[k] > best { best = lanes[k] }
        while i < n {
            if y[i] > best { best = y[i] }
            i += 1
        }
        return best
    }

    /// The first i < n with y[i] == value, 16 at a time; n when there is none.
    public static func firstIndex(of value: Float, _ y: UnsafePointer<Float>, _ n: Int) -> Int {
        let raw = UnsafeRawPointer(y), v = SIMD8<Float>(repeating: value)
        var i = 0
        while i + 16 <= n {
            let a = raw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) .== v
            let b = raw.loadUnaligned(fromByteOffset: 4 * i + 32, as: SIMD8<Float>.self) .== v
            if any(a .| b) { break }
            i += 16
        }
        while i < n && y[i] != value { i += 1 }
        return i
    }

    /// Writes the indices of the 16-row tiles of y[0..<n] holding a value ≥ `threshold`, in
    /// ascending order, to `out`; returns how many.
    public static func tilesAtLeast(_ y: UnsafePointer<Float>, _ n: Int, _ threshold: Float, _ out: UnsafeMutablePointer<Int>) -> Int {
        let th = _mm256_set1_ps(threshold)
        var count = 0, t = 0
        while 16 * t + 16 <= n {
            // m − threshold has its sign bit clear where m ≥ threshold (x − x is +0).
            let m = _mm256_max_ps(_mm256_loadu_ps(y + 16 * t), _mm256_loadu_ps(y + 16 * t + 8))
            if _mm256_movemask_ps(_mm256_sub_ps(m, th)) != 0xFF {
                out[count] = t
                count += 1
            }
            t += 1
        }
        if 16 * t < n, (16 * t..<n).contains(where: { y[$0] >= threshold }) {
            out[count] = t
            count += 1
        }
        return count
    }
}
#endif
