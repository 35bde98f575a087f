import Engine
import Tokenizer

/// The two wire forms of log-probabilities.
enum Logprobs {
    /// A completions token as a string: its text, or, when its bytes are not whole UTF-8
    /// characters (part of an emoji), `bytes:\xF0\x9F` as OpenAI's legacy API wrote them, so
    /// such tokens stay apart in `top_logprobs` (each read U+FFFD, and the keys collided).
    static func completionsText(_ t: Tokenizer, _ id: Int32) -> String {
        let b = t.tokenBytes(id)
        if let whole = String(validating: b, as: UTF8.self) { return whole }
        let hex = Array("0123456789abcdef")
        return "bytes:" + b.map { "\\x\(hex[Int($0 >> 4)])\(hex[Int($0 & 15)])" }.joined()
    }

    /// Completions form: parallel arrays, offsets into the returned text. `firstToken`: the token
    /// of an entry without a probability (the echoed prompt's first), which is still listed with
    /// its text and place. Offsets are in UTF-16 units of the text the tokens' bytes make
    /// together, so a token holding part of a character does not shift the ones after it: a
    /// token starts at the character its first byte belongs to. A negative `startOffset` skips
    /// that much of the first tokens' text (a SentencePiece prompt's leading space, which the
    /// echoed text leaves out); offsets inside it are 0. `textlessSpecialFrom`: from this entry on
    /// (the generated ones, when the answer leaves control tokens out) a control token adds no text.
    static func completions(_ t: Tokenizer, _ entries: [TokenLogprob?], firstToken: Int32? = nil, startOffset: Int,
                            textlessSpecialFrom: Int? = nil) -> JSON {
        var tokens: [JSON] = [], lps: [JSON] = [], tops: [JSON] = [], offsets: [JSON] = []
        var place = TextPlace(start: startOffset)
        for (i, e) in entries.enumerated() {
            guard let e = e else {
                // The first prompt token has no probability.
                let id = firstToken
                tokens.append(id.map { .string(completionsText(t, $0)) } ?? .null); lps.append(.null); tops.append(.null)
                offsets.append(JSON(max(0, place.offset)))
                if let id { place.add(t.tokenBytes(id)) }
                continue
            }
            tokens.append(.string(completionsText(t, e.token)))
            lps.append(JSON(e.logprob))
            var top: [(String, JSON)] = []
            for a in e.top {
                let text = completionsText(t, a.token)
                if !top.contains(where: { $0.0 == text }) { top.append((text, JSON(a.logprob))) }
            }
            // The chosen token is always among its alternatives (up to k + 1 of them), as OpenAI's
            // legacy API and vLLM answer: a sampled token is often not in the top k. When another
            // token has the same text, the key holds the chosen one's logprob, so
            // `top_logprobs[i][tokens[i]]` is `token_logprobs[i]`.
            let chosen = completionsText(t, e.token)
            if let at = top.firstIndex(where: { $0.0 == chosen }) {
                top[at].1 = JSON(e.logprob)
            } else {
                top.append((chosen, JSON(e.logprob)))
            }
            tops.append(.object(top))
            offsets.append(JSON(max(0, place.offset)))
            if let from = textlessSpecialFrom, i >= from, t.isSpecial(e.token) { continue }
            place.add(t.tokenBytes(e.token))
        }
        return ["tokens": .array(tokens), "token_logprobs": .array(lps), "top_logprobs": .array(tops),
                "text_offset": .array(offsets)]
    }

    /// The UTF-16 offset in a text given byte by byte: `offset` is where the character holding
    /// the next byte starts (complete characters so far, a byte that cannot start or continue
    /// one counted as the one U+FFFD it decodes to).
    struct TextPlace {
        private(set) var offset: Int
        private var pending = 0  // continuation bytes the current character still needs
        private var units = 0    // UTF-16 units of the current character once complete

        init(start: Int) { offset = start }

        mutating func add(_ bytes: [UInt8]) {
            for b in bytes {
                if pending > 0 && b & 0xC0 == 0x80 {
                    pending -= 1
                    if pending == 0 { offset += units }
                    continue
                }
                if pending > 0 { offset += 1; pending = 0 }  // a cut character: one U+FFFD
                switch b {
                case 0x00..<0x80: offset += 1
                case 0xC2..<0xE0: pending = 1; units = 1
                case 0xE0..<0xF0: pending = 2; units = 1
                case 0xF0..<0xF5: pending = 3; units = 2
                default: offset += 1  // not a lead byte
                }
            }
        }
    }

    /// Chat form: one object per token with its bytes and alternatives.
    static func chat(_ t: Tokenizer, _ entries: [TokenLogprob]) -> JSON {
        func item(_ id: Int32, _ lp: Float) -> [(String, JSON)] {
            let b = t.tokenBytes(id)
            return [("token", .string(String(decoding: b, as: UTF8.self))), ("logprob", JSON(lp)),
                    ("bytes", .array(b.map { JSON(Int($0)) }))]
        }
        // `refusal`: OpenAI's logprobs of a refusal's tokens; this server's models give none.
        return ["content": .array(entries.map { e in
            .object(item(e.token, e.logprob) + [("top_logprobs", .array(e.top.map { .object(item($0.token, $0.logprob)) }))])
        }), "refusal": .null]
    }
}
