import GGUF
import Kernels
import Tokenizer

/// A model file opened and ready to run: weights, tokenizer and chat template.
public final class LoadedModel: Sendable {
    public let file: GGUFFile
    public let config: ModelConfig
    public let model: LlamaModel
    public let tokenizer: Tokenizer
    public let chatTemplate: String?
    /// Loaded with `shrink`, and some matrix was wider than Q4_0: those are Q4_0 copies now.
    public let shrunk: Bool

    /// `logitRows`: see `LlamaModel.logitRows` (nil: the whole vocabulary). `shrink`: matrices
    /// wider than Q4_0 read as Q4_0 copies (`ModelWeights.Shrink`: a draft model).
    public init(path: String, threads: Int, logitRows: Int? = nil, shrink: Bool = false) throws {
        file = try GGUFFile(path: path)
        if file.metadata["general.type"]?.stringValue == "adapter" { throw ModelError.adapterNotModel(path: path) }
        config = try ModelConfig(file: file)
        let rows = min(config.vocabSize, max(1, logitRows ?? config.vocabSize))
        let weights = try ModelWeights(file: file, config: config, shrink: shrink ? .init(outputRows: rows) : nil)
        model = LlamaModel(config: config, weights: weights, threads: threads, logitRows: logitRows)
        shrunk = weights.shrunk
        tokenizer = try Tokenizer(try TokenizerVocabulary(metadata: file.metadata))
        chatTemplate = file.metadata["tokenizer.chat_template"]?.stringValue
        try ModelError.checkVocabulary(tokenizer: tokenizer.vocabularySize, model: config.vocabSize)
    }

    /// The model's name: the file name without extension.
    public var name: String { Self.name(ofPath: file.path) }

    /// A model file's name: its last path component without `.gguf` (known before it loads).
    public static func name(ofPath path: String) -> String {
        let base = path.split(separator: "/").last.map(String.init) ?? path
        return base.hasSuffix(".gguf") ? String(base.dropLast(5)) : base
    }
}
