import CPrefetch

/// One tile of the tiled attention kernels (AVX2 here, AVX-512 in KernelsAVX512): tokens
/// at positions p0..<p0+tokens of one sequence × the query heads of one kv head. Row
/// r = i·group + g is token i with head kvHead·group + g; it reads q and writes out at
/// i·rowStride + head·headSize. Token i attends to its window's start...its own position.
public struct AttentionTile {
    public let q: UnsafePointer<Float>
    public let out: UnsafeMutablePointer<Float>
    public let rowStride: Int, tokens: Int, p0: Int, window: Int, kvHead: Int, group: Int, headSize: Int

    @inlinable
    public init(q: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, rowStride: Int, tokens: Int, p0: Int, window: Int,
                kvHead: Int, group: Int, headSize: Int) {
        self.q = q
        self.out = out
        self.rowStride = rowStride
        self.tokens = tokens
        self.p0 = p0
        self.window = window
        self.kvHead = kvHead
        self.group = group
        self.headSize = headSize
    }

    @inlinable public var rows: Int { tokens * group }
    /// The first position any row attends to (window 0: no window) and the last.
    @inlinable public var first: Int { window > 0 ? max(0, p0 - window + 1) : 0 }
    @inlinable public var last: Int { p0 + tokens - 1 }

    @inlinable public func query(_ r: Int) -> UnsafePointer<Float> {
        q + (r / group) * rowStride + (kvHead * group + r % group) * headSize
    }

    @inlinable public func output(_ r: Int) -> UnsafeMutablePointer<Float> {
        out + (r / group) * rowStride + (kvHead * group + r % group) * headSize
    }

    /// Row r's slots a..<b of the chunk of `length` slots starting at position c: from its
    /// window's start to its own position (empty when b <= a).
    @inlinable public func slots(_ r: Int, chunk c: Int, length: Int) -> (a: Int, b: Int) {
        let pos = p0 + r / group
        let start = window > 0 ? max(0, pos - window + 1) : 0
        return (max(start - c, 0), min(length, pos - c + 1))
    }

    /// Row r's slots in a chunk of 32 as a bit mask (bit i: slot c + i).
    @inlinable public func mask(_ r: Int, chunk c: Int) -> UInt32 {
        let (a, b) = slots(r, chunk: c, length: 32)
        return b > a ? UInt32(truncatingIfNeeded: ((1 << b) - 1) & ~((1 << a) - 1)) : 0
    }

    /// Asks for the 16 slots at position p (within one block) of this tile's kv head, keys and
    /// values, into L2: only the lines this head reads (hs elements of each value row, not the
    /// other heads' rest of the row; 16 slots of each key row). Into L1 (prefetcht0), a block's
    /// lines crowded out the chunk being worked on: one token over 2,000 positions ran 32% faster
    /// on one thread this way, 35-60% over 4,000 on two.
    /// Keys [blocks][kvDim][blockSize], values [blocks][blockSize][kvDim], `eb` bytes an element.
    @inlinable public func prefetch(slots p: Int, blockTable: UnsafePointer<Int32>, keys: UnsafeRawPointer,
                                    values: UnsafeRawPointer, elementBytes eb: Int, blockSize bs: Int, kvDim: Int) {
        let hs = headSize, b = Int(blockTable[p / bs]), s = p % bs
        // Every line [start, start + bytes) touches, from the line holding start.
        @inline(__always) func lines(_ start: UnsafeRawPointer, _ bytes: Int) {
            let skew = Int(bitPattern: start) & 63
            jeton_prefetch_range_l2(start - skew, bytes + skew)
        }
        let v = values + ((b * bs + s) * kvDim + kvHead * hs) * eb
        for i in 0..<16 { lines(v + i * kvDim * eb, hs * eb) }
        // hs rows of bs slots from this head's first: one run when the block is the 16 slots.
        let k = keys + ((b * kvDim + kvHead * hs) * bs + s) * eb
        if bs == 16 {
            lines(k, hs * 16 * eb)
        } else {
            for d in 0..<hs { lines(k + d * bs * eb, 16 * eb) }
        }
    }

    /// Starts every row's online softmax: running max -inf, denominator 0, output zero.
    @inlinable public func start(max ms: UnsafeMutablePointer<Float>, sum ls: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            ms[r] = -.infinity
            ls[r] = 0
            output(r).update(repeating: 0, count: headSize)
        }
    }
}
