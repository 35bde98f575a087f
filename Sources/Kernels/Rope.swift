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
        let half = dimensions / 2
        for i in 0..<half {
            let theta = Float(position) * freqScale * invFreq[i]
            let c = cosf(theta), s = sinf(theta)
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
