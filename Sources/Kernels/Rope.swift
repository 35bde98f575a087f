#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Rotary position embedding. `normal` rotates adjacent pairs (x[2i], x[2i+1]) as
/// llama GGUFs expect (their Q/K rows are permuted at conversion); `neox` rotates
/// (x[i], x[i + d/2]) as Qwen2, Gemma and GPT-NeoX do.
public struct Rope: Sendable {
    public enum Layout: Sendable { case normal, neox }
    public let layout: Layout
    public let dimensions: Int      // rotated dims per head (≤ head size)
    public let base: Float
    public let freqScale: Float
    let invFreq: [Float]            // [dimensions / 2]

    public init(layout: Layout, dimensions: Int, base: Float, freqScale: Float = 1) {
        self.layout = layout
        self.dimensions = dimensions
        self.base = base
        self.freqScale = freqScale
        invFreq = (0..<dimensions / 2).map { i in
            Float(pow(Double(base), -2.0 * Double(i) / Double(dimensions)))
        }
    }

    /// Rotates `heads` vectors of `headSize` floats at x, all at `position`.
    public func apply(_ x: UnsafeMutablePointer<Float>, heads: Int, headSize: Int, position: Int) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: dimensions) { angles in
            self.angles(position: position, into: angles.baseAddress!)
            apply(x, heads: heads, headSize: headSize, angles: angles.baseAddress!)
        }
    }

    /// The cosine and sine of each rotated pair's angle at `position` ([dimensions / 2] pairs, cos
    /// then sin): made once per token and step, they serve q and k in every layer (computed per
    /// call, 256 cosf/sinf a layer of Qwen2.5-Coder-1.5B, they were ~1% of a token).
    public func angles(position: Int, into cs: UnsafeMutablePointer<Float>) {
        for i in 0..<dimensions / 2 {
            let theta = Float(position) * freqScale * invFreq[i]
            cs[2 * i] = cosf(theta)
            cs[2 * i + 1] = sinf(theta)
        }
    }

    /// Rotates `heads` vectors of `headSize` floats at x by `angles` (from `angles(position:into:)`).
    public func apply(_ x: UnsafeMutablePointer<Float>, heads: Int, headSize: Int, angles cs: UnsafePointer<Float>) {
        let half = dimensions / 2
        for i in 0..<half {
            let c = cs[2 * i], s = cs[2 * i + 1]
            for h in 0..<heads {
                let v = x + h * headSize
                let (a, b) = layout == .normal ? (2 * i, 2 * i + 1) : (i, i + half)
                let x0 = v[a], x1 = v[b]
                v[a] = x0 * c - x1 * s
                v[b] = x0 * s + x1 * c
            }
        }
    }
}
