import Dispatch
import Engine
import Tokenizer

/// Turns one choice's tokens into text pieces: complete UTF-8 characters only,
/// and never the start of a stop sequence until it is known not to be one. Stop sequences are
/// found in the text's UTF-8 bytes, as vLLM finds them in its code points: a character of several
/// code points (`"\r\n"`, a flag, an emoji with a skin tone) may come from several tokens, and a
/// stop holding or starting with one still matches.
struct ChoiceText {
    private var decoder: StreamingDecoder
    private let stops: [StopSequence]
    private var pending: [UInt8] = []        // decoded, not yet released (UTF-8, whole characters)
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
    /// The text was ended by one of its `LineRules`.
    private(set) var endedByRule = false

    /// llama-server's limits for code infill (`n_indent`, `t_max_predict_ms`): the text ends where
    /// a new line's code begins less indented than `minIndent` (its indentation kept), or, once
    /// `maxPredictNanos` have passed since the first token, after a token that writes a new line.
    struct LineRules: Sendable {
        var minIndent = 0
        var maxPredictNanos: UInt64?
    }
    private let rules: LineRules
    private var lineOpen = false           // after a newline, the line's indentation is still being read
    private var lineIndent = 0
    private var firstTokenAt: UInt64?

    /// `skipSpecial`: control tokens give no text (OpenAI's answers never hold them; their
    /// logprob entries still name them).
    init(tokenizer: Tokenizer, stops: [String], skipSpecial: Bool, rules: LineRules = LineRules()) {
        // Generated text continues a prompt: keep a SentencePiece leading space.
        decoder = StreamingDecoder(tokenizer: tokenizer, skipSpecial: skipSpecial, fromSequenceStart: false)
        self.stops = stops.filter { !$0.isEmpty }.map(StopSequence.init)
        self.rules = rules
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
        let start = pending.count
        pending += piece.utf8
        decodedUTF16 += piece.utf16.count
        var ruleCut: Int?, endAfter = false
        if rules.minIndent > 0 {
            // The first line is not checked (it goes on the cursor's line), and a blank line counts
            // as one without indentation, as in llama-server.
            for (k, b) in piece.utf8.enumerated() {
                if lineOpen {
                    if b == 32 || b == 9 { lineIndent += 1; continue }
                    lineOpen = false
                    if lineIndent < rules.minIndent { ruleCut = start + k; break }
                }
                if b == 10 { (lineOpen, lineIndent) = (true, 0) }
            }
        }
        if let limit = rules.maxPredictNanos {
            let now = DispatchTime.now().uptimeNanoseconds
            if firstTokenAt == nil { firstTokenAt = now }
            endAfter = piece.utf8.contains(10) && now &- firstTokenAt! > limit
        }
        return release(final: false, ruleCut: ruleCut, endAfter: endAfter)
    }

    /// The last token left bytes of an unfinished character: the next token's text completes it.
    var holdsBytes: Bool { decoder.holdsBytes }

    /// Releases what is held back at the end of generation.
    mutating func finish() -> Piece {
        guard !stopped else { return ("", [], utf16Count) }
        pending += decoder.flush().utf8
        return release(final: true)
    }

    /// `ruleCut`: where a `LineRules` limit ends the text (in `pending`); `endAfter`: it ends after
    /// what is held (a stop sequence found first still cuts it).
    private mutating func release(final: Bool, ruleCut: Int? = nil, endAfter: Bool = false) -> Piece {
        let tokenStart = pendingTokens.first?.start ?? utf16Count
        let (found, held) = scanStops()
        var match: (Int, String?)? = found.map { ($0.0, $0.1) }
        if let r = ruleCut, match.map({ r < $0.0 }) ?? true { match = (r, nil) }
        if match == nil && endAfter { match = (pending.count, nil) }
        if let (cut, stop) = match {
            stopped = true
            matchedStop = stop
            endedByRule = stop == nil
            let out = String(decoding: pending[..<cut], as: UTF8.self)
            pending = []
            text += out
            utf16Count += out.utf16.count
            // Tokens that only wrote the stop sequence (or past it) are not part of the answer.
            let toks = pendingTokens.filter { Self.beforeStop($0.start, textless: $0.textless, cut: utf16Count) }.map(\.logprob)
            pendingTokens = []
            return (out, toks, tokenStart)
        }
        // The held bytes begin a stop sequence, so they begin a character (UTF-8 synchronizes).
        let idx = pending.count - (final ? 0 : held)
        let out = String(decoding: pending[..<idx], as: UTF8.self)
        pending.removeFirst(idx)
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

    /// Where the first stop sequence in the held text begins (a byte offset) and which one it is;
    /// else the length in bytes of the longest end of `pending` that begins a stop sequence.
    private func scanStops() -> (match: (Int, String)?, held: Int) {
        var best: (Int, String)?, held = 0
        for s in stops {
            let (start, suffix) = s.scan(pending)
            if let start, best.map({ start < $0.0 }) ?? true { best = (start, s.text) }
            held = max(held, suffix)
        }
        return (best, held)
    }
}

/// A stop sequence's UTF-8 bytes and their Knuth-Morris-Pratt failure table: one pass over the
/// held text finds its first occurrence, or how much of its start the text ends with.
struct StopSequence {
    let text: String
    let bytes: [UInt8]
    /// fail[i]: the length of the longest proper prefix of bytes[...i] that is also its suffix.
    let fail: [Int]

    init(_ text: String) {
        self.text = text
        bytes = Array(text.utf8)
        var fail = [Int](repeating: 0, count: bytes.count)
        var k = 0
        for i in bytes.indices.dropFirst() {
            while k > 0 && bytes[i] != bytes[k] { k = fail[k - 1] }
            if bytes[i] == bytes[k] { k += 1 }
            fail[i] = k
        }
        self.fail = fail
    }

    /// The first occurrence's start in `text`, or nil and the length of the longest end of `text`
    /// that is a start of the sequence (shorter than it).
    func scan(_ text: [UInt8]) -> (start: Int?, suffix: Int) {
        var k = 0
        for (i, b) in text.enumerated() {
            while k > 0 && b != bytes[k] { k = fail[k - 1] }
            if b == bytes[k] { k += 1 }
            if k == bytes.count { return (i + 1 - k, 0) }
        }
        return (nil, k)
    }
}
