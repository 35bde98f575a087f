/// Decodes ids one at a time for streaming: text is returned only up to the last
/// complete UTF-8 character, so a character split over several tokens (emoji, CJK with
/// byte-level or `<0xXX>` tokens) comes out whole once its last byte arrives.
///
/// The concatenation of all `push` results and `flush` equals `Tokenizer.decode` of the
/// same ids with the same options.
public struct StreamingDecoder {
    private let tokenizer: Tokenizer
    private let skipSpecial: Bool
    private var state: Tokenizer.LeadingSpaceState
    /// Bytes held back: an incomplete character at the end of the output so far.
    private var pending: [UInt8] = []

    /// `fromSequenceStart`: as in `Tokenizer.decodeBytes`; pass false when the ids
    /// continue a prompt, so a SentencePiece first token keeps its space.
    public init(tokenizer: Tokenizer, skipSpecial: Bool = false, fromSequenceStart: Bool = true) {
        self.tokenizer = tokenizer
        self.skipSpecial = skipSpecial
        self.state = Tokenizer.LeadingSpaceState(tokenizer: tokenizer, fromSequenceStart: fromSequenceStart)
    }

    /// Bytes of an incomplete character are held back (the next token completes it).
    public var holdsBytes: Bool { !pending.isEmpty }

    /// Text completed by `id`; "" while inside a multi-byte character.
    public mutating func push(_ id: Int32) -> String {
        tokenizer.appendBytes(of: id, skipSpecial: skipSpecial, state: &state, into: &pending)
        let cut = StreamingDecoder.completePrefixLength(pending)
        guard cut > 0 else { return "" }
        let text = String(decoding: pending[..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text
    }

    /// Whatever is held back, invalid bytes as U+FFFD.
    public mutating func flush() -> String {
        let text = String(decoding: pending, as: UTF8.self)
        pending.removeAll()
        return text
    }

    /// Length of `bytes` without a trailing character that more bytes could complete.
    /// Anything else, even invalid, is released: later bytes cannot change how it decodes.
    static func completePrefixLength(_ bytes: [UInt8]) -> Int {
        let n = bytes.count
        var i = n - 1
        // Find the last non-continuation byte among the last four.
        while i >= 0 && i >= n - 4 && bytes[i] & 0xC0 == 0x80 { i -= 1 }
        guard i >= 0 && i >= n - 4 else { return n }
        let lead = bytes[i]
        let need: Int
        switch lead {
        case 0xC2...0xDF: need = 2
        case 0xE0...0xEF: need = 3
        case 0xF0...0xF4: need = 4
        default: return n
        }
        return n - i < need ? i : n
    }
}
