/// SentencePiece BPE (`tokenizer.ggml.model = llama`): the text (spaces already written
/// as "▁") starts as one symbol per character; the adjacent pair whose concatenation is
/// a piece with the highest score is merged (ties: leftmost) until no pair is a piece.
/// A leftover symbol that is not a piece becomes its bytes as `<0xXX>` tokens (byte
/// fallback), else the unknown id. This is sentencepiece's `bpe_model.cc` Encode and
/// llama.cpp's `llm_tokenizer_spm`.
final class SentencePieceBPE: Sendable {
    /// Pieces that merges may produce: normal and user-defined ones. Control, unknown
    /// and byte tokens are excluded as in sentencepiece, so "<s>" in text never merges
    /// into BOS.
    private let pieces: PieceTable
    private let scores: [Float]
    /// Id of `<0xXX>` for each byte, -1 when missing.
    private let byteTokens: [Int32]
    private let unknownID: Int32?
    /// True when no piece has "▁" after another character (true of Llama-style vocabularies,
    /// trained with split_by_whitespace). Then no merge crosses the start of a "▁" that
    /// follows another character, so words are encoded alone and cached, with the same
    /// result as encoding the whole text at once.
    private let splitsAtSpaces: Bool
    private let cache = WordCache()

    init(tokens: [String], types: [Int32], scores: [Float], unknownID: Int32?) {
        var pieces = PieceTable()
        var byteTokens = [Int32](repeating: -1, count: 256)
        var splitsAtSpaces = true
        for (i, t) in tokens.enumerated() {
            let type = i < types.count ? types[i] : TokenType.normal.rawValue
            if type == TokenType.byte.rawValue, let b = SentencePieceBPE.byteValue(ofPiece: t) {
                if byteTokens[Int(b)] < 0 { byteTokens[Int(b)] = Int32(i) }
                continue
            }
            switch type {
            case TokenType.normal.rawValue, TokenType.userDefined.rawValue:
                let u = Array(t.utf8)
                pieces.insert(u, id: Int32(i))
                if splitsAtSpaces && SentencePieceBPE.hasInnerSpace(u) { splitsAtSpaces = false }
            default:
                break
            }
        }
        self.pieces = pieces
        self.scores = scores
        self.byteTokens = byteTokens
        self.unknownID = unknownID
        self.splitsAtSpaces = splitsAtSpaces
    }

    /// 0xXX for a piece spelled exactly `<0xXX>`.
    static func byteValue(ofPiece t: String) -> UInt8? {
        let u = Array(t.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3...4], as: UTF8.self), radix: 16)
    }

    @inline(__always)
    private static func isSpaceMark(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> Bool {
        i + 2 < b.count && b[i] == 0xE2 && b[i + 1] == 0x96 && b[i + 2] == 0x81
    }

    /// Whether "▁" occurs in `piece` after a character that is not "▁".
    private static func hasInnerSpace(_ piece: [UInt8]) -> Bool {
        piece.withUnsafeBufferPointer { b in
            var i = 0
            var leading = true
            while i < b.count {
                if isSpaceMark(b, i) {
                    if !leading { return true }
                    i += 3
                } else {
                    leading = false
                    i += 1
                }
            }
            return false
        }
    }

    /// Appends the ids of `text`, which must already have its spaces escaped.
    func encode(_ text: [UInt8], into out: inout [Int32]) {
        text.withUnsafeBufferPointer { b in
            guard splitsAtSpaces else {
                encodeSegment(b, into: &out)
                return
            }
            var segStart = 0
            var i = 0
            var prevWasMark = true
            while i < b.count {
                if SentencePieceBPE.isSpaceMark(b, i) {
                    if !prevWasMark && i > segStart {
                        encodeCached(UnsafeBufferPointer(rebasing: b[segStart..<i]), into: &out)
                        segStart = i
                    }
                    prevWasMark = true
                    i += 3
                } else {
                    prevWasMark = false
                    i += 1
                }
            }
            if segStart < b.count { encodeCached(UnsafeBufferPointer(rebasing: b[segStart...]), into: &out) }
        }
    }

    private func encodeCached(_ word: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
        guard word.count <= WordCache.maxWordBytes else {
            encodeSegment(word, into: &out)
            return
        }
        let hash = PieceTable.hash(word)
        if cache.append(word, hash: hash, into: &out) { return }
        let start = out.count
        encodeSegment(word, into: &out)
        cache.store(word, hash: hash, ids: out[start...])
    }

    private struct Bigram {
        var score: Float
        var left: Int
        var right: Int
        var size: Int
    }

    private func encodeSegment(_ text: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
        if text.isEmpty { return }
        // Symbols: start and length in bytes (length 0 once merged away), linked list.
        var start: [Int] = []
        var len: [Int] = []
        start.reserveCapacity(text.count)
        len.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            var l = 1
            if text[i] >= 0x80 {
                l = max(CodepointBuffer.decodeMultiByte(text, at: i).1, 1)  // invalid byte: a symbol alone
            }
            start.append(i)
            len.append(l)
            i += l
        }
        let n = start.count
        var prev = (0..<n).map { $0 - 1 }
        var next = (0..<n).map { $0 + 1 < n ? $0 + 1 : -1 }
        // Highest score first; equal scores: leftmost first.
        var queue = MinHeap<Bigram>(less: { a, b in
            a.score > b.score || (a.score == b.score && a.left < b.left)
        })
        func tryAdd(_ l: Int, _ r: Int) {
            guard l >= 0, r >= 0 else { return }
            let size = len[l] + len[r]
            guard let id = pieces.lookup(UnsafeBufferPointer(rebasing: text[start[l]..<(start[l] + size)])) else { return }
            queue.push(Bigram(score: Int(id) < scores.count ? scores[Int(id)] : 0, left: l, right: r, size: size))
        }
        for k in 1..<max(n, 1) { tryAdd(k - 1, k) }
        while let bg = queue.pop() {
            // Stale when either side changed since the pair was queued: a symbol only
            // grows (absorbing its right neighbour) or empties (absorbed).
            guard len[bg.left] > 0, len[bg.right] > 0, len[bg.left] + len[bg.right] == bg.size else { continue }
            len[bg.left] = bg.size
            len[bg.right] = 0
            next[bg.left] = next[bg.right]
            if next[bg.right] >= 0 { prev[next[bg.right]] = bg.left }
            tryAdd(prev[bg.left], bg.left)
            tryAdd(bg.left, next[bg.left])
        }
        var k = 0
        while k >= 0 && k < n {
            let piece = UnsafeBufferPointer(rebasing: text[start[k]..<(start[k] + len[k])])
            if let id = pieces.lookup(piece) {
                out.append(id)
            } else if piece.allSatisfy({ byteTokens[Int($0)] >= 0 }) {
                for b in piece { out.append(byteTokens[Int(b)]) }
            } else if let unk = unknownID {
                // No byte fallback in this vocabulary: one unknown per character, as sentencepiece.
                out.append(unk)
            }
            k = next[k]
        }
    }
}
