import Grammar
/// How a model family writes its tool calls, as its chat template teaches it:
///
/// - `hermes` (Qwen 2.5, Hermes, many fine-tunes): `<tool_call>\n{"name": …, "arguments": {…}}\n</tool_call>`,
///   anywhere in the answer, one block per call.
/// - `llama3` (Llama 3.1–3.3 JSON tool calling): the whole answer is `{"name": …, "parameters": {…}}`,
///   optionally after `<|python_tag|>`, several calls separated by `;`.
/// - `mistral`: `[TOOL_CALLS]` then a JSON array `[{"name": …, "arguments": {…}}, …]` (v3 tokenizers), or
///   `[TOOL_CALLS]name[ARGS]{…}` per call (v11 and later).
public enum ToolCallFormat: String, Sendable, CaseIterable {
    case hermes, llama3, mistral

    /// The family a chat template writes, or nil when the template does not render tools at all
    /// (then requests with tools are refused, as vLLM does without a tool parser).
    public static func detect(template: String?) -> ToolCallFormat? {
        guard let t = template, t.contains("tools") else { return nil }
        if t.contains("[TOOL_CALLS]") { return .mistral }
        if t.contains("<tool_call>") { return .hermes }
        if t.contains("<|python_tag|>") || t.contains("<|start_header_id|>") { return .llama3 }
        return nil
    }

    /// The key the call's arguments go under in the model's own writing.
    var argumentsKey: String { self == .llama3 ? "parameters" : "arguments" }

    /// A new call id. Mistral's templates insist on 9 alphanumerics; the others take OpenAI's form.
    func newCallID() -> String {
        var g = SystemRandomNumberGenerator()
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        let n = self == .mistral ? 9 : 24
        let s = String((0..<n).map { _ in alphabet.randomElement(using: &g)! })
        return self == .mistral ? s : "call_" + s
    }

    /// The text of one call as the model writes it, for grammars: `before` + arguments + `after`.
    func callTemplate(name: String) -> (before: String, after: String) {
        let quoted = JSON.string(name).serialized
        switch self {
        case .hermes: return ("<tool_call>\n{\"name\": \(quoted), \"arguments\": ", "}\n</tool_call>")
        case .llama3: return ("{\"name\": \(quoted), \"parameters\": ", "}")
        case .mistral: return ("{\"name\": \(quoted), \"arguments\": ", "}")
        }
    }

    /// Where a call begins in an answer under `tool_choice: "auto"`, as the parser finds them:
    /// from there on the calls' grammar (`ToolGrammarCache`, lazy) holds. A tag holds at once; a
    /// Markdown fence or a bare object only once its `"arguments"` (or `"parameters"`) key shows
    /// it is a call to one of the tools (a code block or other JSON stays free). Llama 3's calls
    /// are plain JSON at the start of the answer in any spacing, and Mistral's `[TOOL_CALLS]` is a
    /// control token (no text for a grammar to see), so both stay free.
    var lazyTriggers: [LazyGrammar.Trigger] {
        switch self {
        case .hermes:
            return [.init(marker: "<tool_call>"), .init(marker: "```", commitAfter: "\"arguments\"", "\"parameters\""),
                    .init(marker: "{", atStart: true, commitAfter: "\"arguments\"", "\"parameters\"")]
        case .mistral, .llama3: return []
        }
    }

    /// What comes before the first call, between two calls and after the last, in grammars.
    var callList: (open: String, separator: String, close: String) {
        switch self {
        case .hermes: return ("", "\n", "")
        case .llama3: return ("", "; ", "")
        case .mistral: return ("[TOOL_CALLS][", ", ", "]")
        }
    }
}
