import GGUF
import Kernels

/// Hyperparameters of a llama-family model, read from GGUF metadata keys
/// prefixed by `general.architecture`.
public struct ModelConfig: Sendable {
    public var architecture: String
    public var name: String
    public var layers: Int
    public var dim: Int            // embedding width
    public var ffnDim: Int
    public var heads: Int
    public var kvHeads: Int
    public var headSize: Int
    public var contextLength: Int
    public var vocabSize: Int
    public var rmsEps: Float
    public var ropeBase: Float
    public var ropeDims: Int
    public var ropeLayout: Rope.Layout

    public var qDim: Int { heads * headSize }
    public var kvDim: Int { kvHeads * headSize }

    public static let supportedArchitectures: Set<String> = ["llama"]

    public init(file: GGUFFile) throws {
        let arch = try file.string("general.architecture")
        guard Self.supportedArchitectures.contains(arch) else { throw ModelError.unsupportedArchitecture(arch) }
        architecture = arch
        name = file.metadata["general.name"]?.stringValue ?? arch
        layers = try file.int("\(arch).block_count")
        dim = try file.int("\(arch).embedding_length")
        ffnDim = try file.int("\(arch).feed_forward_length")
        heads = try file.int("\(arch).attention.head_count")
        kvHeads = (try? file.int("\(arch).attention.head_count_kv")) ?? heads
        contextLength = try file.int("\(arch).context_length")
        rmsEps = try file.float("\(arch).attention.layer_norm_rms_epsilon")
        ropeBase = (try? file.float("\(arch).rope.freq_base")) ?? 10000
        guard heads > 0, kvHeads > 0, heads % kvHeads == 0 else {
            throw ModelError.badHyperparameter("\(heads) heads cannot be grouped over \(kvHeads) key/value heads")
        }
        headSize = (try? file.int("\(arch).attention.key_length")) ?? (dim / heads)
        ropeDims = (try? file.int("\(arch).rope.dimension_count")) ?? headSize
        ropeLayout = .normal
        let vocab = file.metadata["tokenizer.ggml.tokens"]?.arrayValue?.count ?? 0
        vocabSize = (try? file.int("\(arch).vocab_size")) ?? vocab
        guard layers > 0, layers <= 1024, dim > 0, dim % 32 == 0, ffnDim > 0, headSize > 0, headSize % 2 == 0,
              ropeDims <= headSize, ropeDims % 2 == 0, contextLength > 0, vocabSize > 0, rmsEps > 0 else {
            throw ModelError.badHyperparameter(
                "layers \(layers), dim \(dim), ffn \(ffnDim), head size \(headSize), rope dims \(ropeDims), context \(contextLength), vocab \(vocabSize)")
        }
    }
}
