/// The fields of POST /tokenize, as generation and embedding models both read them: llama.cpp's
/// shape {"content", "add_special", "parse_special", "with_pieces"} and vLLM's {"prompt" |
/// "messages", "add_special_tokens"}. Either name of the special-token switch goes with any
/// shape (both given, they must agree), and one text field only: with two, the server would
/// tokenize one the client may not have meant.
struct TokenizeRequest {
    enum Text {
        case content(String)
        case prompt(String)
        case messages
    }

    let text: Text
    /// `add_special` or `add_special_tokens`; nil when neither is given.
    let addSpecial: Bool?
    let parseSpecial: Bool?
    let withPieces: Bool

    init(_ r: FieldReader) throws {
        let given = ["content", "prompt", "messages"].filter { r.has($0) }
        guard given.count <= 1 else {
            throw APIError.invalid("Give one of `content`, `prompt` or `messages` to tokenize, not \(given.map { "`\($0)`" }.joined(separator: " and ")).",
                                   param: given[1])
        }
        let llama = try r.bool("add_special"), vllm = try r.bool("add_special_tokens")
        if let a = llama, let b = vllm, a != b {
            throw APIError.invalid("`add_special` and `add_special_tokens` say different things; give one.", param: "add_special_tokens")
        }
        addSpecial = llama ?? vllm
        parseSpecial = try r.bool("parse_special")
        withPieces = try r.bool("with_pieces") ?? false
        if let c = try r.string("content") {
            text = .content(c)
        } else if let p = try r.string("prompt") {
            text = .prompt(p)
        } else if r.has("messages") {
            text = .messages
        } else {
            throw APIError.invalid("Give `content` (or `prompt`, or `messages`) to tokenize.", param: "content")
        }
    }

    /// A raw text and how to tokenize it (llama.cpp adds no BOS by default, vLLM does), or nil
    /// for `messages`.
    var raw: (text: String, addSpecial: Bool, parseSpecial: Bool)? {
        switch text {
        case let .content(c): return (c, addSpecial ?? false, parseSpecial ?? true)
        case let .prompt(p): return (p, addSpecial ?? true, parseSpecial ?? true)
        case .messages: return nil
        }
    }
}
