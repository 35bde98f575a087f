/// Byte string → token id without allocating on lookup: a 64-bit hash indexes the ids,
/// the stored bytes confirm a hit, and the (practically never used) overflow map keeps
/// pieces whose hash collides with another's (and any past the entries' 32-bit fields).
struct PieceTable: Sendable {
    // 32-bit fields (12 bytes an entry, 24 with a Range<Int>): a 262,144-token vocabulary's table
    // is several MiB smaller, and no vocabulary nears 4 GiB of piece bytes.
    private struct Entry {
        var id: Int32
        var start: UInt32  // in `storage`
        var count: UInt32
    }
    private var byHash: [UInt64: Int32] = [:]  // hash → index in `entries`
    private var entries: [Entry] = []
    private var storage: [UInt8] = []
    private var overflow: [[UInt8]: Int32] = [:]

    init() {}

    var count: Int { entries.count + overflow.count }

    /// Adds `piece` unless already present (the first id wins).
    mutating func insert(_ piece: [UInt8], id: Int32) {
        if piece.withUnsafeBufferPointer({ lookup($0) }) != nil { return }
        let h = piece.withUnsafeBufferPointer { PieceTable.hash($0) }
        if byHash[h] == nil, storage.count + piece.count <= Int(UInt32.max), entries.count < Int(Int32.max) {
            byHash[h] = Int32(entries.count)
            entries.append(Entry(id: id, start: UInt32(storage.count), count: UInt32(piece.count)))
            storage.append(contentsOf: piece)
        } else {
            overflow[piece] = id
        }
    }

    @inline(__always)
    func lookup(_ piece: UnsafeBufferPointer<UInt8>) -> Int32? {
        let h = PieceTable.hash(piece)
        if let i = byHash[h] {
            let e = entries[Int(i)]
            if Int(e.count) == piece.count {
                var same = true
                var j = Int(e.start)
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
