import Foundation
import Tokenizer

/// What the API knows about the model it serves.
public struct ServedModel: Sendable {
    public var id: String                 // the name clients put in `model`
    public var aliases: Set<String>       // other accepted names
    public var tokenizer: Tokenizer
    public var contextLength: Int
    public var chatTemplate: String?
    public var created: Int
    public var ownedBy = "jeton"
    /// `general.architecture` (e.g. "gemma3") and the quantization name (e.g. "Q4_K_M"),
    /// reported by GET /v1/models; nil when unknown (tests with a fake model).
    public var architecture: String?
    public var quantization: String?

    public init(id: String, aliases: Set<String> = [], tokenizer: Tokenizer, contextLength: Int,
                chatTemplate: String?, created: Int, architecture: String? = nil, quantization: String? = nil) {
        self.id = id
        self.aliases = aliases
        self.tokenizer = tokenizer
        self.contextLength = contextLength
        self.chatTemplate = chatTemplate
        self.created = created
        self.architecture = architecture
        self.quantization = quantization
    }

    func accepts(_ name: String) -> Bool { name == id || aliases.contains(name) }

    /// A model object of GET /v1/models (OpenAI's fields) with Anthropic's beside them (`type`,
    /// `display_name`, `created_at`, `max_input_tokens`), which its SDK's `models.list()` reads.
    func listed(_ object: JSON) -> JSON {
        guard case var .object(fields) = object, case let .string(name)? = object["id"] else { return object }
        let created = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(self.created)))
        fields += [("type", "model"), ("display_name", .string(name)), ("created_at", .string(created)),
                   ("max_input_tokens", JSON(contextLength))]
        return .object(fields)
    }

    /// The listing's envelope: OpenAI's `object` and `data`, and Anthropic's page fields (one page).
    static func list(_ data: [JSON]) -> JSON {
        ["object": "list", "data": .array(data), "has_more": false, "first_id": data.first?["id"] ?? .null,
         "last_id": data.last?["id"] ?? .null]
    }
}
