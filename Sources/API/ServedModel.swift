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
}
