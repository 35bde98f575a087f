/// Finds special tokens (control, unknown, user-defined) in raw text so that they become
/// single ids, leftmost-longest like Hugging Face's added-token matcher.
///
/// A byte trie with a first-byte filter: text that never contains a special token's
/// first byte costs one table read per byte.
struct SpecialTokenMatcher: Sendable {
    enum Fragment: Equatable {
        case text(Range<Int>)
        case token(Int32)
    }

    private var firstByte = [Bool](repeating: false, count: 256)
    /// Edges keyed by `node << 8 | byte`; node 0 is the root.
    private var edges: [Int: Int32] = [:]
    /// Token ending at each node (-1 none) and whether it needs `parseSpecial`.
    private var terminal: [Int32] = [-1]
    private var needsParseSpecial: [Bool] = [false]

    var isEmpty: Bool { terminal.count == 1 }

    /// `alwaysMatched`: user-defined tokens, split even when `parseSpecial` is false
    /// (llama.cpp does the same); the others only when it is true.
    mutating func insert(_ text: [UInt8], id: Int32, alwaysMatched: Bool) {
        guard let first = text.first else { return }
        firstByte[Int(first)] = true
        var node = 0
        for b in text {
            let key = node << 8 | Int(b)
            if let next = edges[key] {
                node = Int(next)
            } else {
                let next = terminal.count
                terminal.append(-1)
                needsParseSpecial.append(false)
                edges[key] = Int32(next)
                node = next
            }
        }
        // A duplicate text keeps its first id, so lookups are stable.
        if terminal[node] < 0 {
            terminal[node] = id
            needsParseSpecial[node] = !alwaysMatched
        }
    }

    /// Splits `bytes` into raw-text ranges and special-token ids, in order. `plain`: sorted,
    /// disjoint byte ranges read as if `parseSpecial` were false (text a chat message holds):
    /// a control token neither starts in one nor runs into one.
    func partition(_ bytes: UnsafeBufferPointer<UInt8>, parseSpecial: Bool, plain: [Range<Int>] = []) -> [Fragment] {
        var out: [Fragment] = []
        var textStart = 0
        scan(bytes, parseSpecial: parseSpecial, plain: plain) { match, id, _ in
            if textStart < match.lowerBound { out.append(.text(textStart..<match.lowerBound)) }
            out.append(.token(id))
            textStart = match.upperBound
        }
        if textStart < bytes.count { out.append(.text(textStart..<bytes.count)) }
        return out
    }

    /// The byte ranges of `bytes` that become tokens only when special tokens are parsed
    /// (control and unknown tokens written as text), leftmost-longest as `partition` finds them.
    func parsedOnlyRanges(_ bytes: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        var out: [Range<Int>] = []
        scan(bytes, parseSpecial: true, plain: []) { match, _, parsedOnly in
            if parsedOnly { out.append(match) }
        }
        return out
    }

    /// Calls `found` for every token match, left to right, with its range, id and whether it
    /// needs `parseSpecial`.
    private func scan(_ bytes: UnsafeBufferPointer<UInt8>, parseSpecial: Bool, plain: [Range<Int>],
                      _ found: (Range<Int>, Int32, Bool) -> Void) {
        guard !isEmpty else { return }
        let n = bytes.count
        var i = 0
        var p = 0  // the first plain range not ending at or before i
        while i < n {
            guard firstByte[Int(bytes[i])] else {
                i += 1
                continue
            }
            while p < plain.count && plain[p].upperBound <= i { p += 1 }
            // Where a control token may end: nowhere when none is parsed here, else before the
            // next plain range.
            let controlEnd = !parseSpecial || (p < plain.count && plain[p].lowerBound <= i) ? i
                : (p < plain.count ? plain[p].lowerBound : n)
            var node = 0
            var j = i
            var bestID: Int32 = -1
            var bestEnd = i
            var bestParsedOnly = false
            while j < n, let next = edges[node << 8 | Int(bytes[j])] {
                node = Int(next)
                j += 1
                let t = terminal[node]
                if t >= 0 && (!needsParseSpecial[node] || j <= controlEnd) {
                    bestID = t
                    bestEnd = j
                    bestParsedOnly = needsParseSpecial[node]
                }
            }
            if bestID >= 0 {
                found(i..<bestEnd, bestID, bestParsedOnly)
                i = bestEnd
            } else {
                i += 1
            }
        }
    }
}
