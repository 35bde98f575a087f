/// The mask walk for grammars whose states hold many stacks at once (nested repetitions whose
/// iterations can split a text in many ways, such as `([a-z ]{0,20}[.,]?){0,40}`): the
/// stack-by-stack walk then costs hundreds of stacks at every trie node (seconds a mask), while
/// the distinct state sets met along the trie are few. So the state sets are determinized as
/// they are met, each transition (set, byte) computed once by `CompiledGrammar.advance` and
/// kept for every later mask of the grammar; a trie node then costs one table lookup.
/// Used by `TokenGrammar` (under its lock) once a stack-by-stack walk overruns its budget.
final class StateSetWalk {
    let grammar: CompiledGrammar
    private var index: [[[Int32]]: Int32] = [:]
    private var sets: [[[Int32]]] = []
    /// (set << 8 | byte) → the next set, -1 when the byte is refused.
    private var next: [Int64: Int32] = [:]
    /// Stack positions held in `sets`, and 4 a transition: past `maxHeld` (a few MB) the tables
    /// start over, so a grammar with endless distinct sets keeps bounded memory in the grammar
    /// cache (its masks are then just slower).
    private var held = 0
    static let maxHeld = 1 << 20

    init(grammar: CompiledGrammar) { self.grammar = grammar }

    var setCount: Int { sets.count }

    private func id(_ s: [[Int32]]) -> Int32 {
        if let i = index[s] { return i }
        let i = Int32(sets.count)
        sets.append(s)
        index[s] = i
        held += s.reduce(1) { $0 + $1.count }
        return i
    }

    /// Tokens of `trie` allowed from `stacks` (normalized and unique, as a matcher holds them):
    /// the same mask as `TokenGrammar`'s walk.
    func mask(_ stacks: [[Int32]], trie: TokenTrie) -> TokenMask {
        if held > Self.maxHeld {
            index = [:]
            sets = []
            next = [:]
            held = 0
        }
        var mask = TokenMask(count: trie.vocabularySize)
        mask.allowsEnd = grammar.isAccepting(stacks)
        var at = [Int32](repeating: -1, count: trie.maxDepth + 1)
        at[0] = id(stacks)
        var i = 1
        let nodes = trie.nodeCount
        while i < nodes {
            let d = Int(trie.depth[i]), b = trie.byte[i]
            let key = Int64(at[d - 1]) << 8 | Int64(b)
            let to: Int32
            if let t = next[key] {
                to = t
            } else {
                let s = grammar.advance(sets[Int(at[d - 1])], b)
                to = s.isEmpty ? -1 : id(s)
                next[key] = to
                held += 4
            }
            if to < 0 {
                i = Int(trie.subtreeEnd[i])
                continue
            }
            at[d] = to
            for t in Int(trie.tokenStart[i])..<Int(trie.tokenStart[i + 1]) { mask.insert(trie.tokenIDs[t]) }
            i += 1
        }
        return mask
    }
}
