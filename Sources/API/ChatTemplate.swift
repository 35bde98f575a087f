import Jinja
import Tokenizer

/// Renders chat messages into a prompt with the model's own Jinja template
/// (`tokenizer.chat_template`), as transformers' apply_chat_template does.
/// Models without one get ChatML, as llama.cpp does.
struct ChatTemplate: Sendable {
    struct Message {
        var role: String
        /// "" for an assistant turn without text (`content: null`): templates that join a turn's
        /// parts with `+` would fail on none.
        var content: String
        /// An assistant turn's calls, as the template reads them (`function.arguments` an object).
        var toolCalls: [Value]? = nil
        /// A tool turn's answer: which call it answers, and that call's function.
        var toolCallID: String? = nil
        var name: String? = nil
    }

    static let chatML = """
    {% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}
    """

    /// The end of a ChatML turn: with the fallback, a stop string of every chat request, since a
    /// model that never saw ChatML writes it as text and goes on with a made-up next turn
    /// (llama-cpp-python's chatml format stops there too).
    static let chatMLTurnEnd = "<|im_end|>"

    let template: Result<Template, Error>
    /// The model has no template of its own: ChatML renders its messages.
    let isFallback: Bool
    let bosToken: String
    let eosToken: String
    /// Finds the control-token text in messages (`ContentGuard`).
    let tokenizer: Tokenizer

    init(source: String?, tokenizer: Tokenizer) {
        self.tokenizer = tokenizer
        template = Result { try Template(source ?? Self.chatML) }
        isFallback = source == nil
        bosToken = tokenizer.bosID.map { tokenizer.tokenText($0) } ?? ""
        eosToken = tokenizer.eosID.map { tokenizer.tokenText($0) } ?? ""
    }

    /// `tools`: the request's tools as the template expects them (transformers' `tools`), or nil.
    /// `variables`: more names for the template (`chat_template_kwargs`, e.g. Qwen3's
    /// `enable_thinking`); they cannot replace the ones set here. Control-token text that these
    /// inputs hold is marked plain in the result (`PromptText`, `ContentGuard`).
    func render(_ messages: [Message], addGenerationPrompt: Bool, tools: [Value]? = nil,
                variables: [String: Value] = [:]) throws -> PromptText {
        let text = try renderText(messages, addGenerationPrompt: addGenerationPrompt, tools: tools, variables: variables)
        guard let guarded = try ContentGuard(messages, tools: tools, variables: variables, tokenizer: tokenizer, rendered: text)
        else { return PromptText(text: text) }
        // A template that reads the text it renders (a length, a slice, a test for a marker) may
        // write something else around a placeholder: then the first rendering stands, parsed whole
        // as llama-server parses it.
        guard let marked = try? renderText(guarded.messages, addGenerationPrompt: addGenerationPrompt, tools: guarded.tools,
                                           variables: guarded.variables) else { return PromptText(text: text) }
        let restored = guarded.restore(marked)
        return restored.text == text ? restored : PromptText(text: text)
    }

    private func renderText(_ messages: [Message], addGenerationPrompt: Bool, tools: [Value]?,
                            variables: [String: Value]) throws -> String {
        let t: Template
        do { t = try template.get() } catch {
            throw APIError(.serverError, message: "the chat template cannot be parsed: \(error)", code: "bad_chat_template")
        }
        let msgs: [Value] = messages.map { m in
            var fields: [(String, Value)] = [("role", .string(m.role)), ("content", .string(m.content))]
            if let c = m.toolCalls { fields.append(("tool_calls", .array(c))) }
            if let id = m.toolCallID { fields.append(("tool_call_id", .string(id))) }
            if let n = m.name { fields.append(("name", .string(n))) }
            return .object(OrderedObject(fields))
        }
        do {
            let context: [String: Value] = [
                "messages": .array(msgs),
                "add_generation_prompt": .bool(addGenerationPrompt),
                "bos_token": .string(bosToken),
                "eos_token": .string(eosToken),
                // transformers passes these as None when absent; `is not none` tests depend on it.
                "tools": tools.map { .array($0) } ?? .none,
                "documents": .none,
            ]
            return try t.render(context.merging(variables) { own, _ in own })
        } catch {
            throw APIError.invalid("The chat template refused these messages: \(error)", param: "messages")
        }
    }
}
