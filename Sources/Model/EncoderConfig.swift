import GGUF
import Kernels

/// Hyperparameters of a BERT-family encoder (an embedding model), from GGUF metadata.
///
/// - nomic-bert: rotary positions (NeoX pairs), fused QKV without biases, SwiGLU
///   feed-forward, post-LayerNorm blocks (nomic-embed-text).
/// - bert: learned absolute positions, Q/K/V (fused or not) with biases, GELU
///   feed-forward with biases, post-LayerNorm blocks (MiniLM, bge).
/// Both: token-type row 0 added to the embeddings, LayerNorm on the embeddings,
/// non-causal attention, mean pooling (the only pooling implemented so far).
public struct EncoderConfig: Sendable {
    public enum Family: String, Sendable, CaseIterable {
        case nomicBERT = "nomic-bert"
        case bert
    }

    public var architecture: String
    public var family: Family
    public var name: String
    public var layers: Int
    public var dim: Int
    public var ffnDim: Int
    public var heads: Int
    public var headSize: Int { dim / heads }
    public var contextLength: Int
    public var vocabSize: Int
    public var normEps: Float
    public var ropeBase: Float
    /// `general.file_type` or the dominant matrix type, e.g. "F16".
    public var quantization: String

    public static var supportedArchitectures: Set<String> { Set(Family.allCases.map(\.rawValue)) }

    public init(file: GGUFFile) throws {
        let arch = try file.string("general.architecture")
        guard let family = Family(rawValue: arch) else {
            throw ModelError.badHyperparameter("architecture \(arch) is not an embedding model Jeton runs (supported: "
                                               + Family.allCases.map(\.rawValue).joined(separator: ", ") + ")")
        }
        self.family = family
        architecture = arch
        name = file.metadata["general.name"]?.stringValue ?? arch
        layers = try file.int("\(arch).block_count")
        dim = try file.int("\(arch).embedding_length")
        ffnDim = try file.int("\(arch).feed_forward_length")
        heads = try file.int("\(arch).attention.head_count")
        contextLength = try file.int("\(arch).context_length")
        normEps = try file.float("\(arch).attention.layer_norm_epsilon")
        ropeBase = file.metadata["\(arch).rope.freq_base"] == nil ? 10_000 : try file.float("\(arch).rope.freq_base")
        guard layers > 0, layers <= 1024 else { throw ModelError.badHyperparameter("block_count \(layers) is not in 1...1024") }
        guard dim > 0, dim <= 1 << 16, ffnDim > 0, ffnDim <= 1 << 18 else {
            throw ModelError.badHyperparameter("embedding_length \(dim) / feed_forward_length \(ffnDim) out of range")
        }
        guard heads > 0, dim % heads == 0, (dim / heads) % 2 == 0 else {
            throw ModelError.badHyperparameter("head_count \(heads) does not split embedding_length \(dim) into even heads")
        }
        guard contextLength > 0, contextLength <= 1 << 20 else {
            throw ModelError.badHyperparameter("context_length \(contextLength) is out of range")
        }
        if let pooling = file.metadata["\(arch).pooling_type"]?.intValue, pooling != 1 {
            throw ModelError.badHyperparameter("pooling_type \(pooling) is not supported (only mean pooling, 1)")
        }
        if let causal = file.metadata["\(arch).attention.causal"]?.boolValue, causal {
            throw ModelError.badHyperparameter("a causal \(arch) is not an encoder")
        }
        guard let embd = file.tensorInfo("token_embd.weight"), embd.dimensions.count == 2 else {
            throw GGUFError.missingTensor("token_embd.weight")
        }
        vocabSize = embd.dimensions[1]
        let matrices = file.tensors.filter { $0.dimensions.count == 2 && $0.name.hasPrefix("blk.") }
        quantization = matrices.first?.type.name ?? embd.type.name
    }
}
