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

    /// Splits `bytes` into raw-text ranges and special-token ids, in order.
    func partition(_ bytes: UnsafeBufferPointer<UInt8>, parseSpecial: Bool) -> [Fragment] {
        var out: [Fragment] = []
        let n = bytes.count
        if isEmpty {
            if n > 0 { out.append(.text(0..<n)) }
            return out
        }
        var textStart = 0
        var i = 0
        while i < n {
            guard firstByte[Int(bytes[i])] else {
                i += 1
                continue
            }
            var node = 0
            var j = i
            var bestID: Int32 = -1
            var bestEnd = i
            while j < n, let next = edges[node << 8 | Int(bytes[j])] {
                node = Int(next)
                j += 1
                let t = terminal[node]
                if t >= 0 && (parseSpecial || !needsParseSpecial[node]) {
                    bestID = t
                    bestEnd = j
                }
            }
            if bestID >= 0 {
                if textStart < i { out.append(.text(textStart..<i)) }
                out.append(.token(bestID))
                i = bestEnd
                textStart = bestEnd
            } else {
                i += 1
            }
        }
        if textStart < n { out.append(.text(textStart..<n)) }
        return out
    }
}
