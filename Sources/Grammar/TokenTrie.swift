/// The vocabulary's token bytes as a trie laid out in preorder, so a mask walks every shared
/// prefix once and skips a whole subtree with one jump (`subtreeEnd`) when its prefix is
/// refused. Built once per served model. Control tokens and tokens without bytes are left
/// out: a grammar never allows them (end-of-generation ids are added apart, when it may end).
public final class TokenTrie: Sendable {
    public let vocabularySize: Int
    let byte: [UInt8]          // node i's byte (node 0 is the root)
    let depth: [Int32]
    let subtreeEnd: [Int32]    // first node after node i's subtree
    let tokenStart: [Int32]    // tokens ending at node i: tokenIDs[tokenStart[i]..<tokenStart[i + 1]]
    let tokenIDs: [Int32]
    let maxDepth: Int
    /// Bytes of every token id (empty for those left out).
    public let tokenBytes: [[UInt8]]
    /// JSON-text summaries of the vocabulary, shared by the grammars using it.
    let charLoops = CharLoopRegistry()

    public var nodeCount: Int { byte.count }

    /// `tokens[id]`: the bytes of token `id`; ids in `excluded` are never allowed.
    public init(tokens: [[UInt8]], excluded: Set<Int32> = []) {
        vocabularySize = tokens.count
        var kept = tokens
        for id in excluded where id >= 0 && Int(id) < kept.count { kept[Int(id)] = [] }
        tokenBytes = kept
        let order = kept.indices.filter { !kept[$0].isEmpty }.sorted {
            kept[$0].lexicographicallyPrecedes(kept[$1]) || (kept[$0] == kept[$1] && $0 < $1)
        }
        var byte: [UInt8] = [0], depth: [Int32] = [0], subtreeEnd: [Int32] = [0]
        var ends: [(node: Int32, id: Int32)] = []
        var path: [Int32] = [0]      // nodes from the root to the last token's end
        var last: [UInt8] = []
        for id in order {
            let t = kept[id]
            var common = 0
            while common < t.count && common < last.count && t[common] == last[common] { common += 1 }
            while path.count > common + 1 {
                subtreeEnd[Int(path.removeLast())] = Int32(byte.count)
            }
            for k in common..<t.count {
                byte.append(t[k])
                depth.append(Int32(k + 1))
                subtreeEnd.append(0)
                path.append(Int32(byte.count - 1))
            }
            ends.append((path[path.count - 1], Int32(id)))
            last = t
        }
        while let n = path.popLast() { subtreeEnd[Int(n)] = Int32(byte.count) }
        var start = [Int32](repeating: 0, count: byte.count + 1)
        for e in ends { start[Int(e.node) + 1] += 1 }
        for i in 0..<byte.count { start[i + 1] += start[i] }
        var fill = start
        var ids = [Int32](repeating: 0, count: ends.count)
        for e in ends {
            ids[Int(fill[Int(e.node)])] = e.id
            fill[Int(e.node)] += 1
        }
        self.byte = byte
        self.depth = depth
        self.subtreeEnd = subtreeEnd
        tokenStart = start
        tokenIDs = ids
        maxDepth = Int(depth.max() ?? 0)
    }
}
