extension VectorOps {
    /// out = (x − mean) / √(var + eps) · weight + bias over n elements (BERT's LayerNorm;
    /// bias may be nil). Sums in Double as ggml's norm does, so long rows lose nothing.
    public static func layerNorm(_ x: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                                 _ out: UnsafeMutablePointer<Float>, _ n: Int, eps: Float) {
        var sum = 0.0
        for i in 0..<n { sum += Double(x[i]) }
        let mean = Float(sum / Double(n))
        var sq = 0.0
        for i in 0..<n { let d = Double(x[i] - mean); sq += d * d }
        let scale = Float(1 / (sq / Double(n) + Double(eps)).squareRoot())
        if let bias {
            for i in 0..<n { out[i] = (x[i] - mean) * scale * weight[i] + bias[i] }
        } else {
            for i in 0..<n { out[i] = (x[i] - mean) * scale * weight[i] }
        }
    }

    /// v ← v / ‖v‖₂ (a zero vector stays zero).
    public static func l2Normalize(_ v: UnsafeMutablePointer<Float>, _ n: Int) {
        var s = 0.0
        for i in 0..<n { s += Double(v[i]) * Double(v[i]) }
        guard s > 0 else { return }
        let inv = Float(1 / s.squareRoot())
        for i in 0..<n { v[i] *= inv }
    }
}
