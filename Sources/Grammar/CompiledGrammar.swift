/// Byte-level rules, flattened for the matcher (the layout of llama.cpp's grammar): `code`
/// holds every alternative of every rule as symbols ending in `end`; a symbol ≥ 0 is a
/// byte-set terminal (index into `sets`), `end` (-1) closes an alternative, and any other
/// negative value references rule `-s - 2`.
///
/// A matcher state is a set of stacks of positions in `code`, the top being the next symbol
/// to match. Stacks are kept normalized: the top is a terminal, or the stack is empty, which
/// means the whole grammar has matched. Immutable, shared by every sequence using it.
public final class CompiledGrammar: Sendable {
    static let end: Int32 = -1
    let code: [Int32]
    let sets: [ByteSet]
    let altStart: [Int32]      // alternatives' first positions, rule by rule
    let ruleAlts: [Int32]      // rule r's alternatives: altStart[ruleAlts[r]..<ruleAlts[r+1]]
    public let ruleCount: Int
    public let symbolCount: Int
    /// The states before any byte.
    let initial: [[Int32]]
    /// A position holding `[rule "char", end]` when the grammar has a rule named `char` (JSON
    /// string text): the expansion of one character alone, for `CharLoop`'s fast masks.
    let charProbe: Int32?

    /// Deepest stack kept, and most stacks in one state: an ambiguous or deeply nested grammar
    /// loses the paths beyond them instead of stalling.
    static let maxDepth = 4096
    static let maxStacks = 512

    init(rules: [[[Int32]]], sets: [ByteSet], root: Int, names: [String]) {
        var code: [Int32] = [-Int32(root) - 2, Self.end]
        var altStart: [Int32] = []
        var ruleAlts: [Int32] = [0]
        for alts in rules {
            for alt in alts {
                altStart.append(Int32(code.count))
                code += alt
                code.append(Self.end)
            }
            ruleAlts.append(Int32(altStart.count))
        }
        ruleCount = rules.count
        symbolCount = code.count
        if let r = names.firstIndex(of: "char"), r < rules.count {
            charProbe = Int32(code.count)
            code += [-Int32(r) - 2, Self.end]
        } else {
            charProbe = nil
        }
        self.code = code
        self.sets = sets
        self.altStart = altStart
        self.ruleAlts = ruleAlts
        var out: [[Int32]] = []
        Self.normalize([0], code: code, altStart: altStart, ruleAlts: ruleAlts, into: &out)
        initial = Self.unique(out)
    }

    // MARK: - explicit stacks (a sequence's state; a few bytes a step)

    /// The state after `byte`; empty when the byte is not allowed.
    func advance(_ stacks: [[Int32]], _ byte: UInt8) -> [[Int32]] {
        var out: [[Int32]] = []
        for s in stacks {
            guard let top = s.last else { continue }
            guard sets[Int(code[Int(top)])].contains(byte) else { continue }
            var t = s
            t[t.count - 1] = top + 1
            Self.normalize(t, code: code, altStart: altStart, ruleAlts: ruleAlts, into: &out)
        }
        return Self.unique(out)
    }

    static func normalize(_ s: [Int32], code: [Int32], altStart: [Int32], ruleAlts: [Int32], into out: inout [[Int32]]) {
        var t = s
        while let top = t.last {
            let c = code[Int(top)]
            if c >= 0 { break }
            if c == end { t.removeLast(); continue }
            guard t.count < maxDepth, out.count < maxStacks else { return }
            let r = Int(-c - 2)
            // A reference in tail position leaves nothing to come back to (keeps right recursion flat).
            if code[Int(top) + 1] == end { t.removeLast() } else { t[t.count - 1] = top + 1 }
            for a in Int(ruleAlts[r])..<Int(ruleAlts[r + 1]) {
                var u = t
                u.append(altStart[a])
                normalize(u, code: code, altStart: altStart, ruleAlts: ruleAlts, into: &out)
            }
            return
        }
        out.append(t)
    }

    static func unique(_ stacks: [[Int32]]) -> [[Int32]] {
        if stacks.count < 2 { return stacks }
        let sorted = stacks.sorted { $0.lexicographicallyPrecedes($1) }
        var out: [[Int32]] = [sorted[0]]
        for s in sorted.dropFirst() where s != out[out.count - 1] { out.append(s) }
        return out
    }

    func isAccepting(_ stacks: [[Int32]]) -> Bool { stacks.contains { $0.isEmpty } }

    /// Whether `bytes` are a possible prefix of the grammar's language (from the start).
    public func acceptsPrefix(_ bytes: [UInt8]) -> Bool {
        var s = initial
        for b in bytes {
            s = advance(s, b)
            if s.isEmpty { return false }
        }
        return true
    }

    /// Whether `bytes` are a whole sentence of the grammar.
    public func accepts(_ bytes: [UInt8]) -> Bool {
        var s = initial
        for b in bytes {
            s = advance(s, b)
            if s.isEmpty { return false }
        }
        return isAccepting(s)
    }
}
