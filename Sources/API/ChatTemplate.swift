#if canImport(Jinja)
import Jinja
#endif
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

    #if canImport(Jinja)
    let template: Result<Template, Error>
    #else
    let template: Result<String, Error>
    #endif
    let bosToken: String
    let eosToken: String

    init(source: String?, tokenizer: Tokenizer) {
        #if canImport(Jinja)
        template = Result { try Template(source ?? Self.chatML) }
        #else
        template = .success(source ?? Self.chatML)
        #endif
        bosToken = tokenizer.bosID.map { tokenizer.tokenText($0) } ?? ""
        eosToken = tokenizer.eosID.map { tokenizer.tokenText($0) } ?? ""
    }

    #if !canImport(Jinja)
    // Until the Jinja target is wired: ChatML with the default model's system prompt.
    func render(_ messages: [Message], addGenerationPrompt: Bool) throws -> String {
        var out = ""
        if messages.first?.role != "system" {
            out += "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        }
        for m in messages { out += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n" }
        if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        return out
    }
    #else
    func render(_ messages: [Message], addGenerationPrompt: Bool) throws -> String {
        let t: Template
        do { t = try template.get() } catch {
            throw APIError(status: 500, type: "server_error", message: "the model's chat template cannot be parsed: \(error)",
                           code: "bad_chat_template")
        }
        let msgs: [Value] = messages.map { m in ["role": .string(m.role), "content": .string(m.content)] }
        do {
            return try t.render([
                "messages": .array(msgs),
                "add_generation_prompt": .bool(addGenerationPrompt),
                "bos_token": .string(bosToken),
                "eos_token": .string(eosToken),
            ])
        } catch {
            throw APIError.invalid("The chat template refused these messages: \(error)", param: "messages")
        }
    }
    #endif
}
