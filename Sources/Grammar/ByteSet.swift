/// A set of bytes (256 bits): what one terminal of a compiled grammar matches.
public struct ByteSet: Hashable, Sendable {
    var w0: UInt64 = 0, w1: UInt64 = 0, w2: UInt64 = 0, w3: UInt64 = 0

    public init() {}

    public init(_ bytes: some Sequence<UInt8>) {
        for b in bytes { insert(b) }
    }

    public init(range: ClosedRange<UInt8>) {
        for b in range { insert(b) }
    }

    @inline(__always)
    public func contains(_ b: UInt8) -> Bool {
        let bit = UInt64(1) << UInt64(b & 63)
        switch b >> 6 {
        case 0: return w0 & bit != 0
        case 1: return w1 & bit != 0
        case 2: return w2 & bit != 0
        default: return w3 & bit != 0
        }
    }

    public mutating func insert(_ b: UInt8) {
        let bit = UInt64(1) << UInt64(b & 63)
        switch b >> 6 {
        case 0: w0 |= bit
        case 1: w1 |= bit
        case 2: w2 |= bit
        default: w3 |= bit
        }
    }

    public var isEmpty: Bool { (w0 | w1 | w2 | w3) == 0 }

    public func isDisjoint(with o: ByteSet) -> Bool {
        (w0 & o.w0) | (w1 & o.w1) | (w2 & o.w2) | (w3 & o.w3) == 0
    }

    public mutating func formUnion(_ o: ByteSet) {
        w0 |= o.w0; w1 |= o.w1; w2 |= o.w2; w3 |= o.w3
    }
}
