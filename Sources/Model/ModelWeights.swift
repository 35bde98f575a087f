import GGUF
import Kernels

/// Views of a model's tensors in the mapped file, or in copies of its large matrices
/// (PackedWeights). Matrices stay quantized; the small norm and bias vectors are converted to
/// floats once.
public struct ModelWeights: Sendable {
    public struct Layer: Sendable {
        public let attnNorm: [Float]    // [dim]
        public let wq: WeightMatrix     // [qDim rows, dim cols]
        public let wk: WeightMatrix     // [kvDim, dim]
        public let wv: WeightMatrix     // [kvDim, dim]
        public let wo: WeightMatrix     // [dim, qDim]
        public let ffnNorm: [Float]     // [dim]
        public let wGate: WeightMatrix  // [ffnDim, dim]
        public let wUp: WeightMatrix    // [ffnDim, dim]
        public let wDown: WeightMatrix  // [dim, ffnDim]

        // Optional per-family pieces (see ModelArchitecture); nil when the file has none.
        public let qBias: [Float]?          // [qDim]   qwen2
        public let kBias: [Float]?          // [kvDim]  qwen2
        public let vBias: [Float]?          // [kvDim]  qwen2
        public let qNorm: [Float]?          // [headSize], applied to each query head (gemma3)
        public let kNorm: [Float]?          // [headSize], applied to each key head (gemma3)
        public let postAttnNorm: [Float]?   // [dim], on the attention output before the residual add (gemma3)
        public let postFFNNorm: [Float]?    // [dim], on the feed-forward output before the residual add (gemma3)
    }

    /// Keeps the mapping alive: every matrix below points into it.
    public let file: GGUFFile
    public let embedding: WeightMatrix  // [vocab, dim]
    public let layers: [Layer]
    public let outputNorm: [Float]      // [dim]
    public let output: WeightMatrix     // [vocab, dim], the embedding when tied
    /// The repacked copies some matrices carry for the fastest kernel (freed with the weights).
    public let packed: PackedWeights
    /// The output's first rows in Q4_0 (`Shrink`), read for the logits of those tokens.
    public let shrunkOutput: WeightMatrix?
    /// Whether `Shrink` made any Q4_0 copy (a file all in Q4_0 or narrower has none to make).
    public let shrunk: Bool

    /// For a draft model, which only proposes tokens: every layer matrix wider than Q4_0 is
    /// read as a Q4_0 copy, and so are the output's first `outputRows` rows (the tokens it
    /// scores for every position); the embedding stays as the file has it.
    public struct Shrink: Sendable {
        public var outputRows: Int
        public init(outputRows: Int) { self.outputRows = outputRows }
    }

