import GGUF

/// Why a model cannot be loaded or run, in words a user can act on.
public enum ModelError: Error, CustomStringConvertible {
    case unsupportedArchitecture(String)
    case badHyperparameter(String)
    case tensorShape(name: String, expected: [Int], found: [Int])
    case unsupportedTensorType(name: String, type: GGMLType)
    case contextOverflow(needed: Int, limit: Int)
    case invalidToken(Int32, vocabularySize: Int)
    /// A LoRA adapter's GGUF given where a model is (`general.type = adapter`).
    case adapterNotModel(path: String)

    public var description: String {
        switch self {
        case let .unsupportedArchitecture(a) where EncoderConfig.supportedArchitectures.contains(a):
            return "\(a) is an embedding model: it does not generate text (use `jeton embed`, or POST /v1/embeddings when served)"
        case let .unsupportedArchitecture(a): return "model architecture \"\(a)\" is not supported (supported: \(ModelArchitecture.supportedNames))"
        case let .badHyperparameter(m): return "bad model hyperparameter: \(m)"
        case let .tensorShape(n, e, f): return "tensor \(n) has shape \(f), expected \(e)"
        case let .unsupportedTensorType(n, t): return "tensor \(n) has type \(t.name), which Jeton cannot compute with yet"
        case let .contextOverflow(needed, limit): return "sequence of \(needed) tokens exceeds the context of \(limit)"
        case let .invalidToken(t, v): return "token id \(t) is outside the vocabulary of \(v)"
        case let .adapterNotModel(p): return "\(p) is a LoRA adapter, not a model: give its base model as the model and the adapter with --lora NAME=PATH"
        }
    }
}

extension ModelError {
    /// Throws when a file's tokenizer and its model disagree on the vocabulary (a token id the
    /// tokenizer gives would have no row in the embeddings or the logits).
    public static func checkVocabulary(tokenizer: Int, model: Int) throws {
        guard tokenizer == model else {
            throw badHyperparameter("tokenizer has \(tokenizer) tokens but the model's vocabulary is \(model)")
        }
    }
}
