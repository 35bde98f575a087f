import Engine
import Tokenizer

/// Turns one choice's tokens into text pieces: complete UTF-8 characters only,
/// and never the start of a stop sequence until it is known not to be one.
struct ChoiceText {
    private var decoder: StreamingDecoder
    private let stops: [String]
    private var pending = ""                 // decoded, not yet released
    /// Logprobs of tokens whose text is not all released, each with where its text starts
    /// (UTF-16, from the start of the choice's text) and whether it has none (a control token left
    /// out): a stop sequence keeps those before it, and the textless ones where it begins, which
    /// came before its text.
    private var pendingTokens: [(start: Int, textless: Bool, logprob: TokenLogprob)] = []
    private(set) var text = ""               // released so far
    private(set) var utf16Count = 0          // text's UTF-16 length (for offsets), kept so it is not recounted
    private(set) var tokenCount = 0
    /// UTF-16 length of all text decoded so far, released or held back (where the next token's text starts).
    private(set) var decodedUTF16 = 0
    private(set) var stopped = false
    /// The stop sequence that ended the text (the Messages API names it in `stop_sequence`).
    private(set) var matchedStop: String?

    /// `skipSpecial`: control tokens give no text (OpenAI's answers never hold them; their
    /// logprob entries still name them).
    init(tokenizer: Tokenizer, stops: [String], skipSpecial: Bool) {
        // Generated text continues a prompt: keep a SentencePiece leading space.
        decoder = StreamingDecoder(tokenizer: tokenizer, skipSpecial: skipSpecial, fromSequenceStart: false)
        self.stops = stops
    }

    /// Newly released text, the logprob entries of the tokens whose text it completes, and where
    /// the first of those tokens' text begins (UTF-16, in the choice's text): text held back for a
    /// possible stop sequence goes out before its tokens, which may begin in an earlier piece.
    typealias Piece = (text: String, logprobs: [TokenLogprob], tokenStart: Int)

    /// Adds a token; returns what it releases.
    mutating func push(_ token: Int32, _ logprob: TokenLogprob?) -> Piece {
        guard !stopped else { return ("", [], utf16Count) }
        tokenCount += 1
        let piece = decoder.push(token)
        if let lp = logprob { pendingTokens.append((decodedUTF16, piece.isEmpty && !decoder.holdsBytes, lp)) }
        pending += piece
        decodedUTF16 += piece.utf16.count
        return release(final: false)
    }

    /// The last token left bytes of an unfinished character: the next token's text completes it.
    var holdsBytes: Bool { decoder.holdsBytes }

    /// Releases what is held back at the end of generation.
    mutating func finish() -> Piece {
        guard !stopped else { return ("", [], utf16Count) }
        pending += decoder.flush()
        return release(final: true)
    }

    private mutating func release(final: Bool) -> Piece {
        let tokenStart = pendingTokens.first?.start ?? utf16Count
        if let (cut, stop) = earliestStop() {
            stopped = true
            matchedStop = stop
            let out = String(pending[..<cut])
            pending = ""
            text += out
            utf16Count += out.utf16.count
            // Tokens that only wrote the stop sequence (or past it) are not part of the answer.
            let toks = pendingTokens.filter { Self.beforeStop($0.start, textless: $0.textless, cut: utf16Count) }.map(\.logprob)
            pendingTokens = []
            return (out, toks, tokenStart)
        }
        let keep = final ? 0 : heldSuffix()
        let idx = pending.index(pending.endIndex, offsetBy: -keep)
        let out = String(pending[..<idx])
        pending = String(pending[idx...])
        text += out
        utf16Count += out.utf16.count
        guard pending.isEmpty else { return (out, [], tokenStart) }
        let toks = pendingTokens.map(\.logprob)
        pendingTokens = []
        return (out, toks, tokenStart)
    }

    /// Whether a token whose text starts at `start` is part of an answer a stop sequence cut at
    /// `cut`: its text begins before the cut, or it has none and was generated where the stop
    /// begins (so before the stop's first character: that character's token starts there too,
    /// and any token after it starts past the cut).
    static func beforeStop(_ start: Int, textless: Bool, cut: Int) -> Bool {
        start < cut || (start == cut && textless)
    }

    /// Where the first stop sequence in the held text begins, and which one it is.
    private func earliestStop() -> (String.Index, String)? {
        var best: (String.Index, String)?
        for s in stops {
            if let r = pending.range(of: s), best.map({ r.lowerBound < $0.0 }) ?? true { best = (r.lowerBound, s) }
        }
        return best
    }

    /// Length (in Characters) of the longest end of `pending` that begins a stop sequence.
    private func heldSuffix() -> Int {
        var longest = 0
        for s in stops {
            var k = min(s.count - 1, pending.count)
            while k > longest {
                if pending.hasSuffix(s.prefix(k)) { longest = k; break }
                k -= 1
            }
        }
        return longest
    }
}
