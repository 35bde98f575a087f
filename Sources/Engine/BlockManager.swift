/// Owns the KV cache's blocks: reference counts, the free list, and the prefix
/// cache. A full block is identified by a hash of (previous block's hash, its
/// tokens); blocks nobody references stay cached in LRU order until reused.
/// Used by the engine thread only.
final class BlockManager {
    let blockSize: Int
    let blockCount: Int
    let prefixCaching: Bool

    private var refCount: [Int32]
    // Free blocks in LRU order (head = evict first), as an intrusive doubly linked list.
    private var prev: [Int32]
    private var next: [Int32]
    private var head: Int32 = -1
    private var tail: Int32 = -1
    private(set) var freeCount: Int
    // Prefix cache entries.
    private var hashOf: [UInt64?]
    private var parentOf: [UInt64]
    private var tokensOf: [[Int32]]
    private var byHash: [UInt64: Int32] = [:]

    init(blockSize: Int, blockCount: Int, prefixCaching: Bool) {
        self.blockSize = blockSize
        self.blockCount = blockCount
        self.prefixCaching = prefixCaching
        refCount = .init(repeating: 0, count: blockCount)
        prev = .init(repeating: -1, count: blockCount)
        next = .init(repeating: -1, count: blockCount)
        hashOf = .init(repeating: nil, count: blockCount)
        parentOf = .init(repeating: 0, count: blockCount)
        tokensOf = .init(repeating: [], count: blockCount)
        freeCount = 0
        for b in 0..<Int32(blockCount) { pushTail(b) }
    }

    var usedCount: Int { blockCount - freeCount }

    /// A fresh block (evicting the least recently used cached one), or nil when all are in use.
    func allocate() -> Int32? {
        guard head >= 0 else { return nil }
        let b = head
        unlink(b)
        if let h = hashOf[Int(b)] {
            if byHash[h] == b { byHash[h] = nil }
            hashOf[Int(b)] = nil
            tokensOf[Int(b)] = []
        }
        refCount[Int(b)] = 1
        return b
    }

    func release(_ b: Int32) {
        precondition(refCount[Int(b)] > 0, "double free of block \(b)")
        refCount[Int(b)] -= 1
        if refCount[Int(b)] == 0 {
            // Uncached blocks are reused first; cached ones wait at the tail.
            if hashOf[Int(b)] == nil { pushHead(b) } else { pushTail(b) }
        }
    }

    func releaseAll(_ blocks: [Int32]) {
        for b in blocks.reversed() { release(b) }
    }

    static func hash(parent: UInt64, tokens: ArraySlice<Int32>) -> UInt64 {
        // FNV-1a over the parent hash and token ids, finished with a mixer.
        var h: UInt64 = 0xcbf2_9ce4_8422_2325 ^ parent
        for t in tokens {
            h = (h ^ UInt64(UInt32(bitPattern: t))) &* 0x0000_0100_0000_01B3
        }
        h ^= h >> 33
        h = h &* 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        return h
    }

    /// The cached full blocks that start `tokens`, each now referenced once more,
    /// with the hash chain. Stops at the first miss.
    func lookup(_ tokens: [Int32], maxBlocks: Int) -> (blocks: [Int32], hashes: [UInt64]) {
        guard prefixCaching else { return ([], []) }
        var blocks: [Int32] = [], hashes: [UInt64] = []
        var parent: UInt64 = 0
        var i = 0
        while blocks.count < maxBlocks, i + blockSize <= tokens.count {
            let slice = tokens[i..<(i + blockSize)]
            let h = Self.hash(parent: parent, tokens: slice)
            guard let b = byHash[h], parentOf[Int(b)] == parent, tokensOf[Int(b)].elementsEqual(slice) else { break }
            if refCount[Int(b)] == 0 { unlink(b) }
            refCount[Int(b)] += 1
            blocks.append(b)
            hashes.append(h)
            parent = h
            i += blockSize
        }
        return (blocks, hashes)
    }

    /// Records a block that has just become full, so later prompts can share it.
    func register(_ b: Int32, parent: UInt64, tokens: ArraySlice<Int32>) -> UInt64 {
        let h = Self.hash(parent: parent, tokens: tokens)
        guard prefixCaching else { return h }
        if byHash[h] == nil {
            byHash[h] = b
            hashOf[Int(b)] = h
            parentOf[Int(b)] = parent
            tokensOf[Int(b)] = Array(tokens)
        }
        return h
    }

    // MARK: - free list

    private func pushTail(_ b: Int32) {
        prev[Int(b)] = tail
        next[Int(b)] = -1
        if tail >= 0 { next[Int(tail)] = b } else { head = b }
        tail = b
        freeCount += 1
    }

    private func pushHead(_ b: Int32) {
        next[Int(b)] = head
        prev[Int(b)] = -1
        if head >= 0 { prev[Int(head)] = b } else { tail = b }
        head = b
        freeCount += 1
    }

    private func unlink(_ b: Int32) {
        let p = prev[Int(b)], n = next[Int(b)]
        if p >= 0 { next[Int(p)] = n } else { head = n }
        if n >= 0 { prev[Int(n)] = p } else { tail = p }
        prev[Int(b)] = -1
        next[Int(b)] = -1
        freeCount -= 1
    }
}
