import Foundation
import Kernels

/// The forward pass of a BERT-family encoder (`EncoderConfig`) over a packed batch of
/// token sequences of different lengths, ending in one mean-pooled, L2-normalized
/// vector per sequence. No KV cache: each call sees whole sequences, and attention
/// stays within each sequence, so a sequence's vector does not depend on its batch.
public final class EncoderModel: @unchecked Sendable {
    /// `fast`: F16×F32 SIMD kernels (quantized types go through `MatMul`); `reference`:
    /// every matmul as a Double dot product (`MatMul.reference`), the oracle for tests.
    public enum Precision: Sendable { case fast, reference }

    public let config: EncoderConfig
    public let weights: EncoderWeights
    public let pool: ThreadPool
    public let precision: Precision

    public init(config: EncoderConfig, weights: EncoderWeights, threads: Int, precision: Precision = .fast) {
        self.config = config
        self.weights = weights
        self.pool = ThreadPool(threads: threads)
        self.precision = precision
    }

    /// Unit vectors [sequences.count][dim], one per sequence of token ids (with their
    /// [CLS]/[SEP] already in place). Throws for an empty sequence, a sequence longer
    /// than the context, or an id outside the vocabulary.
    public func embed(_ sequences: [[Int32]]) throws -> [[Float]] {
        let c = config, d = c.dim
        var spans: [BidirectionalAttention.Span] = []
        var total = 0
        for s in sequences {
            guard !s.isEmpty else { throw ModelError.badHyperparameter("an input has no tokens") }
            guard s.count <= c.contextLength else { throw ModelError.contextOverflow(needed: s.count, limit: c.contextLength) }
            for t in s where t < 0 || Int(t) >= c.vocabSize { throw ModelError.invalidToken(t, vocabularySize: c.vocabSize) }
            spans.append(.init(start: total, length: s.count))
            total += s.count
        }
        guard total > 0 else { return [] }
        let ids = sequences.flatMap { $0 }
        let positions = sequences.flatMap { 0..<$0.count }
        let maxLen = spans.map(\.length).max() ?? 0

        let x = Buffer(total * d)                  // [T, dim] the residual stream
        let tmp = Buffer(total * d)                // [T, dim]
        let qkv = Buffer(total * 3 * d)            // [T, 3·dim] q | k | v
        let attn = Buffer(total * d)               // [T, dim]
        let up = Buffer(total * c.ffnDim)          // [T, ffnDim]
        let gate = Buffer(total * c.ffnDim)        // [T, ffnDim]
        let rope = c.family == .nomicBERT ? ropeTable(maxLen) : []  // [maxLen, headSize/2] (cos, sin)

        // Embeddings: token row + type row 0 (+ learned position), then LayerNorm.
        perToken(total) { t in
            let row = x.p + t * d, scratch = tmp.p + t * d
            weights.tokenEmbedding.dequantizeRow(Int(ids[t]), into: row)
            if let te = weights.typeEmbedding { for i in 0..<d { row[i] += te[i] } }
            if let pe = weights.positionEmbedding {
                pe.dequantizeRow(positions[t], into: scratch)
                for i in 0..<d { row[i] += scratch[i] }
            }
            layerNorm(row, weights.embedNorm, weights.embedNormBias)
        }

        for layer in weights.layers {
            // Attention: q | k | v, rotary on q and k, full attention per sequence, output projection.
            if layer.qkv.count == 1 {
                matmul(layer.qkv[0], x.p, total, qkv.p)
            } else {
                for (k, w) in layer.qkv.enumerated() {
                    matmul(w, x.p, total, tmp.p)
                    for t in 0..<total { (qkv.p + t * 3 * d + k * d).update(from: tmp.p + t * d, count: d) }
                }
            }
            if let b = layer.qkvBias { addBias(qkv.p, b, total) }
            if c.family == .nomicBERT {
                perToken(total) { t in
                    applyRope(qkv.p + t * 3 * d, rope, positions[t])      // q
                    applyRope(qkv.p + t * 3 * d + d, rope, positions[t])  // k
                }
            }
            BidirectionalAttention.attend(qkv: qkv.p, ld: 3 * d, heads: c.heads, headSize: c.headSize, spans: spans,
                                          out: attn.p, scale: 1 / Float(c.headSize).squareRoot(), pool: pool)
            matmul(layer.wo, attn.p, total, tmp.p)
            if let b = layer.woBias { addBias(tmp.p, b, total) }
            perToken(total) { t in
                let xr = x.p + t * d
                VectorOps.add(tmp.p + t * d, into: xr, d)
                layerNorm(xr, layer.attnNorm, layer.attnNormBias)
            }

            // Feed-forward: SwiGLU (nomic-bert) or GELU (bert), then the residual and LayerNorm.
            matmul(layer.wUp, x.p, total, up.p)
            if let b = layer.upBias { addBias(up.p, b, total) }
            if let wg = layer.wGate {
                matmul(wg, x.p, total, gate.p)
                perToken(total) { t in  // gate ← silu(gate) · up
                    FeedForwardActivation.silu.apply(gate.p + t * c.ffnDim, up.p + t * c.ffnDim, c.ffnDim)
                }
                matmul(layer.wDown, gate.p, total, tmp.p)
            } else {
                perToken(total) { t in gelu(up.p + t * c.ffnDim, c.ffnDim) }
                matmul(layer.wDown, up.p, total, tmp.p)
            }
            if let b = layer.downBias { addBias(tmp.p, b, total) }
            perToken(total) { t in
                let xr = x.p + t * d
                VectorOps.add(tmp.p + t * d, into: xr, d)
                layerNorm(xr, layer.outNorm, layer.outNormBias)
            }
        }

        // Mean over each sequence's tokens, then unit length.
        return spans.map { span in
            var v = [Float](repeating: 0, count: d)
            var acc = [Double](repeating: 0, count: d)
            for t in span.start..<(span.start + span.length) {
                let row = x.p + t * d
                for i in 0..<d { acc[i] += Double(row[i]) }
            }
            for i in 0..<d { v[i] = Float(acc[i] / Double(span.length)) }
            v.withUnsafeMutableBufferPointer { if let p = $0.baseAddress { VectorOps.l2Normalize(p, d) } }
            return v
        }
    }