    public init(file: GGUFFile, config c: ModelConfig, packing: PackedWeights = PackedWeights(), shrink: Shrink? = nil) throws {
        packed = packing
        var copies = 0
        func matrix(_ name: String, rows: Int, cols: Int, packed: Bool = true, logits: Bool = false) throws -> WeightMatrix {
            guard let info = file.tensorInfo(name) else { throw GGUFError.missingTensor(name) }
            guard info.dimensions == [cols, rows] else {
                throw ModelError.tensorShape(name: name, expected: [cols, rows], found: info.dimensions)
            }
            guard Dequantize.supports(info.type) else { throw ModelError.unsupportedTensorType(name: name, type: info.type) }
            guard info.type.byteCount(elements: cols) != nil else {
                throw ModelError.tensorShape(name: name, expected: [cols, rows], found: info.dimensions)
            }
            let plain = WeightMatrix(type: info.type, data: file.data(of: info), rows: rows, cols: cols)
            guard packed else { return plain }
            let requantize = shrink != nil && !logits && Requantize.shrinks(plain)
            if requantize { copies += 1 }
            let m = requantize ? packing.requantizedQ4_0(plain, rows: rows) : packing.pack(plain, logits: logits)
            // A packed or moved copy replaces the file's pages (a packed tied embedding's rows are
            // read from a 32-element copy, `WeightMatrix.copyRow`; from a K-quant one's file they
            // fault back in when looked up).
            if m.packed != nil || m.data != plain.data { file.adviseDontNeed(plain.data, bytes: plain.rows * plain.rowBytes) }
            return m
        }
        // A vector tensor is stored with one dimension; accept [n] and [n, 1].
        func vector(_ name: String, _ n: Int) throws -> [Float] {
            guard let info = file.tensorInfo(name) else { throw GGUFError.missingTensor(name) }
            guard info.dimensions == [n] || info.dimensions == [n, 1] else {
                throw ModelError.tensorShape(name: name, expected: [n], found: info.dimensions)
            }
            guard Dequantize.supports(info.type), info.type.byteCount(elements: n) != nil else {
                throw ModelError.unsupportedTensorType(name: name, type: info.type)
            }
            let m = WeightMatrix(type: info.type, data: file.data(of: info), rows: 1, cols: n)
            var out = [Float](repeating: 0, count: n)
            out.withUnsafeMutableBufferPointer { buf in
                if let p = buf.baseAddress { m.dequantizeRow(0, into: p) }
            }
            return out
        }
        func optionalVector(_ name: String, _ n: Int, required: Bool) throws -> [Float]? {
            guard required || file.tensorInfo(name) != nil else { return nil }
            return try vector(name, n)
        }

        self.file = file
        // The embedding is only looked up row by row: packed only when it is also the output projection.
        let tied = file.tensorInfo("output.weight") == nil
        // Shrunk, a tied output is read from its Q4_0 copy: the embedding stays in the file.
        let shrinksOutput = shrink != nil
            && file.tensorInfo(tied ? "token_embd.weight" : "output.weight").map { Requantize.shrinks($0.type, cols: c.dim) } == true
        embedding = try matrix("token_embd.weight", rows: c.vocabSize, cols: c.dim, packed: tied && !shrinksOutput, logits: tied)
        let gemma = c.family.hasQKNormAndPostNorms, biases = c.family.requiresQKVBiases
        var ls: [Layer] = []
        for i in 0..<c.layers {
            let p = "blk.\(i)."
            ls.append(Layer(
                attnNorm: try vector(p + "attn_norm.weight", c.dim),
                wq: try matrix(p + "attn_q.weight", rows: c.qDim, cols: c.dim),
                wk: try matrix(p + "attn_k.weight", rows: c.kvDim, cols: c.dim),
                wv: try matrix(p + "attn_v.weight", rows: c.kvDim, cols: c.dim),
                wo: try matrix(p + "attn_output.weight", rows: c.dim, cols: c.qDim),
                ffnNorm: try vector(p + "ffn_norm.weight", c.dim),
                wGate: try matrix(p + "ffn_gate.weight", rows: c.ffnDim, cols: c.dim),
                wUp: try matrix(p + "ffn_up.weight", rows: c.ffnDim, cols: c.dim),
                wDown: try matrix(p + "ffn_down.weight", rows: c.dim, cols: c.ffnDim),
                qBias: try optionalVector(p + "attn_q.bias", c.qDim, required: biases),
                kBias: try optionalVector(p + "attn_k.bias", c.kvDim, required: biases),
                vBias: try optionalVector(p + "attn_v.bias", c.kvDim, required: biases),
                qNorm: try optionalVector(p + "attn_q_norm.weight", c.headSize, required: gemma),
                kNorm: try optionalVector(p + "attn_k_norm.weight", c.headSize, required: gemma),
                postAttnNorm: try optionalVector(p + "post_attention_norm.weight", c.dim, required: gemma),
                postFFNNorm: try optionalVector(p + "post_ffw_norm.weight", c.dim, required: gemma)))
        }
        layers = ls
        outputNorm = try vector("output_norm.weight", c.dim)
        let out = tied ? embedding : try matrix("output.weight", rows: c.vocabSize, cols: c.dim, packed: !shrinksOutput, logits: true)
        output = out
        shrunkOutput = shrink.flatMap { s in
            guard shrinksOutput else { return nil }
            let rows = min(c.vocabSize, max(1, s.outputRows))
            defer { file.adviseDontNeed(out.data, bytes: rows * out.rowBytes) }  // read again only row by row
            return packing.requantizedQ4_0(out, rows: rows)
        }
        shrunk = copies > 0 || shrunkOutput != nil
    }

    /// Bytes of the weight matrices one token's forward pass reads: every layer matrix and
    /// the output projection (the embedding only gives one row per token).
    public var bytesReadPerToken: Int {
        let mats = layers.flatMap { [$0.wq, $0.wk, $0.wv, $0.wo, $0.wGate, $0.wUp, $0.wDown] } + [shrunkOutput ?? output]
        return mats.reduce(0) { $0 + $1.rows * $1.rowBytes }
    }

    /// Multiply-adds of the layer matrices for one prompt token (a prompt's logits are
    /// computed for its last token only; attention's own products are not counted).
    public var layerMACsPerToken: Int { layerMACsPerToken(of: nil) }

    /// Whether F16, BF16 and F32 matrices do most of the layers' multiply-adds (`jeton bench`'s
    /// float peak; attention's f32 value sums, `Attention.backend(floatWeights:)`).
    public var mostlyFloat: Bool { 2 * layerMACsPerToken(of: [.f16, .bf16, .f32]) > layerMACsPerToken }

    /// Of those, the multiply-adds of the matrices of these types (nil: all): which
    /// instruction does most of a prompt's work (`jeton bench`'s peak).
    public func layerMACsPerToken(of types: Set<GGMLType>?) -> Int {
        layers.flatMap { [$0.wq, $0.wk, $0.wv, $0.wo, $0.wGate, $0.wUp, $0.wDown] }
            .filter { types?.contains($0.type) ?? true }.reduce(0) { $0 + $1.rows * $1.cols }
    }
}
