/// Which served model a request's `model` field names: pure lookup, no HTTP.
/// Ids win over aliases; among aliases the model listed first wins (every model may
/// carry its file's own name as an alias, and two files may share one).
public struct ModelTable: Sendable {
    public enum Kind: String, Sendable { case generation, embedding }

    public struct Row: Sendable, Equatable {
        public var id: String
        public var aliases: [String]
        public var kind: Kind
        public init(id: String, aliases: [String], kind: Kind) {
            self.id = id
            self.aliases = aliases
            self.kind = kind
        }
    }

    public struct Conflict: Error, CustomStringConvertible {
        public let description: String
    }

    public let rows: [Row]

    /// Two models with one id could never both be reached: refused.
    public init(_ rows: [Row]) throws {
        var seen: Set<String> = []
        for r in rows {
            guard seen.insert(r.id).inserted else {
                throw Conflict(description: "two served models are named `\(r.id)`; give one another name")
            }
        }
        self.rows = rows
    }

    /// The index of the model `name` reaches, or nil (a 404).
    public func resolve(_ name: String) -> Int? {
        rows.firstIndex { $0.id == name } ?? rows.firstIndex { $0.aliases.contains(name) }
    }

    /// The model a request without a `model` field goes to: the first of the kind the
    /// endpoint serves, else the first model (whose API then says what is wrong).
    public func fallback(for kind: Kind?) -> Int {
        kind.flatMap { k in rows.firstIndex { $0.kind == k } } ?? 0
    }

    /// The kind of model an endpoint needs (nil: any kind answers it).
    public static func kind(of route: APIRoute) -> Kind? {
        switch route {
        case .completions, .chatCompletions, .responses, .response, .deleteResponse, .responseInputItems, .responseInputTokens, .messages,
             .countTokens, .applyTemplate, .loadLoraAdapter, .unloadLoraAdapter, .loraAdapters, .setLoraAdapters, .infill, .llamaCompletion:
            return .generation
        case .embeddings: return .embedding
        case .models, .model, .tokenize, .detokenize: return nil
        }
    }
}
