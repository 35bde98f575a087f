/// Why an adapter cannot be used with the served model, naming the file or tensor at fault.
public enum LoraError: Error, CustomStringConvertible, Equatable {
    case notAnAdapter(path: String, reason: String)
    case architectureMismatch(adapter: String, model: String)
    case unknownTensor(String)
    case missingHalf(String)
    case shape(tensor: String, expected: [Int], found: [Int])
    case unsupportedType(tensor: String, type: String)
    case badConfig(String)
    case badValues(String)

    public var description: String {
        switch self {
        case let .notAnAdapter(path, reason): return "\(path) is not a LoRA adapter: \(reason)"
        case let .architectureMismatch(a, m): return "the adapter is for architecture \(a), but the model is \(m)"
        case let .unknownTensor(n):
            return "adapter tensor \(n) does not change one of the weights Jeton adapts (attention q/k/v/o, feed-forward gate/up/down of a layer)"
        case let .missingHalf(n): return "adapter tensor \(n) has no matching A or B half"
        case let .shape(t, e, f): return "adapter tensor \(t) has shape \(f), but the model needs \(e)"
        case let .unsupportedType(t, type): return "adapter tensor \(t) has type \(type), which Jeton cannot read"
        case let .badConfig(m): return "bad adapter_config.json: \(m)"
        case let .badValues(m): return "the adapter cannot be used: \(m)"
        }
    }
}
