import Foundation
import Synchronization

/// Every token of a vocabulary read as characters of a grammar's `char` rule (JSON string
/// text), once: how many whole characters it holds, whether it ends inside one, or where it
/// leaves the text (at a character boundary, on a byte no character starts with, such as the
/// closing quote) and the bytes after that point (its "rest").
///
/// With it, a state inside free text needs no trie walk: the tokens that stay inside are a
/// precomputed set (cut by how many characters the grammar still allows), and only the
/// tokens that leave are checked, by their rests, against what follows the text. That turns
/// the most expensive masks (a whole-vocabulary walk, 100+ ms at 152K tokens) into a copy.
///
/// The characters are read by a small DFA built from the grammar's own rule, so the result
/// is exactly what the byte-level matcher would do. Shared by every grammar whose `char` rule
/// makes the same DFA (all JSON schemas do), through `TokenTrie.charLoops`.
// @unchecked Sendable: every stored property is immutable after init but `cumulative`, which
// is only touched under `lock` (kept an NSLock: `inside(upTo:)` runs while masks are computed).
final class CharLoop: @unchecked Sendable {
    static let complete: Int32 = 1 << 30
    /// [state * 256 + byte]: -1 refused, else the next state, with `complete` set when the
    /// byte ends a character (the next state is then 0, between characters).
    let table: [Int32]
    /// Bytes a character may start with.
    let startBytes: ByteSet
    let vocabularySize: Int
    /// Per token: whole characters read before its end or its exit.
    let chars: [Int32]
    /// Per token: 0 stays inside and ends between characters; 1 stays inside and ends within
    /// one; 2 leaves at a boundary (see `restOf`); 3 refused.
    let kind: [UInt8]
    /// Tokens staying inside, by the characters they need (kind 0: chars; kind 1: chars + 1).
    let byNeed: [[Int32]]
    /// Distinct rests of leaving tokens as a trie (rest i is "token" i), and who has each.
    let rests: TokenTrie
    let restTokens: [[Int32]]
    /// The most characters any token reads or needs (longer loops all look the same).
    let maxNeed: Int

    private let lock = NSLock()
    private var cumulative: [Int: [UInt64]] = [:]

    init(table: [Int32], trie: TokenTrie) {
        self.table = table
        var start = ByteSet()
        for b in 0..<256 where table[b] >= 0 { start.insert(UInt8(b)) }
        startBytes = start
        vocabularySize = trie.vocabularySize
        let n = trie.vocabularySize
        var chars = [Int32](repeating: 0, count: n), kind = [UInt8](repeating: 3, count: n)
        var restIndex: [[UInt8]: Int] = [:]
        var restList: [[UInt8]] = [], restTokens: [[Int32]] = []
        var byNeed: [[Int32]] = []
        var maxNeed = 0
        for id in 0..<n {
            let bytes = trie.tokenBytes[id]
            guard !bytes.isEmpty else { continue }
            var s: Int32 = 0, count: Int32 = 0
            var k: UInt8 = 3
            var i = 0
            while i < bytes.count {
                let t = table[Int(s) * 256 + Int(bytes[i])]
                if t < 0 {
                    if s == 0 {
                        k = 2
                        let rest = Array(bytes[i...])
                        let r = restIndex[rest] ?? {
                            restList.append(rest)
                            restTokens.append([])
                            restIndex[rest] = restList.count - 1
                            return restList.count - 1
                        }()
                        restTokens[r].append(Int32(id))
                    }
                    break
                }
                if t & Self.complete != 0 { count += 1; s = 0 } else { s = t }
                i += 1
            }
            if i == bytes.count { k = s == 0 ? 0 : 1 }
            kind[id] = k
            chars[id] = count
            if k <= 1 {
                let need = Int(count) + Int(k)
                while byNeed.count <= need { byNeed.append([]) }
                byNeed[need].append(Int32(id))
                maxNeed = max(maxNeed, need)
            } else if k == 2 {
                maxNeed = max(maxNeed, Int(count))
            }
        }
        self.chars = chars
        self.kind = kind
        self.byNeed = byNeed
        self.restTokens = restTokens
        rests = TokenTrie(tokens: restList)
        self.maxNeed = maxNeed
    }

