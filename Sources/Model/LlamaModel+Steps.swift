import Kernels

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The per-family steps of the forward pass (see `ModelArchitecture`), kept apart
/// so `forward` reads as the llama pass with a few optional lines. Each does
/// nothing when its weights are absent.
extension LlamaModel {
    /// Gemma: token embeddings × √dim. x: [n, dim]
    func scaleEmbeddings(_ x: Buffer, _ n: Int) {
        guard let s = config.embeddingScale else { return }
        let p = x.p
        for i in 0..<(n * config.dim) { p[i] *= s }
    }

    /// Qwen2: y[t] += bias for each of n rows of `width`. y: [n, width]
    func addBias(_ bias: [Float]?, to y: Buffer, _ n: Int, width: Int) {
        guard let bias else { return }
        bias.withUnsafeBufferPointer { b in
            guard let bp = b.baseAddress, b.count == width else { return }
            for t in 0..<n { VectorOps.add(bp, into: y.p + t * width, width) }
        }
    }

    /// Gemma 3 QK-norm: RMSNorm of each head vector with one shared weight, in place.
    /// y: [n, heads, headSize], weight: [headSize]
    func normHeads(_ weight: [Float]?, _ y: Buffer, _ n: Int, heads: Int) {
        guard let weight else { return }
        let hs = config.headSize, eps = config.rmsEps
        weight.withUnsafeBufferPointer { w in
            guard let wp = w.baseAddress, w.count == hs else { return }
            for r in 0..<(n * heads) { VectorOps.rmsNorm(y.p + r * hs, wp, y.p + r * hs, hs, eps: eps) }
        }
    }

    /// Gemma 3 post-norms: RMSNorm of a sub-layer's output before it joins the
    /// residual stream, in place. y: [n, dim]
    func postNorm(_ weight: [Float]?, _ y: Buffer, _ n: Int) {
        guard let weight else { return }
        let dim = config.dim, eps = config.rmsEps
        weight.withUnsafeBufferPointer { w in
            guard let wp = w.baseAddress, w.count == dim else { return }
            for t in 0..<n { VectorOps.rmsNorm(y.p + t * dim, wp, y.p + t * dim, dim, eps: eps) }
        }
    }

    /// Gemma 2 style final soft-capping: cap · tanh(logit / cap). logits: [rows, vocab]
    func softcap(_ logits: inout [Float]) {
        guard let cap = config.finalLogitSoftcap else { return }
        let inv = 1 / cap
        // A token a draft does not score stays -infinity (tanh would make it -cap, proposable).
        for i in logits.indices where logits[i].isFinite { logits[i] = cap * tanhf(logits[i] * inv) }
    }

    /// The rotary embedding of a layer: sliding layers have their own base.
    static func ropes(for c: ModelConfig) -> (global: Rope, local: Rope) {
        (Rope(layout: c.ropeLayout, dimensions: c.ropeDims, base: c.ropeBase, freqScale: c.ropeFreqScale),
         Rope(layout: c.ropeLayout, dimensions: c.ropeDims, base: c.localRopeBase))
    }
}
