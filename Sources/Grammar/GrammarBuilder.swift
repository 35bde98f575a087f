/// Collects named rules (`GrammarNode`s) and lowers them to the flat byte-level rules of a
/// `CompiledGrammar`: every alternative a sequence of byte-set terminals and rule
/// references. Repetitions become right-recursive helper rules (`R ::= x R | ε`) and bounded
/// ones a chain of optional rules, so the matcher's stacks stay shallow.
public final class GrammarBuilder {
    public let limits: GrammarLimits
    let deadline: Deadline
    private(set) var names: [String] = []
    private var bodies: [GrammarNode?] = []
    private var lowered: [[[Int32]]] = []
    private var setIndex: [ByteSet: Int32] = [:]
    private var sets: [ByteSet] = []
    private var charsMemo: [CodePointSet: [Int32]] = [:]
    private var symbols = 0

    public init(limits: GrammarLimits = .init()) {
        self.limits = limits
        deadline = Deadline(seconds: limits.maxCompileSeconds)
    }

    /// A new rule, defined now or later with `define`.
    @discardableResult
    public func addRule(_ name: String, _ body: GrammarNode? = nil) -> Int {
        names.append(name)
        bodies.append(body)
        return names.count - 1
    }

    public func define(_ id: Int, _ body: GrammarNode) { bodies[id] = body }

    public func isDefined(_ id: Int) -> Bool { bodies[id] != nil }

    public var ruleCount: Int { names.count }

    /// Lowers every rule and checks the result: no undefined rule, no left recursion.
    public func compile(root: Int) throws -> CompiledGrammar {
        let named = names.count
        lowered = Array(repeating: [], count: named)
        for i in 0..<named {  // helper rules are appended after these as lowering goes
            guard let body = bodies[i] else { throw GrammarError.invalid("rule `\(names[i])` is used but not defined") }
            lowered[i] = try lowerAlts(body)
        }
        try checkLeftRecursion()
        try pruneDeadAlternatives(root: root)
        return CompiledGrammar(rules: lowered, sets: sets, root: root, names: names)
    }

    /// Drops the alternatives that can never match a whole string (an empty byte set, such as
    /// `[^\s\S]`, or a rule that matches nothing), so the matcher never enters a branch it
    /// cannot leave; throws when the root itself matches nothing. Without this a request's
    /// mask could allow no token at all, and the sampler took token 0 against the grammar.
    private func pruneDeadAlternatives(root: Int) throws {
        // Least fixpoint with a worklist (linear in the symbols: bounded repetitions make long
        // chains of helper rules): an alternative lives once each of its rule references does.
        var productive = [Bool](repeating: false, count: lowered.count)
        var waiting: [[Int32]] = lowered.map { $0.map { _ in 0 } }  // rule references not yet living, per alternative
        var users = [[(rule: Int32, alt: Int32)]](repeating: [], count: lowered.count)
        var ready: [Int] = []
        for (r, alts) in lowered.enumerated() {
            for (a, alt) in alts.enumerated() {
                if alt.contains(where: { $0 >= 0 && sets[Int($0)].isEmpty }) { waiting[r][a] = -1; continue }  // never lives
                for x in alt where x < 0 {
                    waiting[r][a] += 1
                    users[Int(-x - 2)].append((Int32(r), Int32(a)))
                }
                if waiting[r][a] == 0 && !productive[r] { productive[r] = true; ready.append(r) }
            }
        }
        while let r = ready.popLast() {
            for (u, a) in users[r] where waiting[Int(u)][Int(a)] > 0 {
                waiting[Int(u)][Int(a)] -= 1
                if waiting[Int(u)][Int(a)] == 0 && !productive[Int(u)] { productive[Int(u)] = true; ready.append(Int(u)) }
            }
        }
        func lives(_ alt: [Int32]) -> Bool {
            alt.allSatisfy { $0 >= 0 ? !sets[Int($0)].isEmpty : productive[Int(-$0 - 2)] }
        }
        guard productive[root] else {
            // Name the dead rule nearest the cause: the deepest named one reached from the root
            // through dead references (helper rules, `_N`, mean nothing to a user).
            var cause = root, seen: Set<Int> = [root], stack = [root]
            while let r = stack.popLast() {
                for alt in lowered[r] {
                    for x in alt where x < 0 {
                        let t = Int(-x - 2)
                        guard !productive[t], seen.insert(t).inserted else { continue }
                        stack.append(t)
                        if !names[t].hasPrefix("_") { cause = t }
                    }
                }
            }
            throw GrammarError.invalid("the grammar matches nothing (rule `\(names[cause])` has no string: an empty character class, a pattern or a rule that cannot match)")
        }
        for r in lowered.indices { lowered[r] = lowered[r].filter(lives) }
    }

    // MARK: - lowering

    private func set(_ s: ByteSet) -> Int32 {
        if let i = setIndex[s] { return i }
        let i = Int32(sets.count)
        sets.append(s)
        setIndex[s] = i
        return i
    }

    private static func ref(_ r: Int) -> Int32 { -Int32(r) - 2 }

    private func count(_ n: Int) throws {
        symbols += n
        if symbols > limits.maxSymbols {
            throw GrammarError.tooLarge("the grammar needs more than \(limits.maxSymbols) symbols (bounded repetitions and numeric ranges expand)")
        }
        if symbols & 1023 < n { try deadline.check() }
    }

    /// A rule made while lowering (its alternatives already lowered).
    private func helper(_ alts: [[Int32]]) -> Int32 {
        names.append("_\(names.count)")
        bodies.append(.empty)  // placeholder: never lowered again
        lowered.append(alts)
        return Self.ref(names.count - 1)
    }

