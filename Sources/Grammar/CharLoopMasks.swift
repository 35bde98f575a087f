/// One grammar's masks for states inside free text, from the vocabulary's `CharLoop`.
///
/// A text state is a set of stacks that are either about to read one character of the `char`
/// rule and then return to a parent (a "group": every start stack of the rule over the same
/// parent), or lead out of the text ("exit" stacks: the closing quote and what follows),
/// whose first bytes no character starts with. Reading any one character takes every group to
/// its parent, whichever character it is; so the states after 0, 1, 2... characters form a
/// chain (a cycle for unbounded text, a countdown for `maxLength`) computed once and kept.
/// A token staying inside is allowed iff the chain has room for the characters it needs;
/// a leaving token after n characters iff its rest is allowed from the exit stacks of the
/// n-th state (one walk over the few distinct rests, kept per exit state).
///
/// A state in the middle of a character (every group at the same state of the character's
/// DFA, nothing else) is read through that state's `CharTail`: the tokens ending inside or with
/// the character, and the others by their remainders from the state after the character.
///
/// Anything else (a state that is not of this shape) returns nil, and the caller walks the
/// trie as before, so the masks are exactly those of the byte-level matcher.
/// Used under `TokenGrammar`'s lock.
final class CharLoopMasks {
    let grammar: CompiledGrammar
    let loop: CharLoop
    private let start: [[Int32]]
    private let startByTop: [Int32: [Int]]
    private let table: [Int32]
    private let trie: TokenTrie
    /// Character stacks of every DFA state inside a character, by their top: (state, index).
    private let dfaStates: [[[Int32]]]
    private let midByTop: [Int32: [(state: Int, index: Int)]]
    private var tails: [Int: CharTail] = [:]
    private var tailRests: [Int: [Int: TokenMask]] = [:]  // per DFA state: exitRests of its tail

    private struct Info {
        var parents: [[Int32]]  // one per group
        var exit: Int           // interned exit stacks, -1 when there are none
        var empty: Bool         // no stack at all: nothing can follow
        var next = -2           // the state after one character: -2 not yet computed, -1 not a text state
    }
    private var ids: [[[Int32]]: Int] = [:]  // -1: not a text state
    private var infos: [Info] = []
    private var exitIDs: [[[Int32]]: Int] = [:]
    private var exits: [[[Int32]]] = []
    private var exitRests: [Int: TokenMask] = [:]
    static let maxStates = 20_000
    /// Masks made inside a character (tests check the path is taken).
    private(set) var insideMasks = 0

    init?(grammar: CompiledGrammar, trie: TokenTrie) {
        guard let (table, states) = CharLoop.dfa(for: grammar) else { return nil }
        self.grammar = grammar
        self.table = table
        self.trie = trie
        loop = trie.charLoops.loop(table: table, trie: trie)
        start = CharLoop.startStacks(for: grammar)
        var byTop: [Int32: [Int]] = [:]
        for (j, s) in start.enumerated() { byTop[s[s.count - 1], default: []].append(j) }
        startByTop = byTop
        dfaStates = states
        var midByTop: [Int32: [(state: Int, index: Int)]] = [:]
        for q in states.indices.dropFirst() {
            // As for the start stacks: one way to split a stack into (parent, character stack).
            let st = states[q]
            let ambiguous = st.contains { x in st.contains { y in y.count > x.count && Array(y.suffix(x.count)) == x } }
            guard !ambiguous else { continue }
            for (j, c) in st.enumerated() { if let top = c.last { midByTop[top, default: []].append((q, j)) } }
        }
        self.midByTop = midByTop
        // Built now rather than at the first mask inside each kind of character: the vocabulary's
        // first grammar pays once (a walk of the vocabulary per DFA state), no step does.
        for q in Set(midByTop.values.joined().map(\.state)) {
            tails[q] = trie.charLoops.tail(table: table, state: Int32(q), trie: trie)
        }
    }

