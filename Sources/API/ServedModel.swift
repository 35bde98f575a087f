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

    /// The listing's envelope: OpenAI's `object` and `data` (every model), and Anthropic's page
    /// fields, with its page parameters read from `query` (`limit` 1-1000, `after_id`, `before_id`);
    /// without them, one page of everything.
    static func list(_ all: [JSON], query: [(name: String, value: String)] = []) throws -> JSON {
        var lo = 0, hi = all.count, limit: Int?, before = false
        for (name, value) in query {
            switch name {
            case "limit":
                guard let n = Int(value), (1...1000).contains(n) else {
                    throw APIError.invalid("`limit` must be an integer from 1 to 1000.", param: "limit")
                }
                limit = n
            case "after_id", "before_id":
                guard let i = all.firstIndex(where: { $0["id"] == .string(value) }) else {
                    throw APIError.invalid("`\(name)` names no model of this list: \(value).", param: name)
                }
                if name == "after_id" { lo = max(lo, i + 1) } else { (hi, before) = (min(hi, i), true) }
            default: continue
            }
        }
        let window = all[lo..<max(lo, hi)]
        // Before an id, the page is the models just before it (Anthropic's paging backwards).
        let page = Array(limit.map { before ? window.suffix($0) : window.prefix($0) } ?? window)
        return ["object": "list", "data": .array(page), "has_more": .bool(page.count < window.count),
                "first_id": page.first?["id"] ?? .null, "last_id": page.last?["id"] ?? .null]
    }
}
