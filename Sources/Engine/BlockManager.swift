/// Owns the KV cache's blocks: reference counts, the free list, and the prefix
/// cache. A full block is identified by a hash of (previous block's hash, its
/// tokens); blocks nobody references stay cached in LRU order until reused.
/// A value: the scheduler holds it, and tests drive it without an engine.
struct BlockManager {
    /// What a prefix-cache query found: the leading cached full blocks and their hash chain.
    /// Nothing is referenced until `allocate(_:sharing:)` takes them.
    struct PrefixHit: Equatable {
        var blocks: [Int32] = []
        var hashes: [UInt64] = []
    }

    typealias Hasher = (_ parent: UInt64, _ tokens: ArraySlice<Int32>) -> UInt64

    let blockSize: Int
    let blockCount: Int
    let prefixCaching: Bool
    private let hash: Hasher

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

    /// `hash` is injectable so tests can force collisions; the default is `BlockManager.hash`.
    init(blockSize: Int, blockCount: Int, prefixCaching: Bool, hash: @escaping Hasher = BlockManager.hash) {
        precondition(blockSize > 0 && blockCount > 0, "a cache needs at least one block of at least one token")
        self.blockSize = blockSize
        self.blockCount = blockCount
        self.prefixCaching = prefixCaching
        self.hash = hash
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

    func references(_ b: Int32) -> Int { Int(refCount[Int(b)]) }

    /// Blocks that are needed to hold `tokens` positions.
    func blocks(for tokens: Int) -> Int { (tokens + blockSize - 1) / blockSize }

    /// Whether `allocate(count, sharing: shared)` would succeed now.
    func canAllocate(_ count: Int, sharing shared: [Int32] = []) -> Bool {
        let idleShared = shared.reduce(0) { $0 + (refCount[Int($1)] == 0 ? 1 : 0) }
        return count <= freeCount - idleShared
    }

    /// All or nothing: references the cached blocks of `shared` (a prefix hit) and `count`
    /// fresh ones (evicting least recently used cached blocks), and returns the fresh ones; or,
    /// when they do not all fit, returns nil and changes nothing.
    mutating func allocate(_ count: Int, sharing shared: [Int32] = []) -> [Int32]? {
        precondition(count >= 0)
        // Shared blocks nobody references sit in the free list: taking them leaves fewer to hand out.
        let idleShared = shared.reduce(0) { $0 + (refCount[Int($1)] == 0 ? 1 : 0) }
        guard count <= freeCount - idleShared else { return nil }
        for b in shared {
            if refCount[Int(b)] == 0 { unlink(b) }
            refCount[Int(b)] += 1
        }
        var fresh: [Int32] = []
        fresh.reserveCapacity(count)
        for _ in 0..<count {
            let b = head
            unlink(b)
            if let h = hashOf[Int(b)] {
                if byHash[h] == b { byHash[h] = nil }
                hashOf[Int(b)] = nil
                tokensOf[Int(b)] = []
            }
            refCount[Int(b)] = 1
            fresh.append(b)
        }
        return fresh
    }

    mutating func release(_ b: Int32) {
        precondition(refCount[Int(b)] > 0, "double free of block \(b)")
        refCount[Int(b)] -= 1
        if refCount[Int(b)] == 0 {
            // Uncached blocks are reused first; cached ones wait at the tail.
            if hashOf[Int(b)] == nil { pushHead(b) } else { pushTail(b) }
        }
    }

    /// Releases a block table, last block first: a sequence's tail is the least likely to be
    /// shared, so it is evicted before the prefix that leads to it.
    mutating func releaseAll(_ blocks: [Int32]) {
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

    /// The cached full blocks that start `tokens` (at most `maxBlocks`), stopping at the first
    /// miss. A query only: nothing is referenced or moved.
    /// `root` is the chain's parent before the first block: 0 for the base model, a key of the
    /// LoRA adapters otherwise, so one adapter's blocks never serve another or the base.
    func cachedPrefix(_ tokens: [Int32], root: UInt64 = 0, maxBlocks: Int) -> PrefixHit {
        guard prefixCaching else { return PrefixHit() }
        var hit = PrefixHit()
        var parent = root
        var i = 0
        while hit.blocks.count < maxBlocks, i + blockSize <= tokens.count {
            let slice = tokens[i..<(i + blockSize)]
            let h = hash(parent, slice)
            // The parent and token check makes a hash collision a miss, never wrong keys and values.
            guard let b = byHash[h], parentOf[Int(b)] == parent, tokensOf[Int(b)].elementsEqual(slice) else { break }
            hit.blocks.append(b)
            hit.hashes.append(h)
            parent = h
            i += blockSize
        }
        return hit
    }

    /// Records a block that has just become full, so later prompts can share it. The first
    /// block registered under a hash keeps it.
    mutating func register(_ b: Int32, parent: UInt64, tokens: ArraySlice<Int32>) -> UInt64 {
        let h = hash(parent, tokens)
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

    private mutating func pushTail(_ b: Int32) {
        prev[Int(b)] = tail
        next[Int(b)] = -1
        if tail >= 0 { next[Int(tail)] = b } else { head = b }
        tail = b
        freeCount += 1
    }

    private mutating func pushHead(_ b: Int32) {
        next[Int(b)] = head
        prev[Int(b)] = -1
        if head >= 0 { prev[Int(head)] = b } else { tail = b }
        head = b
        freeCount += 1
    }

    private mutating func unlink(_ b: Int32) {
        let p = prev[Int(b)], n = next[Int(b)]
        if p >= 0 { next[Int(p)] = n } else { head = n }
        if n >= 0 { prev[Int(n)] = p } else { tail = p }
        prev[Int(b)] = -1
        next[Int(b)] = -1
        freeCount -= 1
    }
}
