/// Which token ids a constrained sequence may take next: one bit per id, and whether the
/// grammar may end here (then the model's end-of-generation ids are allowed too).
public struct TokenMask: Sendable, Equatable {
    public var words: [UInt64]
    public var allowsEnd: Bool
    public let count: Int

    public init(count: Int) {
        self.count = count
        words = [UInt64](repeating: 0, count: (count + 63) / 64)
        allowsEnd = false
    }

    @inline(__always)
    public mutating func insert(_ id: Int32) { words[Int(id) >> 6] |= 1 << UInt64(id & 63) }

    @inline(__always)
    public func contains(_ id: Int32) -> Bool {
        id >= 0 && Int(id) < count && words[Int(id) >> 6] & (1 << UInt64(id & 63)) != 0
    }

    public var allowedCount: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }

    /// Sets every refused logit to -∞ (ids past the vocabulary too); end-of-generation ids
    /// keep their logits when the grammar may end.
    public func apply(to logits: UnsafeMutableBufferPointer<Float>, endOfGeneration: Set<Int32>) {
        var saved: [(Int, Float)] = []
        if allowsEnd {
            for id in endOfGeneration where id >= 0 && Int(id) < logits.count { saved.append((Int(id), logits[Int(id)])) }
        }
        let n = logits.count
        words.withUnsafeBufferPointer { w in
            for k in 0..<w.count {
                let bits = w[k]
                if bits == ~0 { continue }
                let base = k << 6
                let top = min(base + 64, n)
                guard base < top else { break }
                if bits == 0 {
                    for i in base..<top { logits[i] = -.infinity }
                } else {
                    for i in base..<top where bits & (1 << UInt64(i - base)) == 0 { logits[i] = -.infinity }
                }
            }
        }
        if n > count { for i in count..<n { logits[i] = -.infinity } }
        for (i, l) in saved { logits[i] = l }
    }
}
