/// `truncation: "auto"` on POST /v1/responses: a conversation whose prompt (with room for its
/// `max_output_tokens`) is past what the context and KV cache hold loses items from its start,
/// as OpenAI's does, so a long agent session goes on in a small local context instead of failing.
/// `instructions` stay, and so does the last user turn with everything after it; what goes is
/// whole turns, each from a user message up to the next (an assistant's calls go with their
/// outputs). The fewest turns that make it fit go (a binary search over the turns' starts, one
/// template rendering a try). The kept conversation (`store`) holds every item: only the prompt
/// is cut.
extension OpenAIAPI {
    /// The plan of `chat` (a chat body, `plan` its plan) with the fewest leading turns of
    /// `messages` left out that makes it fit; nil when it fits as it is or cannot be made to.
    func truncatedToFit(_ chat: [(String, JSON)], messages: [JSON], plan: ChatPlan) -> ChatPlan? {
        guard (try? check(plan.requests)) == nil else { return nil }
        let first = messages.firstIndex { $0["role"] != "system" } ?? messages.count
        // Where a kept conversation may start: at a user message after the first turn.
        let starts = messages.indices.filter { $0 > first && messages[$0]["role"] == "user" }
        func attempt(_ k: Int) -> ChatPlan? {
            let kept = Array(messages[..<first] + messages[starts[k]...])
            let body = JSON.object(chat.map { $0.0 == "messages" ? ($0.0, .array(kept)) : $0 })
            guard let p = try? chatPlan(body, body: Array(body.serialized.utf8)) else { return nil }
            return (try? check(p.requests)) != nil ? p : nil
        }
        var lo = 0, hi = starts.count - 1, best: ChatPlan?
        while lo <= hi {
            let mid = (lo + hi) / 2
            if let p = attempt(mid) { best = p; hi = mid - 1 } else { lo = mid + 1 }
        }
        return best
    }
}
