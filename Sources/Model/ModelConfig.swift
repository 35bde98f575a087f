import GGUF
import Kernels

/// Hyperparameters of a llama-family model, read from GGUF metadata keys
/// prefixed by `general.architecture`.
public struct ModelConfig: Sendable {
    public var architecture: String
    public var family: ModelArchitecture
    public var name: String
    public var layers: Int
    public var dim: Int            // embedding width
    public var ffnDim: Int
    public var heads: Int
    public var kvHeads: Int
    public var headSize: Int       // key (and query) head size: `attention.key_length`
    public var valueHeadSize: Int  // `attention.value_length`
    public var contextLength: Int
    public var vocabSize: Int
    public var rmsEps: Float
    public var ropeBase: Float     // global layers
    public var ropeFreqScale: Float
    public var ropeDims: Int
    public var ropeLayout: Rope.Layout
    /// Multiplies q before the dot products: 1/√headSize unless the family says otherwise.
    public var attentionScale: Float
    /// Keys a sliding layer sees: its own position and the `slidingWindow - 1` before.
    public var slidingWindow: Int?
    /// Per layer: true when it attends within `slidingWindow` only. [layers]
    public var slidingLayers: [Bool]
    /// RoPE base of the sliding layers (Gemma 3: 10 000, the global ones 1 000 000).
    public var localRopeBase: Float
    /// logits ← cap · tanh(logits / cap) when set (Gemma 2; absent in Gemma 3 files).
    public var finalLogitSoftcap: Float?
    /// `general.file_type` name or the dominant tensor type, e.g. "Q4_K_M".
    public var quantization: String

    public var qDim: Int { heads * headSize }
    public var kvDim: Int { kvHeads * headSize }
    public var embeddingScale: Float? { family.scalesEmbedding ? Float(dim).squareRoot() : nil }

    public static var supportedArchitectures: Set<String> { Set(ModelArchitecture.allCases.map(\.rawValue)) }

    public init(file: GGUFFile) throws {
        let arch = try file.string("general.architecture")
        guard let family = ModelArchitecture(rawValue: arch) else { throw ModelError.unsupportedArchitecture(arch) }
        self.family = family
        architecture = arch
        name = file.metadata["general.name"]?.stringValue ?? arch
        func optionalInt(_ key: String) throws -> Int? { file.metadata[key] == nil ? nil : try file.int(key) }
        func optionalFloat(_ key: String) throws -> Float? { file.metadata[key] == nil ? nil : try file.float(key) }
        layers = try file.int("\(arch).block_count")
        // Checked before anything is sized by it: a hostile file must not make us allocate 2⁴⁰ flags.
        guard layers > 0, layers <= 1024 else { throw ModelError.badHyperparameter("block_count \(layers) is not in 1...1024") }
        dim = try file.int("\(arch).embedding_length")
        ffnDim = try file.int("\(arch).feed_forward_length")
        heads = try file.int("\(arch).attention.head_count")
        kvHeads = try optionalInt("\(arch).attention.head_count_kv") ?? heads
        contextLength = try file.int("\(arch).context_length")
        rmsEps = try file.float("\(arch).attention.layer_norm_rms_epsilon")
        ropeBase = try optionalFloat("\(arch).rope.freq_base") ?? 10000
        guard heads > 0, kvHeads > 0, heads % kvHeads == 0 else {
            throw ModelError.badHyperparameter("\(heads) heads cannot be grouped over \(kvHeads) key/value heads")
        }
        headSize = try optionalInt("\(arch).attention.key_length") ?? (dim / max(heads, 1))
        valueHeadSize = try optionalInt("\(arch).attention.value_length") ?? headSize
        // One KV cache slot holds a key and a value of the same width.
        guard valueHeadSize == headSize else {
            throw ModelError.badHyperparameter(
                "key head size \(headSize) differs from value head size \(valueHeadSize) (\(arch).attention.key_length/value_length); Jeton's KV cache needs them equal")
        }
        ropeDims = try optionalInt("\(arch).rope.dimension_count") ?? headSize
        ropeLayout = family.ropeLayout
        // Linear RoPE scaling stretches positions on the global layers only (llama.cpp
        // keeps the sliding layers' scale at 1).
        ropeFreqScale = 1
        if file.metadata["\(arch).rope.scaling.type"]?.stringValue == "linear",
           let factor = try optionalFloat("\(arch).rope.scaling.factor"), factor > 0 {
            ropeFreqScale = 1 / factor
        }
        let vocab = file.metadata["tokenizer.ggml.tokens"]?.arrayValue?.count ?? 0
        vocabSize = try optionalInt("\(arch).vocab_size") ?? vocab
        // Gemma 3 27B scales by 1/√(dim/heads) (query_pre_attn_scalar = 168), the others
        // by 1/√headSize; an explicit `attention.scale` wins, as in llama.cpp.
        if let s = try optionalFloat("\(arch).attention.scale"), s > 0 {
            attentionScale = s
        } else if family == .gemma3 && layers == 62 {
            attentionScale = 1 / Float(dim / heads).squareRoot()
        } else {
            attentionScale = 1 / Float(max(headSize, 1)).squareRoot()
        }
        slidingWindow = nil
        slidingLayers = [Bool](repeating: false, count: max(layers, 0))
        if let pattern = family.slidingWindowPattern {
            let window = try file.int("\(arch).attention.sliding_window")
            guard window > 0 else { throw ModelError.badHyperparameter("sliding window \(window) must be positive") }
            slidingWindow = window
            slidingLayers = (0..<max(layers, 0)).map { ($0 + 1) % pattern != 0 }
        }
        localRopeBase = try optionalFloat("\(arch).rope.freq_base_swa") ?? family.defaultLocalRopeBase
        finalLogitSoftcap = try optionalFloat("\(arch).final_logit_softcapping").flatMap { $0 > 0 ? $0 : nil }
        quantization = ModelQuantization.name(of: file)
        guard layers > 0, layers <= 1024, dim > 0, dim % 32 == 0, ffnDim > 0, headSize > 0, headSize % 2 == 0,
              ropeDims <= headSize, ropeDims % 2 == 0, contextLength > 0, vocabSize > 0, rmsEps > 0,
              ropeBase > 0, localRopeBase > 0 else {
            throw ModelError.badHyperparameter(
                "layers \(layers), dim \(dim), ffn \(ffnDim), head size \(headSize), rope dims \(ropeDims), context \(contextLength), vocab \(vocabSize)")
        }
    }

    /// How far back layer `layer` attends: nil for all positions.
    public func window(layer: Int) -> Int? {
        layer < slidingLayers.count && slidingLayers[layer] ? slidingWindow : nil
    }

    /// One line for logs: architecture, size, context and quantization.
    public var summary: String {
        "\(architecture), \(layers) layers, dim \(dim), context \(contextLength), \(quantization)"
    }
}
