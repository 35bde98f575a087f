#if arch(x86_64)
import CPrefetch

/// A pass's share of the next tile of a packed matrix, asked for into L2 a piece per step of the
/// pass (a super-block or a block) while the pass multiplies a tile already in cache: the shares
/// of a tile's passes split the next tile in order, so memory keeps streaming through the passes
/// after the first (many sequences; the packed kernels of both backends, thirty-sixth session).
public struct TileShare {
    /// Groups of 8 tokens up to which the packed kernels' passes take shares (more: a prompt,
    /// whose tile's read is a small part of its time, and where shares measured slower).
    public static let maxGroups = 4

    public let start: UnsafeRawPointer
    public let piece: Int
    public let end: UnsafeRawPointer

    /// Pass `pass` of `passes` over the tile at `tile`, `steps` steps of `stepBytes` bytes (the next
    /// tile follows it); nothing is asked for at or past `end`.
    @inlinable @inline(__always)
    public init(tile: UnsafeRawPointer, steps: Int, stepBytes: Int, pass: Int, passes: Int, end: UnsafeRawPointer) {
        piece = (stepBytes + passes - 1) / passes
        start = tile + steps * stepBytes + pass * steps * piece
        self.end = end
    }

    /// The piece for step `step` of the pass.
    @inlinable @inline(__always)
    public func ask(step: Int) {
        let q = start + step * piece
        if q < end { jeton_prefetch_range_l2(q, min(piece, end - q)) }
    }
}
#endif