    /// The interned text state of `stacks`, or nil.
    private func intern(_ stacks: [[Int32]]) -> Int? {
        if let id = ids[stacks] { return id >= 0 ? id : nil }
        let id = split(stacks)
        ids[stacks] = id ?? -1
        return id
    }

    private func reset() {
        ids = [:]; infos = []; exitIDs = [:]; exits = []; exitRests = [:]; tailRests = [:]
    }

    private func split(_ stacks: [[Int32]]) -> Int? {
        var groups: [[Int32]: [Bool]] = [:]
        var order: [[Int32]] = []
        var out: [[Int32]] = []
        for s in stacks {
            var matched = false
            if let top = s.last, let cands = startByTop[top] {
                for j in cands {
                    let c = start[j]
                    guard s.count >= c.count, s.suffix(c.count).elementsEqual(c) else { continue }
                    let p = Array(s.prefix(s.count - c.count))
                    if groups[p] == nil { groups[p] = [Bool](repeating: false, count: start.count); order.append(p) }
                    groups[p]![j] = true
                    matched = true
                    break
                }
            }
            if !matched { out.append(s) }
        }
        // A group missing some start stack cannot read every character.
        for p in order where groups[p]!.contains(false) { return nil }
        // Leaving must never compete with reading a character.
        var first = ByteSet()
        for s in out { if let top = s.last { first.formUnion(grammar.sets[Int(grammar.code[Int(top)])]) } }
        guard first.isDisjoint(with: loop.startBytes) else { return nil }
        var exit = -1
        if !out.isEmpty {
            if let e = exitIDs[out] { exit = e } else { exit = exits.count; exits.append(out); exitIDs[out] = exit }
        }
        infos.append(Info(parents: order, exit: exit, empty: stacks.isEmpty))
        return infos.count - 1
    }

    /// The state after one character, or nil when it is not a text state.
    private func next(_ id: Int) -> Int? {
        let n = infos[id].next
        if n >= 0 { return n }
        if n == -1 { return nil }
        var out: [[Int32]] = []
        for p in infos[id].parents {
            CompiledGrammar.normalize(p, code: grammar.code, altStart: grammar.altStart, ruleAlts: grammar.ruleAlts, into: &out)
        }
        let r = intern(CompiledGrammar.unique(out))
        if id < infos.count { infos[id].next = r ?? -1 }
        return r
    }

    /// The mask of a state, or nil when it is neither a text state with a character to read
    /// nor a state inside a character.
    func mask(_ stacks: [[Int32]], walk: ([[Int32]], TokenTrie) -> TokenMask) -> TokenMask? {
        if ids.count > Self.maxStates { reset() }  // each call adds at most maxNeed + 2 states
        // (A state inside a UTF-8 character looks like a text state without a character to
        // read: its continuation bytes start no character.)
        if let s0 = intern(stacks), var mask = textMask(s0, loop: loop, rests: &exitRests, walk: walk) {
            mask.allowsEnd = grammar.isAccepting(stacks)
            return mask
        }
        return midMask(stacks, walk: walk)
    }

