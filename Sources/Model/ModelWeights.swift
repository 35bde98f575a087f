import GGUF
import Kernels

/// Views of a llama model's tensors in the mapped file. Matrices stay quantized;
/// the small norm vectors are converted to floats once.
public struct ModelWeights: @unchecked Sendable {
    public struct Layer: @unchecked Sendable {
        public let attnNorm: [Float]    // [dim]
        public let wq: WeightMatrix     // [qDim rows, dim cols]
        public let wk: WeightMatrix     // [kvDim, dim]
        public let wv: WeightMatrix     // [kvDim, dim]
        public let wo: WeightMatrix     // [dim, qDim]
        public let ffnNorm: [Float]     // [dim]
        public let wGate: WeightMatrix  // [ffnDim, dim]
        public let wUp: WeightMatrix    // [ffnDim, dim]
        public let wDown: WeightMatrix  // [dim, ffnDim]
    }

    /// Keeps the mapping alive: every matrix below points into it.
    public let file: GGUFFile
    public let embedding: WeightMatrix  // [vocab, dim]
    public let layers: [Layer]
    public let outputNorm: [Float]      // [dim]
    public let output: WeightMatrix     // [vocab, dim], the embedding when tied

    public init(file: GGUFFile, config c: ModelConfig) throws {
        func matrix(_ name: String, rows: Int, cols: Int) throws -> WeightMatrix {
            guard let info = file.tensorInfo(name) else { throw GGUFError.missingTensor(name) }
            guard info.dimensions == [cols, rows] else {
                throw ModelError.tensorShape(name: name, expected: [cols, rows], found: info.dimensions)
            }
            guard Dequantize.supports(info.type) else { throw ModelError.unsupportedTensorType(name: name, type: info.type) }
            return WeightMatrix(type: info.type, data: file.data(of: info), rows: rows, cols: cols)
        }
        func vector(_ name: String, _ n: Int) throws -> [Float] {
            let m = try matrix(name, rows: 1, cols: n)
            return [Float](unsafeUninitializedCapacity: n) { buf, count in
                m.dequantizeRow(0, into: buf.baseAddress!)
                count = n
            }
        }
        // A vector tensor is stored with one dimension; accept [n] as [n, 1].
        func normVector(_ name: String, _ n: Int) throws -> [Float] {
            if let info = file.tensorInfo(name), info.dimensions == [n] {
                guard Dequantize.supports(info.type) else { throw ModelError.unsupportedTensorType(name: name, type: info.type) }
                let m = WeightMatrix(type: info.type, data: file.data(of: info), rows: 1, cols: n)
                return [Float](unsafeUninitializedCapacity: n) { buf, count in
                    m.dequantizeRow(0, into: buf.baseAddress!)
                    count = n
                }
            }
            return try vector(name, n)
        }

        self.file = file
        embedding = try matrix("token_embd.weight", rows: c.vocabSize, cols: c.dim)
        var ls: [Layer] = []
        for i in 0..<c.layers {
            let p = "blk.\(i)."
            ls.append(Layer(
                attnNorm: try normVector(p + "attn_norm.weight", c.dim),
                wq: try matrix(p + "attn_q.weight", rows: c.qDim, cols: c.dim),
                wk: try matrix(p + "attn_k.weight", rows: c.kvDim, cols: c.dim),
                wv: try matrix(p + "attn_v.weight", rows: c.kvDim, cols: c.dim),
                wo: try matrix(p + "attn_output.weight", rows: c.dim, cols: c.qDim),
                ffnNorm: try normVector(p + "ffn_norm.weight", c.dim),
                wGate: try matrix(p + "ffn_gate.weight", rows: c.ffnDim, cols: c.dim),
                wUp: try matrix(p + "ffn_up.weight", rows: c.ffnDim, cols: c.dim),
                wDown: try matrix(p + "ffn_down.weight", rows: c.dim, cols: c.ffnDim)))
        }
        layers = ls
        outputNorm = try normVector("output_norm.weight", c.dim)
        output = file.tensorInfo("output.weight") != nil
            ? try matrix("output.weight", rows: c.vocabSize, cols: c.dim)
            : embedding
    }
}
