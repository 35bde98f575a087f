import Foundation

/// A compiled grammar bound to a vocabulary: computes token masks for matcher states and
/// keeps them, since states repeat (every character of a free string is the same state).
/// Shared by every sequence with this grammar; its mask cache is under a lock.
// @unchecked Sendable: `grammar` and `trie` are immutable; the cache, the counters, the walk's
// scratch arrays and `text` (a class with memo tables of its own) are only touched under `lock`
// (kept an NSLock: masks are computed inside the engine step).
public final class TokenGrammar: @unchecked Sendable {
    public let grammar: CompiledGrammar
    public let trie: TokenTrie
    private let lock = NSLock()
    private var cache: [[[Int32]]: TokenMask] = [:]
    private var cacheOrder: [[[Int32]]] = []
    /// Masks kept at most (each is vocabulary/8 bytes: 6 KB for 49K tokens, 19 KB for 152K).
    public let maxCachedMasks: Int
    /// Masks inside JSON string text (between characters or inside one) without a walk (nil
    /// when the grammar has none).
    private let text: CharLoopMasks?
    // Masks computed (cache misses), and how many of them without a trie walk. Under `lock`.
    private var computed = 0
    private var fromText = 0

    // Scratch for a walk: stacks as (position, parent) nodes; levels of states by trie depth.
    private var pos: [Int32] = []
    private var parent: [Int32] = []
    private var buf: [Int32] = []
    private var levelEnd: [Int] = []
    /// Determinized state sets, made once a walk overruns `walkBudget` (then kept for this grammar).
    private var stateSets: StateSetWalk?
    /// Stack nodes one stack-by-stack walk may push, per trie node: the walks of ordinary
    /// grammars push a few per node; a state of hundreds of stacks pushes that many at every node.
    static let walkBudgetPerNode = 24

    public init(grammar: CompiledGrammar, trie: TokenTrie, maxCachedMasks: Int = 256) {
        self.grammar = grammar
        self.trie = trie
        self.maxCachedMasks = maxCachedMasks
        text = CharLoopMasks(grammar: grammar, trie: trie)
        var all = TokenMask(count: trie.vocabularySize)
        for k in all.words.indices { all.words[k] = ~0 }
        all.allowsEnd = true
        unconstrainedMask = all
    }

    public func matcher() -> GrammarMatcher { GrammarMatcher(self) }

    /// A lazy matcher: free text until one of `lazy`'s triggers (nil: constrained from the start).
    public func matcher(lazy: LazyGrammar?) -> GrammarMatcher {
        lazy.map { GrammarMatcher(self, lazy: $0) } ?? GrammarMatcher(self)
    }

    /// Every token and the end allowed: a lazy matcher's mask before its trigger.
    public let unconstrainedMask: TokenMask

    /// The mask for a state (cached); `hit` tells whether it was.
    public func mask(for stacks: [[Int32]]) -> (mask: TokenMask, hit: Bool) {
        lock.lock()
        defer { lock.unlock() }
        if let m = cache[stacks] { return (m, true) }
        let m = compute(stacks)
        guard maxCachedMasks > 0 else { return (m, false) }
        if cache.count >= maxCachedMasks, !cacheOrder.isEmpty {
            // Oldest first out; states of long-gone sequences go first.
            let drop = max(1, maxCachedMasks / 4)
            for k in cacheOrder.prefix(drop) { cache[k] = nil }
            cacheOrder.removeFirst(min(drop, cacheOrder.count))
        }
        cache[stacks] = m
        cacheOrder.append(stacks)
        return (m, false)
    }

    public var cachedMasks: Int {
        lock.lock()
        defer { lock.unlock() }
        return cache.count
    }

    /// Masks computed (cache misses), and how many of them without a trie walk.
    public var computedMasks: Int {
        lock.lock()
        defer { lock.unlock() }
        return computed
    }

    public var textMasks: Int {
        lock.lock()
        defer { lock.unlock() }
        return fromText
    }

    /// Of `textMasks`, those made inside a character (an escape or a UTF-8 sequence begun).
    var insideCharacterMasks: Int {
        lock.lock()
        defer { lock.unlock() }
        return text?.insideMasks ?? 0
    }

    /// The mask of a state, computed now (under the lock).
    private func compute(_ stacks: [[Int32]]) -> TokenMask {
        computed += 1
        if let text, let m = text.mask(stacks, walk: { self.walk($0, trie: $1) }) {
            fromText += 1
            return m
        }
        return walk(stacks, trie: trie)
    }

