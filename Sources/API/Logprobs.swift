import Engine
import Tokenizer

/// The two wire forms of log-probabilities.
enum Logprobs {
    static func text(_ t: Tokenizer, _ id: Int32) -> String {
        String(decoding: t.tokenBytes(id), as: UTF8.self)
    }

    /// Completions form: parallel arrays, offsets into the returned text.
    static func completions(_ t: Tokenizer, _ entries: [TokenLogprob?], startOffset: Int) -> JSON {
        var tokens: [JSON] = [], lps: [JSON] = [], tops: [JSON] = [], offsets: [JSON] = []
        var offset = startOffset
        for e in entries {
            guard let e = e else {
                // The first prompt token has no probability.
                tokens.append(.null); lps.append(.null); tops.append(.null); offsets.append(JSON(offset))
                continue
            }
            let s = text(t, e.token)
            tokens.append(.string(s))
            lps.append(JSON(e.logprob))
            var top: [(String, JSON)] = []
            for a in e.top where !top.contains(where: { $0.0 == text(t, a.token) }) {
                top.append((text(t, a.token), JSON(a.logprob)))
            }
            tops.append(.object(top))
            offsets.append(JSON(offset))
            offset += s.utf16.count
        }
        return ["tokens": .array(tokens), "token_logprobs": .array(lps), "top_logprobs": .array(tops),
                "text_offset": .array(offsets)]
    }

    /// Chat form: one object per token with its bytes and alternatives.
    static func chat(_ t: Tokenizer, _ entries: [TokenLogprob]) -> JSON {
        func item(_ id: Int32, _ lp: Float) -> [(String, JSON)] {
            let b = t.tokenBytes(id)
            return [("token", .string(String(decoding: b, as: UTF8.self))), ("logprob", JSON(lp)),
                    ("bytes", .array(b.map { JSON(Int($0)) }))]
        }
        return ["content": .array(entries.map { e in
            .object(item(e.token, e.logprob) + [("top_logprobs", .array(e.top.map { .object(item($0.token, $0.logprob)) }))])
        })]
    }
}
