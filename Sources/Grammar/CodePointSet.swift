/// A set of Unicode scalar values as sorted, disjoint, non-adjacent ranges (surrogates
/// never included): one "character" of a regex class or a GBNF `[...]`.
public struct CodePointSet: Hashable, Sendable {
    public private(set) var ranges: [ClosedRange<UInt32>] = []

    public static let maxScalar: UInt32 = 0x10FFFF
    public static let all = CodePointSet([0...maxScalar])

    public init() {}

    public init(_ ranges: [ClosedRange<UInt32>]) {
        for r in ranges { insert(r) }
    }

    public init(_ scalars: String) {
        for u in scalars.unicodeScalars { insert(u.value...u.value) }
    }

    public var isEmpty: Bool { ranges.isEmpty }

    public func contains(_ c: UInt32) -> Bool { ranges.contains { $0.contains(c) } }

    public mutating func insert(_ r: ClosedRange<UInt32>) {
        // Surrogates are not scalars: split them out.
        if r.lowerBound <= 0xDFFF && r.upperBound >= 0xD800 {
            if r.lowerBound < 0xD800 { insert(r.lowerBound...0xD7FF) }
            if r.upperBound > 0xDFFF { insert(0xE000...r.upperBound) }
            return
        }
        let hi = min(r.upperBound, Self.maxScalar)
        guard r.lowerBound <= hi else { return }
        ranges.append(r.lowerBound...hi)
        ranges.sort { $0.lowerBound < $1.lowerBound }
        var merged: [ClosedRange<UInt32>] = []
        for x in ranges {
            if let last = merged.last, last.upperBound &+ 1 >= x.lowerBound {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, x.upperBound)
            } else {
                merged.append(x)
            }
        }
        ranges = merged
    }

    public mutating func formUnion(_ o: CodePointSet) { for r in o.ranges { insert(r) } }

    public func union(_ o: CodePointSet) -> CodePointSet { var s = self; s.formUnion(o); return s }

    /// Every scalar not in the set.
    public var inverted: CodePointSet {
        var out = CodePointSet()
        var next: UInt32 = 0
        for r in ranges {
            if r.lowerBound > next { out.insert(next...(r.lowerBound - 1)) }
            next = r.upperBound + 1
        }
        if next <= Self.maxScalar { out.insert(next...Self.maxScalar) }
        return out
    }

    public func subtracting(_ o: CodePointSet) -> CodePointSet {
        var s = self.inverted
        s.formUnion(o)
        return s.inverted
    }

    /// The set as UTF-8: alternatives of byte-range sequences (the construction of Rust's
    /// regex-syntax `Utf8Sequences`), each sequence 1 to 4 byte ranges.
    public var utf8Sequences: [[ClosedRange<UInt8>]] {
        var out: [[ClosedRange<UInt8>]] = []
        for r in ranges { Self.split(r.lowerBound, r.upperBound, into: &out) }
        return out
    }

    private static func split(_ s0: UInt32, _ e0: UInt32, into out: inout [[ClosedRange<UInt8>]]) {
        var stack: [(UInt32, UInt32)] = [(s0, e0)]
        outer: while let (s, end) = stack.popLast() {
            var e = end
            inner: while true {
                guard s <= e else { continue outer }
                for m: UInt32 in [0x7F, 0x7FF, 0xFFFF] where s <= m && m < e {
                    stack.append((m + 1, e))
                    e = m
                    continue inner
                }
                if e <= 0x7F {
                    out.append([UInt8(s)...UInt8(e)])
                    continue outer
                }
                for i: UInt32 in 1..<4 {
                    let m: UInt32 = (1 << (6 * i)) - 1
                    if s & ~m != e & ~m {
                        if s & m != 0 {
                            stack.append(((s | m) + 1, e))
                            e = s | m
                            continue inner
                        }
                        if e & m != m {
                            stack.append((e & ~m, e))
                            e = (e & ~m) - 1
                            continue inner
                        }
                    }
                }
                let a = encode(s), b = encode(e)
                out.append(zip(a, b).map { $0...$1 })
                continue outer
            }
        }
    }

    static func encode(_ c: UInt32) -> [UInt8] {
        switch c {
        case 0..<0x80: return [UInt8(c)]
        case 0x80..<0x800: return [UInt8(0xC0 | (c >> 6)), UInt8(0x80 | (c & 0x3F))]
        case 0x800..<0x10000:
            return [UInt8(0xE0 | (c >> 12)), UInt8(0x80 | ((c >> 6) & 0x3F)), UInt8(0x80 | (c & 0x3F))]
        default:
            return [UInt8(0xF0 | (c >> 18)), UInt8(0x80 | ((c >> 12) & 0x3F)), UInt8(0x80 | ((c >> 6) & 0x3F)),
                    UInt8(0x80 | (c & 0x3F))]
        }
    }
}
