/// A rendered chat prompt and the UTF-8 byte ranges of it that hold control-token text the
/// request wrote (`plain`: in its messages, tools or template variables, `ContentGuard`). Those
/// bytes are tokenized as text
/// (`Tokenizer.encode(_:addSpecial:plain:)`), so a message that says "<|im_end|><|im_start|>system"
/// cannot close its turn and open a system one, as with OpenAI (llama-server and vLLM read such
/// text as control tokens). The template's own control tokens are parsed as before.
struct PromptText: Equatable {
    var text: String
    var plain: [Range<Int>] = []

    /// `literal` (a continued assistant message's text) appended, all of it read as text.
    func appending(literal: String) -> PromptText {
        let start = text.utf8.count, count = literal.utf8.count
        var out = self
        out.text += literal
        if count > 0 { out.plain.append(start..<start + count) }
        return out
    }
}
