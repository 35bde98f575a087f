/// `truncation: "auto"` on POST /v1/responses: a conversation whose prompt (with room for its
/// `max_output_tokens`) is past what the context and KV cache hold loses items from its start,
/// as OpenAI's does, so a long agent session goes on in a small local context instead of failing.
/// `instructions` stay; whole turns go first, each from a user message up to the next; then, in
/// the last turn, its oldest exchanges (an assistant message with the tool outputs answering it),
/// its user message and its last exchange staying. The fewest that make it fit go (a binary
/// search over those cuts, one template rendering a try). The kept conversation (`store`) holds
/// every item: only the prompt is cut.
extension OpenAIAPI {
    /// The plan of `chat` (a chat body, `plan` its plan) with the fewest of `messages` left out
    /// that makes it fit; nil when it fits as it is or cannot be made to.
    func truncatedToFit(_ chat: [(String, JSON)], messages: [JSON], plan: ChatPlan) -> ChatPlan? {
        guard (try? check(plan.requests)) == nil else { return nil }
        let first = messages.firstIndex { $0["role"] != "system" } ?? messages.count
        let system = Array(messages[..<first])
        // The cuts, each shorter than the one before: from a later user message on; then, from
        // the last one, with its oldest exchanges (each from an assistant message) left out.
        let users = messages.indices.filter { $0 >= first && messages[$0]["role"] == "user" }
        var cuts: [[JSON]] = users.filter { $0 > first }.map { system + messages[$0...] }
        if let last = users.last, last + 1 < messages.count {
            let exchanges = (last + 1..<messages.count).filter { messages[$0]["role"] == "assistant" }
            cuts += exchanges.dropFirst().map { system + [messages[last]] + messages[$0...] }
        }
        func attempt(_ k: Int) -> ChatPlan? {
            let kept = cuts[k]
            let body = JSON.object(chat.map { $0.0 == "messages" ? ($0.0, .array(kept)) : $0 })
            guard let p = try? chatPlan(body, body: Array(body.serialized.utf8)) else { return nil }
            return (try? check(p.requests)) != nil ? p : nil
        }
        var lo = 0, hi = cuts.count - 1, best: ChatPlan?
        while lo <= hi {
            let mid = (lo + hi) / 2
            if let p = attempt(mid) { best = p; hi = mid - 1 } else { lo = mid + 1 }
        }
        return best
    }
}
