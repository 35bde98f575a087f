/// SentencePiece BPE (`tokenizer.ggml.model = llama`): the text (spaces already written
/// as "▁") starts as one symbol per character; the adjacent pair whose concatenation is
/// a piece with the highest score is merged (ties: leftmost) until no pair is a piece.
/// A leftover symbol that is not a piece becomes its bytes as `<0xXX>` tokens (byte
/// fallback), else the unknown id. This is sentencepiece's `bpe_model.cc` Encode and
/// llama.cpp's `llm_tokenizer_spm`.
struct SentencePieceBPE: Sendable {
    /// Pieces that merges may produce: normal and user-defined ones, keyed
    /// by their text bytes. Control, unknown and byte tokens are excluded as in
    /// sentencepiece, so "<s>" in text is never merged into BOS.
    private let pieces: [[UInt8]: Int32]
    private let scores: [Float]
    /// Id of `<0xXX>` for each byte, -1 when missing.
    private let byteTokens: [Int32]
    private let unknownID: Int32?

    init(tokens: [String], types: [Int32], scores: [Float], unknownID: Int32?) {
        var pieces: [[UInt8]: Int32] = [:]
        pieces.reserveCapacity(tokens.count)
        var byteTokens = [Int32](repeating: -1, count: 256)
        for (i, t) in tokens.enumerated() {
            let type = types.isEmpty ? TokenType.normal.rawValue : types[i]
            if let b = SentencePieceBPE.byteValue(ofPiece: t), type == TokenType.byte.rawValue || types.isEmpty {
                if byteTokens[Int(b)] < 0 { byteTokens[Int(b)] = Int32(i) }
                continue
            }
            switch type {
            case TokenType.normal.rawValue, TokenType.userDefined.rawValue:
                let key = Array(t.utf8)
                if pieces[key] == nil { pieces[key] = Int32(i) }
            default:
                break
            }
        }
        self.pieces = pieces
        self.scores = scores
        self.byteTokens = byteTokens
        self.unknownID = unknownID
    }

    /// 0xXX for a piece spelled exactly `<0xXX>`.
    static func byteValue(ofPiece t: String) -> UInt8? {
        let u = Array(t.utf8)
        guard u.count == 6, u[0] == 0x3C, u[1] == 0x30, u[2] == 0x78, u[5] == 0x3E else { return nil }
        return UInt8(String(decoding: u[3...4], as: UTF8.self), radix: 16)
    }

    private struct Bigram {
        var score: Float
        var left: Int
        var right: Int
        var size: Int
    }

    private func score(_ id: Int32) -> Float {
        Int(id) < scores.count ? scores[Int(id)] : 0
    }

    /// Appends the ids of `text`, which must already have its spaces escaped.
    func encode(_ text: [UInt8], into out: inout [Int32]) {
        if text.isEmpty { return }
        // Symbols: start and length in bytes (length 0 once merged away), linked list.
        var start: [Int] = []
        var len: [Int] = []
        text.withUnsafeBufferPointer { b in
            var i = 0
            while i < b.count {
                var l = 1
                if b[i] >= 0x80 {
                    let (_, n) = CodepointBuffer.decodeMultiByte(b, at: i)
                    l = max(n, 1)  // an invalid byte is a symbol of its own
                }
                start.append(i)
                len.append(l)
                i += l
            }
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
            guard let id = pieces[Array(text[start[l]..<(start[l] + size)])] else { return }
            queue.push(Bigram(score: score(id), left: l, right: r, size: size))
        }
        for i in 1..<max(n, 1) { tryAdd(i - 1, i) }
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
        var i = 0
        while i >= 0 && i < n {
            let piece = Array(text[start[i]..<(start[i] + len[i])])
            if let id = pieces[piece] {
                out.append(id)
            } else if piece.allSatisfy({ byteTokens[Int($0)] >= 0 }) {
                for b in piece { out.append(byteTokens[Int(b)]) }
            } else if let unk = unknownID {
                // No byte fallback in this vocabulary: one unknown per character, as sentencepiece.
                out.append(unk)
            }
            i = next[i]
        }
    }
}
