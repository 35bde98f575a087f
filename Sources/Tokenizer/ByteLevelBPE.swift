/// Byte-level BPE (`tokenizer.ggml.model = gpt2`): a pre-token starts as one symbol per
/// byte and the adjacent pair with the lowest merge rank is merged until none is left
/// (ties: leftmost), as GPT-2, Hugging Face `tokenizers` and llama.cpp do.
///
/// Symbols are token ids, so a merge is one hash lookup of an id pair. A byte whose
/// single-byte token is missing from the vocabulary (some drop 0xC0, 0xF5-0xFF and rare
/// control bytes) is left out, as llama.cpp and HF `tokenizers` (no unk token) do.
final class ByteLevelBPE: Sendable {
    /// Id of the single-byte token of each byte; -1 when the vocabulary lacks it.
    private let byteToken: [Int32]
    /// `left << 32 | right` → `rank << 32 | merged`.
    private let merges: [UInt64: UInt64]
    /// Llama 3 style: a pre-token that is itself a token is not merged (llama.cpp
    /// `ignore_merges`, HF `ignore_merges: true`).
    private let wholeWords: PieceTable?

    private let cache = WordCache()
    /// Below this many symbols a rescanning loop beats the heap.
    private static let smallWord = 24

    /// `textToID`: token text → id (later ids win, as in llama.cpp's map).
    init(tokens: [String], textToID: [String: Int32], merges mergeLines: [String],
         ignoreMerges: Bool, bytesToID: PieceTable) throws {
        var byteToken = [Int32](repeating: -1, count: 256)
        for b in 0..<256 {
            if let u = Unicode.Scalar(ByteLevelAlphabet.scalarOfByte[b]), let id = textToID[String(u)] {
                byteToken[b] = id
            }
        }
        self.byteToken = byteToken
        var merges: [UInt64: UInt64] = [:]
        merges.reserveCapacity(mergeLines.count)
        for (rank, line) in mergeLines.enumerated() {
            // Split at the first space after the first character, as llama.cpp does.
            let utf8 = Array(line.utf8)
            guard utf8.count >= 3, let sp = utf8[1...].firstIndex(of: 0x20) else {
                throw TokenizerError.malformedMerge(index: rank, text: line)
            }
            let left = String(decoding: utf8[..<sp], as: UTF8.self)
            let right = String(decoding: utf8[(sp + 1)...], as: UTF8.self)
            guard let l = textToID[left] else { throw TokenizerError.mergeNamesUnknownToken(index: rank, token: left) }
            guard let r = textToID[right] else { throw TokenizerError.mergeNamesUnknownToken(index: rank, token: right) }
            guard let m = textToID[left + right] else {
                throw TokenizerError.mergeNamesUnknownToken(index: rank, token: left + right)
            }
            let key = UInt64(UInt32(bitPattern: l)) << 32 | UInt64(UInt32(bitPattern: r))
            // A repeated merge keeps its first (best) rank.
            if merges[key] == nil {
                merges[key] = UInt64(rank) << 32 | UInt64(UInt32(bitPattern: m))
            }
        }
        self.merges = merges
        self.wholeWords = ignoreMerges ? bytesToID : nil
    }

    /// Appends the ids of one pre-token.
    func encode(_ word: UnsafeBufferPointer<UInt8>, into out: inout [Int32]) {
        let n = word.count
        if n == 0 { return }
        if n == 1 {
            appendSymbol(byteToken[Int(word[0])], into: &out)
            return
        }
        if let wholeWords, let whole = wholeWords.lookup(word) {
            out.append(whole)
            return
        }
        let cacheable = n <= WordCache.maxWordBytes
        let hash = cacheable ? PieceTable.hash(word) : 0
        if cacheable && cache.append(word, hash: hash, into: &out) { return }
        var symbols = [Int32](unsafeUninitializedCapacity: n) { buf, count in
            for i in 0..<n { buf[i] = byteToken[Int(word[i])] }
            count = n
        }
        if n <= ByteLevelBPE.smallWord {
            mergeByRescan(&symbols)
        } else {
            mergeWithHeap(&symbols)
        }
        let start = out.count
        for s in symbols { appendSymbol(s, into: &out) }
        if cacheable { cache.store(word, hash: hash, ids: out[start...]) }
    }

