/// Bytes per tile of 16 rows and super-block of each packed K-quant layout (`VNNIKQuantPacked`
/// and `KQuantPacker` describe them): one place for the packers and both backends' kernels.
/// Outside any `#if arch`: the plain-Swift packer sizes its tiles on every CPU.
public enum KQuantTile {
    @inlinable public static var q2K: Int { 1344 }
    @inlinable public static var q3K: Int { 1824 }
    @inlinable public static var q4K: Int { 2368 }
    @inlinable public static var q5K: Int { 2880 }
    @inlinable public static var q6K: Int { 3392 }

    /// The tile of GGML type `typeID` (10 = Q2_K ... 14 = Q6_K).
    @inlinable public static func bytes(_ typeID: UInt32) -> Int {
        switch typeID {
        case 10: return q2K
        case 11: return q3K
        case 12: return q4K
        case 13: return q5K
        default: return q6K
        }
    }

    /// Bytes of the packed copy of a matrix of `rows` rows of `superBlocks` super-blocks.
    @inlinable public static func packedBytes(typeID: UInt32, rows: Int, superBlocks: Int) -> Int {
        (rows + 15) / 16 * superBlocks * bytes(typeID)
    }
}
