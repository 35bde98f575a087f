import Foundation

/// BERT's WordPiece (`tokenizer.ggml.model` = "bert") on a GGUF vocabulary, giving the ids of
/// Hugging Face's BERT tokenizer, the one such models were trained with (and llama.cpp's, except
/// where llama.cpp departs from it: below).
///
/// The GGUF converter stores a word-initial piece as "▁piece" and a continuation
/// ("##piece" in BERT's vocab.txt) as plain "piece". Encoding a text:
/// 1. per code point: when stripping accents, its NFD form with the nonspacing marks (Mn)
///    dropped; drop NUL, U+FFFD and control/format characters; lowercase;
/// 2. split on whitespace, and make every punctuation character, ASCII symbol and
///    CJK ideograph a word of its own;
/// 3. each word, prefixed with "▁", is cut greedily into the longest vocabulary
///    pieces from the left; a word with any part left unmatched, or longer than 100
///    characters (BERT's `max_input_chars_per_word`), becomes `[UNK]`.
///
/// llama.cpp (llama-cpp-python 0.3.36) keeps only the first code point of each NFD form and drops
/// spacing marks too, so Korean syllables shrink to their first jamo (한국, 호감 and 학교 get one
/// id list) and Indic vowel signs vanish; and it cuts words of any length into pieces (its issue
/// 5496). Those texts follow Hugging Face here (Tests/TokenizerTests/WordPieceTests).
struct WordPiece: Sendable {
    private let pieces: PieceTable
    private let maxPieceBytes: Int
    private let unknownID: Int32?
    private let lowercase: Bool
    private let stripAccents: Bool

    init(tokens: [String], unknownID: Int32?, lowercase: Bool, stripAccents: Bool) {
        var table = PieceTable()
        var longest = 0
        // Later ids win on duplicate texts (llama.cpp's map); PieceTable keeps the first inserted.
        for i in tokens.indices.reversed() {
            let b = Array(tokens[i].utf8)
            table.insert(b, id: Int32(i))
            longest = max(longest, b.count)
        }
        pieces = table
        maxPieceBytes = longest
        self.unknownID = unknownID
        self.lowercase = lowercase
        self.stripAccents = stripAccents
    }

    /// Appends the ids of `text` (no [CLS]/[SEP]; the caller adds those).
    func encode(_ text: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
        var word: [UInt8] = [0xE2, 0x96, 0x81]  // "▁" then the word's bytes
        func finishWord() {
            if word.count > 3 { encodeWord(word, into: &out) }
            word.removeSubrange(3...)
        }
        func take(_ scalar: Unicode.Scalar) {
            var s = scalar
            let v = s.value
            // Control characters go before white space is looked at (BERT's clean_text): \x0b, \x0c
            // and \x85 are both, and vanish; tab, line feed and carriage return separate words.
            let category = s.properties.generalCategory
            if v == 0 || v == 0xFFFD || Self.isControl(category) && v != 0x09 && v != 0x0A && v != 0x0D { return }
            if Self.isWhitespace(v) { finishWord(); return }
            if stripAccents && category == .nonspacingMark { return }
            if lowercase { s = Self.lowercased(s) }
            if Self.isPunctuation(category) || (v < 0x7F && Self.isSymbol(category)) || Self.isChinese(v) {
                finishWord()
                word.append(contentsOf: String(s).utf8)
                finishWord()
            } else {
                word.append(contentsOf: String(s).utf8)
            }
        }
        for scalar in String(decoding: text, as: UTF8.self).unicodeScalars {
            if stripAccents && scalar.value >= 0x80 {
                for s in String(scalar).decomposedStringWithCanonicalMapping.unicodeScalars { take(s) }
            } else {
                take(scalar)
            }
        }
        finishWord()
    }

    /// BERT's `max_input_chars_per_word`: a longer word is `[UNK]`.
    static let maxWordCharacters = 100

    /// Greedy longest match over the bytes of one "▁"-prefixed word.
    private func encodeWord(_ word: [UInt8], into out: inout [Int32]) {
        let start = out.count
        // Characters after "▁": the bytes that begin one.
        if word.count - 3 > Self.maxWordCharacters, word.dropFirst(3).lazy.filter({ $0 & 0xC0 != 0x80 }).count > Self.maxWordCharacters {
            if let unknownID { out.append(unknownID) }
            return
        }
        word.withUnsafeBufferPointer { w in
            let n = w.count
            var i = 0
            while i < n {
                var j = min(n, i + maxPieceBytes)
                var found: Int32?
                while j > i {
                    if let id = pieces.lookup(UnsafeBufferPointer(rebasing: w[i..<j])) { found = id; break }
                    j -= 1
                }
                guard let id = found else {
                    out.removeSubrange(start...)
                    break
                }
                out.append(id)
                i = j
            }
        }
        if out.count == start, let unknownID { out.append(unknownID) }
    }

    // MARK: - Character classes, as llama.cpp's unicode tables define them

    /// Unicode White_Space (llama.cpp's `unicode_set_whitespace`).
    static func isWhitespace(_ v: UInt32) -> Bool {
        switch v {
        case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }

    /// \p{C} without Cn (control, format, private use, surrogate).
    static func isControl(_ c: Unicode.GeneralCategory) -> Bool {
        switch c {
        case .control, .format, .privateUse, .surrogate: return true
        default: return false
        }
    }

    static func isPunctuation(_ c: Unicode.GeneralCategory) -> Bool {
        switch c {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    static func isSymbol(_ c: Unicode.GeneralCategory) -> Bool {
        switch c {
        case .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol: return true
        default: return false
        }
    }

    /// The CJK ranges of BERT's `_is_chinese_char` (with the HF Rust upper bound llama.cpp copies).
    static func isChinese(_ v: UInt32) -> Bool {
        (0x4E00...0x9FFF).contains(v) || (0x3400...0x4DBF).contains(v) || (0x20000...0x2A6DF).contains(v)
            || (0x2A700...0x2B73F).contains(v) || (0x2B740...0x2B81F).contains(v) || (0x2B920...0x2CEAF).contains(v)
            || (0xF900...0xFAFF).contains(v) || (0x2F800...0x2FA1F).contains(v)
    }

    /// The simple (one code point) lowercase mapping of UnicodeData.txt.
    static func lowercased(_ s: Unicode.Scalar) -> Unicode.Scalar {
        if s.value < 0x80 {
            return (0x41...0x5A).contains(s.value) ? Unicode.Scalar(UInt8(s.value + 32)) : s
        }
        if s.value == 0x130 { return "i" }  // the one full mapping longer than its simple one (İ → i̇)
        let m = s.properties.lowercaseMapping.unicodeScalars
        return m.count == 1 ? (m.first ?? s) : s
    }
}
