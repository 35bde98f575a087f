import GGUF
import Kernels
import Tokenizer

/// An embedding model file opened and ready to run: encoder weights and its tokenizer.
/// Texts are tokenized with [CLS]/[SEP], batched up to a token budget, and each
/// comes back as one unit vector.
public final class LoadedEmbeddingModel: @unchecked Sendable {
    public let file: GGUFFile
    public let config: EncoderConfig
    public let model: EncoderModel
    public let tokenizer: Tokenizer
    /// Tokens per forward call: bounds the activations (about 14·dim + 2·ffnDim floats a token).
    public var batchTokens = 4096

    public init(path: String, threads: Int, precision: EncoderModel.Precision = .fast) throws {
        file = try GGUFFile(path: path)
        config = try EncoderConfig(file: file)
        model = EncoderModel(config: config, weights: try EncoderWeights(file: file, config: config), threads: threads,
                             precision: precision)
        tokenizer = try Tokenizer(try TokenizerVocabulary(metadata: file.metadata))
        try ModelError.checkVocabulary(tokenizer: tokenizer.vocabularySize, model: config.vocabSize)
    }

    /// True when the file's architecture is an encoder this type loads (read from the header only).
    public static func isEmbeddingModel(_ file: GGUFFile) -> Bool {
        file.metadata["general.architecture"]?.stringValue.map(EncoderConfig.supportedArchitectures.contains) ?? false
    }

    /// The model's name: the file name without extension.
    public var name: String { LoadedModel.name(ofPath: file.path) }

    /// Token ids of a text, [CLS] and [SEP] included.
    public func tokenize(_ text: String) -> [Int32] { tokenizer.encode(text, addSpecial: true, parseSpecial: true) }

    /// Ids cut to the context, keeping the final [SEP] (as llama.cpp truncates embedding inputs).
    public func truncated(_ ids: [Int32]) -> [Int32] {
        guard ids.count > config.contextLength else { return ids }
        var out = Array(ids.prefix(config.contextLength))
        if let sep = tokenizer.separatorID, ids.last == sep { out[out.count - 1] = sep }
        return out
    }

    /// One unit vector per input (token ids with their special tokens), computed in
    /// batches of at most `batchTokens` tokens (a longer input goes alone).
    public func embed(tokens inputs: [[Int32]]) throws -> [[Float]] {
        var out: [[Float]] = []
        out.reserveCapacity(inputs.count)
        var batch: [[Int32]] = [], size = 0
        for ids in inputs {
            if !batch.isEmpty && size + ids.count > batchTokens {
                out += try model.embed(batch)
                batch = []; size = 0
            }
            batch.append(ids)
            size += ids.count
        }
        if !batch.isEmpty { out += try model.embed(batch) }
        return out
    }

    public func embed(texts: [String]) throws -> [[Float]] { try embed(tokens: texts.map(tokenize)) }
}
