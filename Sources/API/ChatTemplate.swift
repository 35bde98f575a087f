import Jinja
import Tokenizer

/// Renders chat messages into a prompt with the model's own Jinja template
/// (`tokenizer.chat_template`), as transformers' apply_chat_template does.
/// Models without one get ChatML, as llama.cpp does.
struct ChatTemplate: @unchecked Sendable {
    struct Message {
        var role: String
        var content: String
    }

    static let chatML = """
    {% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}
    """

    let template: Result<Template, Error>
    let bosToken: String
    let eosToken: String

    init(source: String?, tokenizer: Tokenizer) {
        template = Result { try Template(source ?? Self.chatML) }
        bosToken = tokenizer.bosID.map { tokenizer.tokenText($0) } ?? ""
        eosToken = tokenizer.eosID.map { tokenizer.tokenText($0) } ?? ""
    }

    func render(_ messages: [Message], addGenerationPrompt: Bool) throws -> String {
        let t: Template
        do { t = try template.get() } catch {
            throw APIError(status: 500, type: "server_error", message: "the chat template cannot be parsed: \(error)",
                           code: "bad_chat_template")
        }
        let msgs: [Value] = messages.map { m in ["role": .string(m.role), "content": .string(m.content)] }
        do {
            return try t.render([
                "messages": .array(msgs),
                "add_generation_prompt": .bool(addGenerationPrompt),
                "bos_token": .string(bosToken),
                "eos_token": .string(eosToken),
                // transformers passes these as None when absent; `is not none` tests depend on it.
                "tools": .none,
                "documents": .none,
            ])
        } catch {
            throw APIError.invalid("The chat template refused these messages: \(error)", param: "messages")
        }
    }
}