    private func lowerAlts(_ n: GrammarNode) throws -> [[Int32]] {
        switch n {
        case let .alt(xs): return try xs.flatMap { try lowerAlts($0) }
        case let .chars(cs):
            // Sequences with the same continuation share one alternative (their first bytes
            // united): fewer stacks for the matcher to carry at every byte of free text.
            var firsts: [[ClosedRange<UInt8>]: ByteSet] = [:]
            var order: [[ClosedRange<UInt8>]] = []
            for seq in cs.utf8Sequences {
                let tail = Array(seq.dropFirst())
                if firsts[tail] == nil { order.append(tail) }
                var s = firsts[tail] ?? ByteSet()
                for b in seq[0] { s.insert(b) }
                firsts[tail] = s
            }
            try count(order.reduce(0) { $0 + $1.count + 1 })
            return order.map { tail in [set(firsts[tail]!)] + tail.map { set(ByteSet(range: $0)) } }
        default: return [try lowerSeq(n)]
        }
    }

    private func lowerSeq(_ n: GrammarNode) throws -> [Int32] {
        switch n {
        case .empty: return []
        case let .literal(bs):
            try count(bs.count)
            return bs.map { set(ByteSet([$0])) }
        case let .byteSet(s):
            try count(1)
            return [set(s)]
        case let .chars(cs):
            if let m = charsMemo[cs] { return m }
            let alts = try lowerAlts(n)
            let out = alts.count == 1 ? alts[0] : [helper(alts)]
            charsMemo[cs] = out
            return out
        case let .seq(xs):
            var out: [Int32] = []
            for x in xs { out += try lowerSeq(x) }
            return out
        case let .alt(xs):
            if xs.count == 1 { return try lowerSeq(xs[0]) }
            return [helper(try lowerAlts(n))]
        case let .rule(i):
            guard i >= 0 && i < names.count else { throw GrammarError.invalid("reference to an unknown rule") }
            try count(1)
            return [Self.ref(i)]
        case let .rep(x, lo, hi):
            guard lo >= 0, hi.map({ $0 >= lo }) ?? true else { throw GrammarError.invalid("bad repetition bounds") }
            // x* with x able to match nothing would loop without input: (x minus ε)* is the same language.
            if hi == nil, Self.nullable(x) { return try lowerSeq(.rep(Self.nonEmpty(x), min: 0, max: nil)) }
            let body = try lowerSeq(x)
            // A body longer than one symbol is shared through a helper rule, not copied.
            let unit = body.count == 1 ? body : [helper([body])]
            var out: [Int32] = []
            try count(lo)
            for _ in 0..<lo { out += unit }
            if let hi {
                let extra = hi - lo
                guard extra > 0 else { return out }
                try count(2 * extra)
                var tail = helper([unit, []])  // R1 ::= x | ε
                for _ in 1..<max(extra, 1) { tail = helper([unit + [tail], []]) }
                return out + [tail]
            }
            try count(2)
            names.append("_\(names.count)")
            bodies.append(.empty)
            let r = Self.ref(names.count - 1)
            lowered.append([unit + [r], []])  // R ::= x R | ε
            return out + [r]
        }
    }

    /// Whether a node matches the empty string (rules count as not: their bodies are unknown here).
    static func nullable(_ n: GrammarNode) -> Bool {
        switch n {
        case .empty: return true
        case let .literal(b): return b.isEmpty
        case .byteSet, .chars, .rule: return false
        case let .seq(xs): return xs.allSatisfy(nullable)
        case let .alt(xs): return xs.contains(where: nullable)
        case let .rep(x, lo, _): return lo == 0 || nullable(x)
        }
    }

    /// The node's non-empty strings.
    static func nonEmpty(_ n: GrammarNode) -> GrammarNode {
        guard nullable(n) else { return n }
        switch n {
        case let .seq(xs):
            // The first component that is not empty, then the rest as they are.
            return .alt(xs.indices.map { i in .seq([nonEmpty(xs[i])] + xs[(i + 1)...]) })
        case let .alt(xs): return .alt(xs.map(nonEmpty))
        case let .rep(x, _, hi): return .rep(nonEmpty(x), min: 1, max: hi)
        default: return .alt([])
        }
    }

    // MARK: - checks

    /// A rule that can derive itself without consuming a byte would loop the matcher.
    private func checkLeftRecursion() throws {
        let n = lowered.count
        var nullable = [Bool](repeating: false, count: n)
        var changed = true
        while changed {
            changed = false
            for r in 0..<n where !nullable[r] {
                if lowered[r].contains(where: { alt in alt.allSatisfy { $0 < -1 && nullable[Int(-$0 - 2)] } }) {
                    nullable[r] = true
                    changed = true
                }
            }
            try deadline.check()
        }
        var edges = [[Int]](repeating: [], count: n)
        for r in 0..<n {
            for alt in lowered[r] {
                for s in alt {
                    guard s < -1 else { break }
                    let t = Int(-s - 2)
                    edges[r].append(t)
                    if !nullable[t] { break }
                }
            }
        }
        // Iterative DFS (grammars can have many thousands of rules).
        var color = [UInt8](repeating: 0, count: n)  // 0 new, 1 on stack, 2 done
        for start in 0..<n where color[start] == 0 {
            var stack: [(Int, Int)] = [(start, 0)]
            color[start] = 1
            while let (v, i) = stack.last {
                if i < edges[v].count {
                    stack[stack.count - 1].1 += 1
                    let w = edges[v][i]
                    if color[w] == 1 {
                        throw GrammarError.invalid("rule `\(names[w])` is left-recursive (it can reach itself without consuming input)")
                    }
                    if color[w] == 0 { color[w] = 1; stack.append((w, 0)) }
                } else {
                    color[v] = 2
                    stack.removeLast()
                }
            }
        }
    }
}
