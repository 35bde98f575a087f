import GGUF
import Kernels

/// Views of an encoder's tensors in the mapped file (`EncoderConfig` families). Matrices
/// stay as stored (F16 for nomic-embed-text); vectors are converted to floats once.
public struct EncoderWeights: @unchecked Sendable {
    public struct Layer: @unchecked Sendable {
        /// Q, K and V: one fused [3·dim, dim] matrix, or three [dim, dim] ones.
        public let qkv: [WeightMatrix]
        public let qkvBias: [Float]?       // [3·dim]
        public let wo: WeightMatrix        // [dim, dim]
        public let woBias: [Float]?        // [dim]
        public let attnNorm: [Float]       // [dim], after the attention residual
        public let attnNormBias: [Float]   // [dim]
        public let wUp: WeightMatrix       // [ffnDim, dim]
        public let upBias: [Float]?        // [ffnDim]
        public let wGate: WeightMatrix?    // [ffnDim, dim], SwiGLU (nomic-bert)
        public let wDown: WeightMatrix     // [dim, ffnDim]
        public let downBias: [Float]?      // [dim]
        public let outNorm: [Float]        // [dim], after the feed-forward residual
        public let outNormBias: [Float]    // [dim]
    }

    /// Keeps the mapping alive: every matrix points into it.
    public let file: GGUFFile
    public let tokenEmbedding: WeightMatrix    // [vocab, dim]
    public let typeEmbedding: [Float]?         // [dim]: row 0 ("sentence A"), added to every token
    public let positionEmbedding: WeightMatrix?  // [context, dim] (bert)
    public let embedNorm: [Float]              // [dim]
    public let embedNormBias: [Float]          // [dim]
    public let layers: [Layer]

    public init(file: GGUFFile, config c: EncoderConfig) throws {
        self.file = file
        func matrix(_ name: String, rows: Int, cols: Int) throws -> WeightMatrix {
            guard let info = file.tensorInfo(name) else { throw GGUFError.missingTensor(name) }
            guard info.dimensions == [cols, rows] else {
                throw ModelError.tensorShape(name: name, expected: [cols, rows], found: info.dimensions)
            }
            guard Dequantize.supports(info.type), info.type.byteCount(elements: cols) != nil else {
                throw ModelError.unsupportedTensorType(name: name, type: info.type)
            }
            return WeightMatrix(type: info.type, data: file.data(of: info), rows: rows, cols: cols)
        }
        func optionalMatrix(_ name: String, rows: Int, cols: Int) throws -> WeightMatrix? {
            file.tensorInfo(name) == nil ? nil : try matrix(name, rows: rows, cols: cols)
        }
        func vector(_ name: String, _ n: Int) throws -> [Float] {
            guard let info = file.tensorInfo(name) else { throw GGUFError.missingTensor(name) }
            guard info.dimensions == [n] || info.dimensions == [n, 1] else {
                throw ModelError.tensorShape(name: name, expected: [n], found: info.dimensions)
            }
            return try row(name, of: WeightMatrix(type: info.type, data: file.data(of: info), rows: 1, cols: n), 0)
        }
        func optionalVector(_ name: String, _ n: Int) throws -> [Float]? {
            file.tensorInfo(name) == nil ? nil : try vector(name, n)
        }
        func row(_ name: String, of m: WeightMatrix, _ r: Int) throws -> [Float] {
            guard Dequantize.supports(m.type), m.type.byteCount(elements: m.cols) != nil else {
                throw ModelError.unsupportedTensorType(name: name, type: m.type)
            }
            var out = [Float](repeating: 0, count: m.cols)
            out.withUnsafeMutableBufferPointer { if let p = $0.baseAddress { m.dequantizeRow(r, into: p) } }
            return out
        }

        let d = c.dim
        tokenEmbedding = try matrix("token_embd.weight", rows: c.vocabSize, cols: d)
        if let info = file.tensorInfo("token_types.weight") {
            guard info.dimensions.count == 2, info.dimensions[0] == d, info.dimensions[1] >= 1 else {
                throw ModelError.tensorShape(name: info.name, expected: [d, 2], found: info.dimensions)
            }
            let m = WeightMatrix(type: info.type, data: file.data(of: info), rows: info.dimensions[1], cols: d)
            typeEmbedding = try row(info.name, of: m, 0)
        } else {
            typeEmbedding = nil
        }
        positionEmbedding = c.family == .bert ? try matrix("position_embd.weight", rows: c.contextLength, cols: d) : nil
        embedNorm = try vector("token_embd_norm.weight", d)
        embedNormBias = try vector("token_embd_norm.bias", d)

        var layers: [Layer] = []
        for i in 0..<c.layers {
            let p = "blk.\(i)."
            let qkv: [WeightMatrix]
            let qkvBias: [Float]?
            if let fused = try optionalMatrix(p + "attn_qkv.weight", rows: 3 * d, cols: d) {
                qkv = [fused]
                qkvBias = try optionalVector(p + "attn_qkv.bias", 3 * d)
            } else {
                qkv = try ["attn_q", "attn_k", "attn_v"].map { try matrix(p + $0 + ".weight", rows: d, cols: d) }
                let biases = try ["attn_q", "attn_k", "attn_v"].map { try optionalVector(p + $0 + ".bias", d) }
                qkvBias = biases.contains { $0 == nil } ? nil : biases.flatMap { $0 ?? [] }
            }
            let gate = try optionalMatrix(p + "ffn_gate.weight", rows: c.ffnDim, cols: d)
            if c.family == .nomicBERT && gate == nil { throw GGUFError.missingTensor(p + "ffn_gate.weight") }
            layers.append(Layer(
                qkv: qkv, qkvBias: qkvBias,
                wo: try matrix(p + "attn_output.weight", rows: d, cols: d),
                woBias: try optionalVector(p + "attn_output.bias", d),
                attnNorm: try vector(p + "attn_output_norm.weight", d),
                attnNormBias: try vector(p + "attn_output_norm.bias", d),
                wUp: try matrix(p + "ffn_up.weight", rows: c.ffnDim, cols: d),
                upBias: try optionalVector(p + "ffn_up.bias", c.ffnDim),
                wGate: c.family == .nomicBERT ? gate : nil,
                wDown: try matrix(p + "ffn_down.weight", rows: d, cols: c.ffnDim),
                downBias: try optionalVector(p + "ffn_down.bias", d),
                outNorm: try vector(p + "layer_output_norm.weight", d),
                outNormBias: try vector(p + "layer_output_norm.bias", d)))
        }
        self.layers = layers
    }
}