    /// Bits of the tokens staying inside that need at most `cap` characters.
    func inside(upTo cap: Int) -> [UInt64] {
        let c = min(max(cap, 0), maxNeed)
        lock.lock()
        defer { lock.unlock() }
        if let w = cumulative[c] { return w }
        var w = [UInt64](repeating: 0, count: (vocabularySize + 63) / 64)
        for need in 0...c where need < byNeed.count {
            for id in byNeed[need] { w[Int(id) >> 6] |= 1 << UInt64(id & 63) }
        }
        cumulative[c] = w
        return w
    }

    // MARK: - the DFA of one character

    /// The DFA of `grammar`'s `char` rule, or nil when the rule is missing or is not a plain
    /// set of characters (empty, ambiguous about where a character ends, or too large).
    static func table(for g: CompiledGrammar) -> [Int32]? { dfa(for: g)?.table }

    /// The DFA's table and, per state, the character stacks it stands for (state 0: the start
    /// stacks; others: a character begun and not yet complete).
    static func dfa(for g: CompiledGrammar) -> (table: [Int32], states: [[[Int32]]])? {
        guard let probe = g.charProbe else { return nil }
        var out: [[Int32]] = []
        CompiledGrammar.normalize([probe], code: g.code, altStart: g.altStart, ruleAlts: g.ruleAlts, into: &out)
        let b0 = CompiledGrammar.unique(out)
        guard !b0.isEmpty, !b0.contains(where: \.isEmpty) else { return nil }
        // One way to split a stack into (parent, character stack): no start stack ends another.
        for x in b0 { for y in b0 where x != y && y.count > x.count && Array(y.suffix(x.count)) == x { return nil } }
        var states: [[[Int32]]] = [b0]
        var index: [[[Int32]]: Int32] = [b0: 0]
        var table: [Int32] = []
        var i = 0
        while i < states.count {
            guard states.count <= 64 else { return nil }
            for b in 0..<256 {
                let r = g.advance(states[i], UInt8(b))
                if r.isEmpty {
                    table.append(-1)
                } else if r.contains(where: \.isEmpty) {
                    guard r.count == 1 else { return nil }  // a character that may end or go on
                    table.append(complete)
                } else if let k = index[r] {
                    table.append(k)
                } else {
                    guard r != b0 else { return nil }
                    index[r] = Int32(states.count)
                    table.append(Int32(states.count))
                    states.append(r)
                }
            }
            i += 1
        }
        return (table, states)
    }

    /// The start stacks of one character (state 0).
    static func startStacks(for g: CompiledGrammar) -> [[Int32]] {
        guard let probe = g.charProbe else { return [] }
        var out: [[Int32]] = []
        CompiledGrammar.normalize([probe], code: g.code, altStart: g.altStart, ruleAlts: g.ruleAlts, into: &out)
        return CompiledGrammar.unique(out)
    }
}

/// `CharLoop`s of one vocabulary by their DFA, built on first use.
public final class CharLoopRegistry: Sendable {
    private let loops = Mutex<[[Int32]: CharLoop]>([:])
    private let tails = Mutex<[[Int32]: CharTail]>([:])

    init() {}

    func loop(table: [Int32], trie: TokenTrie) -> CharLoop {
        if let l = loops.withLock({ $0[table] }) { return l }
        // Built outside the lock (it walks the vocabulary); a racing builder's loop is dropped.
        let l = CharLoop(table: table, trie: trie)
        return loops.withLock { loops in
            if let old = loops[table] { return old }
            loops[table] = l
            return l
        }
    }

    /// The tokens read from inside a character (DFA state `state` ≥ 1), built on first use.
    func tail(table: [Int32], state: Int32, trie: TokenTrie) -> CharTail {
        let key = table + [state]
        if let t = tails.withLock({ $0[key] }) { return t }
        let t = CharTail(table: table, state: state, trie: trie)
        return tails.withLock { tails in
            if let old = tails[key] { return old }
            tails[key] = t
            return t
        }
    }
}
