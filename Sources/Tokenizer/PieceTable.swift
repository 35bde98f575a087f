/// Byte string → token id without allocating on lookup: a 64-bit hash indexes the ids,
/// the stored bytes confirm a hit, and the (practically never used) overflow map keeps
/// pieces whose hash collides with another's.
struct PieceTable: Sendable {
    private struct Entry {
        var id: Int32
        var bytes: Range<Int>  // in `storage`
    }
    private var byHash: [UInt64: Int] = [:]  // hash → index in `entries`
    private var entries: [Entry] = []
    private var storage: [UInt8] = []
    private var overflow: [[UInt8]: Int32] = [:]

    init() {}

    var count: Int { entries.count + overflow.count }

    /// Adds `piece` unless already present (the first id wins).
    mutating func insert(_ piece: [UInt8], id: Int32) {
        if piece.withUnsafeBufferPointer({ lookup($0) }) != nil { return }
        let h = piece.withUnsafeBufferPointer { PieceTable.hash($0) }
        if byHash[h] == nil {
            byHash[h] = entries.count
            let s = storage.count
            storage.append(contentsOf: piece)
            entries.append(Entry(id: id, bytes: s..<storage.count))
        } else {
            overflow[piece] = id
        }
    }

    @inline(__always)
    func lookup(_ piece: UnsafeBufferPointer<UInt8>) -> Int32? {
        let h = PieceTable.hash(piece)
        if let i = byHash[h] {
            let e = entries[i]
            if e.bytes.count == piece.count {
                var same = true
                var j = e.bytes.lowerBound
                for b in piece {
                    if storage[j] != b {
                        same = false
                        break
                    }
                    j += 1
                }
                if same { return e.id }
            }
        }
        return overflow.isEmpty ? nil : overflow[Array(piece)]
    }

    /// FNV-1a, 64-bit.
    @inline(__always)
    static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        return h
    }
}