    /// Whether masks of this grammar are made from determinized state sets (a walk overran its budget).
    public var walksStateSets: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stateSets != nil
    }

    /// The mask of a state by walking the whole trie stack by stack, however long that takes:
    /// the reference the fast paths (JSON text, determinized state sets) must equal.
    public func walkedMask(for stacks: [[Int32]]) -> TokenMask {
        lock.lock()
        defer { lock.unlock() }
        return stackWalk(stacks, trie: trie, budget: .max)!
    }

    // MARK: - the walk

    @inline(__always)
    private func push(_ p: Int32, _ par: Int32) -> Int32 {
        pos.append(p)
        parent.append(par)
        return Int32(pos.count - 1)
    }

    /// Appends to `buf` (from `from`) the normalized stacks of node `n`; -1 is the empty
    /// (accepting) stack.
    private func normalize(_ n0: Int32, from: Int) {
        let code = grammar.code
        var n = n0
        while n >= 0 {
            let p = pos[Int(n)]
            let c = code[Int(p)]
            if c >= 0 { break }
            if c == CompiledGrammar.end { n = parent[Int(n)]; continue }
            guard buf.count - from < CompiledGrammar.maxStacks else { return }
            let r = Int(-c - 2)
            let cont = code[Int(p) + 1] == CompiledGrammar.end ? parent[Int(n)] : push(p + 1, parent[Int(n)])
            for a in Int(grammar.ruleAlts[r])..<Int(grammar.ruleAlts[r + 1]) {
                normalize(push(grammar.altStart[a], cont), from: from)
            }
            return
        }
        // Duplicates (an ambiguous grammar) are removed per level in `dedupe`, not here: a
        // scan per stack would cost more than the duplicates in the grammars schemas make.
        if n < 0 && buf[from...].contains(-1) { return }
        buf.append(n)
    }

    /// Same top position and same parent node: the same stack; keeps one of each.
    private func dedupe(from: Int) {
        var seen = Set<UInt64>()
        var w = from
        for k in from..<buf.count {
            let n = buf[k]
            let key = n < 0 ? UInt64.max : UInt64(UInt32(bitPattern: pos[Int(n)])) << 32 | UInt64(UInt32(bitPattern: parent[Int(n)]))
            if seen.insert(key).inserted { buf[w] = n; w += 1 }
        }
        buf.removeLast(buf.count - w)
    }

    /// Tokens of `trie` allowed from `stacks` (all of a token's bytes taken): stack by stack,
    /// or from determinized state sets once a walk of this grammar has overrun its budget.
    private func walk(_ stacks: [[Int32]], trie: TokenTrie) -> TokenMask {
        if let stateSets { return stateSets.mask(stacks, trie: trie) }
        if let m = stackWalk(stacks, trie: trie, budget: Self.walkBudgetPerNode * max(trie.nodeCount, 4096)) { return m }
        let sets = StateSetWalk(grammar: grammar)
        stateSets = sets
        return sets.mask(stacks, trie: trie)
    }

    /// The stack-by-stack walk; nil when it pushes more than `budget` nodes. Its scratch is
    /// released after a large walk, so a grammar that once needed much does not keep it.
    private func stackWalk(_ stacks: [[Int32]], trie: TokenTrie, budget: Int) -> TokenMask? {
        defer {
            if pos.capacity > 1 << 20 { pos = []; parent = []; buf = [] }
        }
        var mask = TokenMask(count: trie.vocabularySize)
        mask.allowsEnd = grammar.isAccepting(stacks)
        pos.removeAll(keepingCapacity: true)
        parent.removeAll(keepingCapacity: true)
        buf.removeAll(keepingCapacity: true)
        for s in stacks {
            var n: Int32 = -1
            for p in s { n = push(p, n) }
            buf.append(n)
        }
        if levelEnd.count < trie.maxDepth + 1 { levelEnd = [Int](repeating: 0, count: trie.maxDepth + 1) }
        levelEnd[0] = buf.count
        let code = grammar.code, sets = grammar.sets
        let nodes = trie.nodeCount
        var i = 1
        while i < nodes {
            let d = Int(trie.depth[i]), b = trie.byte[i]
            let from = levelEnd[d - 1]
            let start = d >= 2 ? levelEnd[d - 2] : 0
            buf.removeLast(buf.count - from)
            for k in start..<from {
                let s = buf[k]
                guard s >= 0 else { continue }
                let p = pos[Int(s)]
                if sets[Int(code[Int(p)])].contains(b) { normalize(push(p + 1, parent[Int(s)]), from: from) }
            }
            if buf.count == from {
                i = Int(trie.subtreeEnd[i])
                continue
            }
            if buf.count - from > 16 { dedupe(from: from) }
            if pos.count > budget { return nil }
            levelEnd[d] = buf.count
            for t in Int(trie.tokenStart[i])..<Int(trie.tokenStart[i + 1]) { mask.insert(trie.tokenIDs[t]) }
            i += 1
        }
        return mask
    }
}
