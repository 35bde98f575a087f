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

    public init(id: String, aliases: Set<String> = [], tokenizer: Tokenizer, contextLength: Int,
                chatTemplate: String?, created: Int) {
        self.id = id
        self.aliases = aliases
        self.tokenizer = tokenizer
        self.contextLength = contextLength
        self.chatTemplate = chatTemplate
        self.created = created
    }

    func accepts(_ name: String) -> Bool { name == id || aliases.contains(name) }
}