    @inline(__always)
    private func appendSymbol(_ id: Int32, into out: inout [Int32]) {
        if id >= 0 { out.append(id) }
    }

    @inline(__always)
    private func lookup(_ l: Int32, _ r: Int32) -> UInt64? {
        guard l >= 0, r >= 0 else { return nil }
        return merges[UInt64(UInt32(bitPattern: l)) << 32 | UInt64(UInt32(bitPattern: r))]
    }

    /// O(n²) but allocation-free: best for the short words that dominate text.
    private func mergeByRescan(_ symbols: inout [Int32]) {
        var pairRank = [UInt64](repeating: .max, count: symbols.count)  // packed merge of (i, i+1)
        for i in 0..<(symbols.count - 1) {
            pairRank[i] = lookup(symbols[i], symbols[i + 1]) ?? .max
        }
        while symbols.count > 1 {
            var best = UInt64.max
            var at = -1
            for i in 0..<(symbols.count - 1) where pairRank[i] < best {
                // Packed values compare by rank first; ranks are unique, so no tie here
                // can differ in rank, and `<` keeps the leftmost.
                best = pairRank[i]
                at = i
            }
            if at < 0 { break }
            symbols[at] = Int32(bitPattern: UInt32(truncatingIfNeeded: best))
            symbols.remove(at: at + 1)
            pairRank.remove(at: at + 1)
            pairRank[at] = at + 1 < symbols.count ? (lookup(symbols[at], symbols[at + 1]) ?? .max) : .max
            if at > 0 { pairRank[at - 1] = lookup(symbols[at - 1], symbols[at]) ?? .max }
        }
    }

    /// O(n log n) with a linked list and a lazily invalidated heap, for long pre-tokens
    /// (a megabyte without spaces must not take quadratic time).
    private func mergeWithHeap(_ symbols: inout [Int32]) {
        let n = symbols.count
        var next = [Int](unsafeUninitializedCapacity: n) { b, c in
            for i in 0..<n { b[i] = i + 1 < n ? i + 1 : -1 }
            c = n
        }
        var prev = [Int](unsafeUninitializedCapacity: n) { b, c in
            for i in 0..<n { b[i] = i - 1 }
            c = n
        }
        var alive = [Bool](repeating: true, count: n)
        // Entry = rank << 32 | left index: min-order is rank, then leftmost.
        var heap = MinHeap<UInt64>(less: <)
        heap.reserve(n)
        for i in 0..<(n - 1) {
            if let m = lookup(symbols[i], symbols[i + 1]) { heap.push((m & 0xFFFF_FFFF_0000_0000) | UInt64(i)) }
        }
        while let top = heap.pop() {
            let rank = top >> 32
            let left = Int(top & 0xFFFF_FFFF)
            let right = next[left]
            // Stale if the left symbol is gone or its pair now has another merge.
            guard alive[left], right >= 0, let m = lookup(symbols[left], symbols[right]), m >> 32 == rank else {
                continue
            }
            symbols[left] = Int32(bitPattern: UInt32(truncatingIfNeeded: m))
            alive[right] = false
            next[left] = next[right]
            if next[right] >= 0 { prev[next[right]] = left }
            if prev[left] >= 0, let pm = lookup(symbols[prev[left]], symbols[left]) {
                heap.push((pm & 0xFFFF_FFFF_0000_0000) | UInt64(prev[left]))
            }
            if next[left] >= 0, let nm = lookup(symbols[left], symbols[next[left]]) {
                heap.push((nm & 0xFFFF_FFFF_0000_0000) | UInt64(left))
            }
        }
        var out: [Int32] = []
        out.reserveCapacity(n)
        var i = 0
        while i >= 0 {
            out.append(symbols[i])
            i = next[i]
        }
        symbols = out
    }
}
