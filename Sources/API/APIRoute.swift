/// The routes the OpenAI-style API answers: each one's method and path in one place, so
/// handlers switch over a closed set instead of comparing strings.
public enum APIRoute: String, CaseIterable, Sendable {
    case completions, chatCompletions, responses, response, deleteResponse, responseInputItems, responseInputTokens, messages, countTokens,
         models, model,
         tokenize, detokenize, applyTemplate, embeddings, loadLoraAdapter, unloadLoraAdapter, loraAdapters, setLoraAdapters, infill,
         llamaCompletion

    public var method: String {
        switch self {
        case .models, .model, .response, .responseInputItems, .loraAdapters: return "GET"
        case .deleteResponse: return "DELETE"
        case .completions, .chatCompletions, .responses, .responseInputTokens, .messages, .countTokens, .tokenize, .detokenize, .applyTemplate,
             .embeddings, .loadLoraAdapter, .unloadLoraAdapter, .setLoraAdapters, .infill, .llamaCompletion:
            return "POST"
        }
    }

    /// The path as the HTTP router matches it (`{id}` is a path parameter).
    public var path: String {
        switch self {
        case .completions: return "/v1/completions"
        case .chatCompletions: return "/v1/chat/completions"
        case .responses: return "/v1/responses"
        case .response, .deleteResponse: return "/v1/responses/{id}"
        case .responseInputItems: return "/v1/responses/{id}/input_items"
        case .responseInputTokens: return "/v1/responses/input_tokens"
        case .messages: return "/v1/messages"
        case .countTokens: return "/v1/messages/count_tokens"
        case .models: return "/v1/models"
        case .model: return "/v1/models/{id...}"  // an id may hold slashes (`org/model`), unencoded in a curl
        case .tokenize: return "/tokenize"
        case .detokenize: return "/detokenize"
        case .applyTemplate: return "/apply-template"
        case .embeddings: return "/v1/embeddings"
        case .loadLoraAdapter: return "/v1/load_lora_adapter"
        case .unloadLoraAdapter: return "/v1/unload_lora_adapter"
        case .loraAdapters, .setLoraAdapters: return "/lora-adapters"  // llama-server's
        case .infill: return "/infill"
        case .llamaCompletion: return "/completion"
        }
    }

    /// The routes that generate text (and count tokens in the access log).
    public var generates: Bool { self == .completions || self == .chatCompletions || self == .responses || self == .messages || self == .infill || self == .llamaCompletion }

    /// Anthropic's Messages API: its errors use Anthropic's envelope (`MessagesError.swift`).
    public var isAnthropic: Bool { self == .messages || self == .countTokens }

    /// A path under Anthropic's routes, known or not (`/v1/messages/batches` has its 404 in Anthropic's envelope).
    public static func isAnthropic(path: String) -> Bool { path == "/v1/messages" || path.hasPrefix("/v1/messages/") }
}
