/// Bytes per tile of 16 rows and super-block of each packed K-quant layout (`VNNIKQuantPacked`
/// and `KQuantPacker` describe them): one place for the packers and both backends' kernels.
/// Outside any `#if arch`: the plain-Swift packer sizes its tiles on every CPU.
public enum KQuantTile {
    @inlinable public static var q2K: Int { 1344 }
    @inlinable public static var q3K: Int { 1824 }
    @inlinable public static var q4K: Int { 2368 }
    @inlinable public static var q5K: Int { 2880 }
    @inlinable public static var q6K: Int { 3392 }
    @inlinable public static var iq4XS: Int { 2208 }

    /// The tile of GGML type `typeID` (10 = Q2_K ... 14 = Q6_K, 23 = IQ4_XS).
    @inlinable public static func bytes(_ typeID: UInt32) -> Int {
        switch typeID {
        case 10: return q2K
        case 11: return q3K
        case 12: return q4K
        case 13: return q5K
        case 23: return iq4XS
        default: return q6K
        }
    }

    /// Q6_K's quants in the order the kernels read them, so a tile's quants are one ascending
    /// stream (its scales, at 3,072, are read beside them): per quad (units 4q..<4q+4) 768 bytes,
    /// the quad's top-bits vectors, then the low nibbles of unit pairs 2q and 2q + 1. (The top
    /// bits apart, at 2,048, made two streams through each super-block: on Zen 4 the hardware
    /// prefetcher then left Q6_K to software prefetch alone.)
    /// Byte offset of top-bits vector v of quad `quad`.
    @inlinable public static func q6KTop(_ quad: Int, _ v: Int) -> Int { 768 * quad + 64 * v }
    /// Byte offset of low-nibble vector v of unit pair p (units 2p, 2p + 1).
    @inlinable public static func q6KLow(_ p: Int, _ v: Int) -> Int { 768 * (p / 2) + 256 * (1 + p % 2) + 64 * v }

    /// Bytes of the packed copy of a matrix of `rows` rows of `superBlocks` super-blocks.
    @inlinable public static func packedBytes(typeID: UInt32, rows: Int, superBlocks: Int) -> Int {
        (rows + 15) / 16 * superBlocks * bytes(typeID)
    }
}