    /// Tokens of `loop`'s vocabulary allowed from text state `s0`, or nil when it has no
    /// character to read (or the chain leaves the text states).
    private func textMask(_ s0: Int, loop: CharLoop, rests restCache: inout [Int: TokenMask],
                          walk: ([[Int32]], TokenTrie) -> TokenMask) -> TokenMask? {
        guard !infos[s0].parents.isEmpty else { return nil }
        // chain[j]: the state after j characters, while characters can be read, up to maxNeed.
        var chain = [s0]
        var room: Int? = nil  // characters that can be read in a row, when fewer than maxNeed
        while chain.count <= loop.maxNeed {
            guard let n = next(chain[chain.count - 1]) else { return nil }
            chain.append(n)
            if infos[n].parents.isEmpty { room = chain.count - 1; break }
        }
        var mask = TokenMask(count: loop.vocabularySize)
        mask.words = loop.inside(upTo: room ?? loop.maxNeed)
        if let g = room, infos[chain[g]].empty, g < loop.byNeed.count {
            // After g characters nothing may follow: tokens ending right there are refused.
            for id in loop.byNeed[g] where loop.kind[Int(id)] == 0 {
                mask.words[Int(id) >> 6] &= ~(1 << UInt64(id & 63))
            }
        }
        // Leaving tokens, by the exit state of the point they leave at.
        var byExit: [Int: [Bool]] = [:]
        for (n, id) in chain.enumerated() where infos[id].exit >= 0 {
            byExit[infos[id].exit, default: [Bool](repeating: false, count: chain.count)][n] = true
        }
        for (e, at) in byExit {
            let rests: TokenMask
            if let r = restCache[e] { rests = r } else { rests = walk(exits[e], loop.rests); restCache[e] = rests }
            for (k, word) in rests.words.enumerated() where word != 0 {
                var w = word
                while w != 0 {
                    let r = k << 6 + w.trailingZeroBitCount
                    w &= w - 1
                    for id in loop.restTokens[r] {
                        let c = Int(loop.chars[Int(id)])
                        if c < at.count && at[c] { mask.insert(id) }
                    }
                }
            }
        }
        return mask
    }

    // MARK: - inside a character

    /// (DFA state, parents) when `stacks` are exactly that state's character stacks over each
    /// of the parents, else nil.
    private func splitInside(_ stacks: [[Int32]]) -> (state: Int, parents: [[Int32]])? {
        guard let first = stacks.first?.last, let candidates = midByTop[first] else { return nil }
        var tried = Set<Int>()
        for (q, _) in candidates where tried.insert(q).inserted {
            let st = dfaStates[q]
            var groups: [[Int32]: Int] = [:]  // parent -> character stacks seen
            var order: [[Int32]] = []
            var fits = true
            for s in stacks {
                guard let top = s.last, let cands = midByTop[top],
                      let j = cands.first(where: { $0.state == q && s.count >= st[$0.index].count
                          && s.suffix(st[$0.index].count).elementsEqual(st[$0.index]) })?.index else { fits = false; break }
                let p = Array(s.prefix(s.count - st[j].count))
                if groups[p] == nil { order.append(p) }
                groups[p, default: 0] += 1
            }
            // `stacks` has no duplicates, so a group with st.count stacks has every one of them.
            if fits && order.allSatisfy({ groups[$0] == st.count }) { return (q, order) }
        }
        return nil
    }

    private func midMask(_ stacks: [[Int32]], walk: ([[Int32]], TokenTrie) -> TokenMask) -> TokenMask? {
        guard let (q, parents) = splitInside(stacks) else { return nil }
        var out: [[Int32]] = []
        for p in parents {
            CompiledGrammar.normalize(p, code: grammar.code, altStart: grammar.altStart, ruleAlts: grammar.ruleAlts, into: &out)
        }
        let after = CompiledGrammar.unique(out)
        guard !after.isEmpty else { return nil }
        let tail: CharTail
        if let t = tails[q] { tail = t } else {
            tail = trie.charLoops.tail(table: table, state: Int32(q), trie: trie)
            tails[q] = tail
        }
        // The remainders from the state after the character: as text when it is one, else walked
        // (few remainders: a walk of them is cheap).
        let fast = intern(after).flatMap { textMask($0, loop: tail.loop, rests: &tailRests[q, default: [:]], walk: walk) }
        let allowed = fast ?? walk(after, tail.remainders)
        var mask = TokenMask(count: loop.vocabularySize)
        mask.words = tail.base
        mask.allowsEnd = grammar.isAccepting(stacks)
        for (k, word) in allowed.words.enumerated() where word != 0 {
            var w = word
            while w != 0 {
                let r = k << 6 + w.trailingZeroBitCount
                w &= w - 1
                for id in tail.tokensOf[r] { mask.insert(id) }
            }
        }
        insideMasks += 1
        return mask
    }
}