    // MARK: - Steps

    private func matmul(_ w: WeightMatrix, _ x: UnsafePointer<Float>, _ n: Int, _ y: UnsafeMutablePointer<Float>) {
        switch precision {
        case .reference:
            MatMul.reference(w, x, nTokens: n, y)
        case .fast:
            if F16MatMul.supports(w) {
                F16MatMul.multiply(w, x, nTokens: n, y, pool: pool)
            } else {
                MatMul.multiply(w, x, nTokens: n, y, pool: pool)
            }
        }
    }

    /// body(t) for every token, split over the pool: these steps are per token (no sum
    /// across tokens), so splitting them changes no float, and run alone on one core they
    /// were a tenth of a batched pass's time beside the parallel matmuls.
    private func perToken(_ n: Int, _ body: (Int) -> Void) {
        pool.parallelFor(n, minChunk: 8) { range in for t in range { body(t) } }
    }

    private func layerNorm(_ row: UnsafeMutablePointer<Float>, _ w: [Float], _ b: [Float]) {
        w.withUnsafeBufferPointer { wp in
            b.withUnsafeBufferPointer { bp in
                guard let wb = wp.baseAddress, let bb = bp.baseAddress else { return }
                VectorOps.layerNorm(row, weight: wb, bias: bb, row, config.dim, eps: config.normEps)
            }
        }
    }

    private func addBias(_ y: UnsafeMutablePointer<Float>, _ b: [Float], _ n: Int) {
        let w = b.count
        perToken(n) { t in
            let r = y + t * w
            for i in 0..<w { r[i] += b[i] }
        }
    }

    /// cos and sin of position·base^(−2i/headSize), interleaved: [len, headSize/2, 2].
    private func ropeTable(_ len: Int) -> [Float] {
        let half = config.headSize / 2
        var out = [Float](repeating: 0, count: len * half * 2)
        for p in 0..<len {
            for i in 0..<half {
                let theta = Double(p) * pow(Double(config.ropeBase), -2.0 * Double(i) / Double(config.headSize))
                out[(p * half + i) * 2] = Float(cos(theta))
                out[(p * half + i) * 2 + 1] = Float(sin(theta))
            }
        }
        return out
    }

    /// NeoX rotary on every head of one token's [dim] q or k: pairs (i, i + headSize/2).
    private func applyRope(_ v: UnsafeMutablePointer<Float>, _ table: [Float], _ position: Int) {
        let hs = config.headSize, half = hs / 2
        let base = position * half * 2
        for h in 0..<config.heads {
            let x = v + h * hs
            for i in 0..<half {
                let cs = table[base + 2 * i], sn = table[base + 2 * i + 1]
                let a = x[i], b = x[i + half]
                x[i] = a * cs - b * sn
                x[i + half] = a * sn + b * cs
            }
        }
    }

    /// GELU with the tanh approximation (llama.cpp's ggml_gelu), in place.
    private func gelu(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n {
            let v = x[i]
            x[i] = 0.5 * v * (1 + tanhf(0.797_884_56 * v * (1 + 0.044_715 * v * v)))
        }
    }

    /// A float scratch buffer freed with its owner.
    private final class Buffer {
        let p: UnsafeMutablePointer<Float>
        init(_ n: Int) {
            p = .allocate(capacity: max(n, 1))
            p.initialize(repeating: 0, count: max(n, 1))
        }
        deinit { p.deallocate() }
    }
}
