/// JSON numbers that are multiples of a schema's `multipleOf`, within its bounds, as grammar
/// rules: a digit automaton whose state is the value's remainder modulo the step, the digits
/// written so far and how they compare with each bound. A step m / 10^f (m an integer, f ≤ 6
/// fraction digits) allows the values N / 10^f with N a multiple of m, written with at most f
/// fraction digits (trailing zeros may be left out) and no exponent; an integer step, or an
/// `integer` schema, allows integers only. Every written value is a multiple exactly, not
/// within a float tolerance, so any validator accepts it.
enum NumberMultiples {
    static let maxFractionDigits = 6
    /// Automaton states one sign may explore, and rules it may leave once minimal (each of up to
    /// eleven alternatives).
    static let maxStates = 60_000
    static let maxRules = 10_000

    /// A magnitude bound on the grid: integer digits (no leading zeros; [0] for zero) and
    /// exactly f fraction digits.
    struct Bound {
        var int: [UInt8]
        var frac: [UInt8]
        var strict: Bool
    }

    /// The step as m / 10^f, or a clear error.
    static func grid(_ step: Double) throws -> (m: UInt64, f: Int) {
        guard step > 0, step.isFinite else { throw GrammarError.invalid("`multipleOf` must be a number greater than 0") }
        guard let d = NumberRanges.dec(step) else { throw GrammarError.unsupported("`multipleOf` \(step) is beyond 16 digits") }
        guard d.frac.count <= maxFractionDigits else {
            throw GrammarError.unsupported("`multipleOf` \(step) has more than \(maxFractionDigits) fraction digits")
        }
        var m = d.int
        for x in d.frac {
            let (p, o1) = m.multipliedReportingOverflow(by: 10)
            let (s, o2) = p.addingReportingOverflow(UInt64(x))
            guard !o1 && !o2, s <= NumberRanges.limit else { throw GrammarError.unsupported("`multipleOf` \(step) is beyond 16 digits") }
            m = s
        }
        return (m, d.frac.count)
    }

    /// Numbers (integers if `integer`) that are multiples of `step`, with the bounds given.
    static func number(step: Double, min: Double?, minStrict: Bool, max: Double?, maxStrict: Bool, integer: Bool,
                       builder b: GrammarBuilder) throws -> GrammarNode {
        var (m, f) = try grid(step)
        if integer || f == 0 {
            // Integers that are multiples of m / 10^f: multiples of lcm(m, 10^f) / 10^f.
            let p = NumberRanges.pow10(f)
            let l = m / gcd(m, p) * p
            guard l / p <= NumberRanges.limit else { throw GrammarError.unsupported("`multipleOf` \(step) leaves no integer of 16 digits") }
            m = l / p
            f = 0
        }
        if let a = min, let b = max, a > b || (a == b && (minStrict || maxStrict)) {
            throw GrammarError.invalid("the bounds leave no number")
        }
        // As `NumberRanges`: at most 16 integer digits are written.
        if min.map({ $0 > Double(NumberRanges.limit) }) ?? false { throw GrammarError.unsupported("a minimum beyond 16 digits") }
        if max.map({ $0 < -Double(NumberRanges.limit) }) ?? false { throw GrammarError.unsupported("a maximum beyond 16 digits") }
        var alts: [GrammarNode] = []
        // x ≥ 0: magnitudes from max(min, 0) to max.
        if max.map({ $0 > 0 || ($0 == 0 && !maxStrict) }) ?? true {
            let lo = min.flatMap { $0 >= 0 ? bound($0, f, strict: minStrict, up: true) : nil }
            let hi = max.flatMap { bound($0, f, strict: maxStrict, up: false) }
            if let n = try magnitudes(m: m, f: f, step: step, lo: lo ?? zero(f, strict: false), hi: hi, builder: b) { alts.append(n) }
        }
        // x < 0: magnitudes -x, above 0 (no "-0") and up to -min.
        if min.map({ $0 < 0 }) ?? true {
            let lo = max.flatMap { $0 < 0 ? bound(-$0, f, strict: maxStrict, up: true) : nil }
            let hi = min.flatMap { bound(-$0, f, strict: minStrict, up: false) }
            if let n = try magnitudes(m: m, f: f, step: step, lo: lo ?? zero(f, strict: true), hi: hi, builder: b) {
                alts.append(.seq([.text("-"), n]))
            }
        }
        guard !alts.isEmpty else { throw GrammarError.invalid("no multiple of `multipleOf` \(text(step)) is within the bounds") }
        return alts.count == 1 ? alts[0] : .alt(alts)
    }

    static func gcd(_ a: UInt64, _ b: UInt64) -> UInt64 { b == 0 ? a : gcd(b, a % b) }

    static func zero(_ f: Int, strict: Bool) -> Bound { Bound(int: [0], frac: Array(repeating: 0, count: f), strict: strict) }

    /// |x| ≥ (up) or ≤ a bound, as a bound on the grid of f fraction digits: a value off the grid is
    /// rounded inwards (up for a lower bound) and no longer strict. Nil past 16 integer digits (no bound).
    static func bound(_ x: Double, _ f: Int, strict: Bool, up: Bool) -> Bound? {
        guard let d = NumberRanges.dec(x) else { return nil }
        var int = NumberRanges.digitsOf(d.int)
        var frac = Array(d.frac.prefix(f)) + Array(repeating: 0, count: Swift.max(0, f - d.frac.count))
        let offGrid = d.frac.count > f
        if offGrid && up {
            // One step of the grid up: carry through the fraction, then the integer digits.
            var i = frac.count - 1
            while i >= 0 && frac[i] == 9 { frac[i] = 0; i -= 1 }
            if i >= 0 {
                frac[i] += 1
            } else {
                var k = int.count - 1
                while k >= 0 && int[k] == 9 { int[k] = 0; k -= 1 }
                if k >= 0 { int[k] += 1 } else { int.insert(1, at: 0) }
            }
        }
        return Bound(int: int, frac: frac, strict: strict && !offGrid)
    }

    /// How the digits written so far compare with a bound's.
    enum Order: UInt8 { case less, equal, greater }

    /// The automaton's state. `phase` 0: nothing written; 1: integer digits; 2: fraction digits.
    struct State: Hashable {
        var phase: UInt8 = 0
        var zero = false
        var len: UInt8 = 0
        var frac: UInt8 = 0
        var r: UInt64 = 0
        var lo = Order.equal
        var hi = Order.equal
    }

    /// Non-negative multiples of m / 10^f from lo to hi (nil: up to 16 integer digits), or nil if none.
    static func magnitudes(m: UInt64, f: Int, step: Double, lo: Bound, hi: Bound?, builder: GrammarBuilder) throws -> GrammarNode? {
        // 10^k mod m for the fraction digits left out.
        var tens: [UInt64] = [1 % m]
        for _ in 0..<f { tens.append(mulmod(tens.last!, 10, m)) }

        // One more integer digit: the lexicographic order with the bound's digits of the same length
        // (a longer integer part is greater, settled when the integer part ends).
        func intStep(_ o: Order, _ b: Bound, _ pos: Int, _ d: UInt8) -> Order {
            guard o == .equal, pos < b.int.count else { return o }
            return d < b.int[pos] ? .less : d > b.int[pos] ? .greater : .equal
        }
        // The integer part's order once it ends after `len` digits.
        func intEnd(_ o: Order, _ b: Bound, _ len: Int) -> Order {
            len < b.int.count ? .less : len > b.int.count ? .greater : o
        }
        func fracStep(_ o: Order, _ b: Bound, _ pos: Int, _ d: UInt8) -> Order {
            guard o == .equal else { return o }
            return d < b.frac[pos] ? .less : d > b.frac[pos] ? .greater : .equal
        }
        // Ending after `pos` fraction digits: the rest are zeros.
        func fracEnd(_ o: Order, _ b: Bound, _ pos: Int) -> Order {
            guard o == .equal else { return o }
            return b.frac[pos...].contains { $0 != 0 } ? .less : .equal
        }
        func inBounds(_ l: Order, _ h: Order) -> Bool {
            let lowOK = lo.strict ? l == .greater : l != .less
            let highOK = hi.map { $0.strict ? h == .less : h != .greater } ?? true
            return lowOK && highOK
        }
        func accepts(_ s: State) -> Bool {
            switch s.phase {
            case 1:
                guard mulmod(s.r, tens[f], m) == 0 else { return false }
                let l = fracEnd(intEnd(s.lo, lo, Int(s.len)), lo, 0)
                let h = hi.map { fracEnd(intEnd(s.hi, $0, Int(s.len)), $0, 0) } ?? .equal
                return inBounds(l, h)
            case 2:
                guard s.frac > 0, mulmod(s.r, tens[f - Int(s.frac)], m) == 0 else { return false }
                return inBounds(fracEnd(s.lo, lo, Int(s.frac)), hi.map { fracEnd(s.hi, $0, Int(s.frac)) } ?? .equal)
            default:
                return false
            }
        }
        // Where a digit (nil: the point) leads.
        func next(_ s: State, _ d: UInt8?) -> State? {
            var t = s
            switch (s.phase, d) {
            case (0, let d?):
                t.phase = 1; t.len = 1; t.zero = d == 0; t.r = UInt64(d) % m
                t.lo = intStep(.equal, lo, 0, d)
                t.hi = hi.map { intStep(.equal, $0, 0, d) } ?? .equal
            case (1, let d?):
                guard !s.zero, Int(s.len) < NumberRanges.maxDigits else { return nil }
                t.len += 1; t.r = (mulmod(s.r, 10, m) + UInt64(d)) % m
                t.lo = intStep(s.lo, lo, Int(s.len), d)
                t.hi = hi.map { intStep(s.hi, $0, Int(s.len), d) } ?? .equal
            case (1, nil):
                guard f > 0 else { return nil }
                t.phase = 2; t.frac = 0
                t.lo = intEnd(s.lo, lo, Int(s.len))
                t.hi = hi.map { intEnd(s.hi, $0, Int(s.len)) } ?? .equal
            case (2, let d?):
                guard Int(s.frac) < f else { return nil }
                t.frac += 1; t.r = (mulmod(s.r, 10, m) + UInt64(d)) % m
                t.lo = fracStep(s.lo, lo, Int(s.frac), d)
                t.hi = hi.map { fracStep(s.hi, $0, Int(s.frac), d) } ?? .equal
            default:
                return nil
            }
            // Past the upper bound's length, or greater at it: nothing can come back under it.
            if let h = hi, t.phase == 1, Int(t.len) > h.int.count || (Int(t.len) == h.int.count && t.hi == .greater) { return nil }
            if hi != nil, t.phase == 2, t.hi == .greater { return nil }
            return t
        }

        // Every state reachable from the start, with its moves.
        let start = State()
        var index: [State: Int] = [start: 0]
        var states = [start]
        var moves: [[(UInt8?, Int)]] = [[]]
        var i = 0
        while i < states.count {
            if i & 1023 == 0 { try builder.deadline.check() }
            let s = states[i]
            var out: [(UInt8?, Int)] = []
            for d in [UInt8?](Array(0...9) + [nil]) {
                guard let t = next(s, d) else { continue }
                if index[t] == nil {
                    guard states.count < maxStates else {
                        throw GrammarError.tooLarge("`multipleOf` \(text(step)) needs more than \(maxStates) grammar states here")
                    }
                    index[t] = states.count
                    states.append(t)
                    moves.append([])
                }
                out.append((d, index[t]!))
            }
            moves[i] = out
            i += 1
        }
        // Only states from which an accepting one can be reached.
        var live = states.map(accepts)
        var changed = true
        while changed {
            changed = false
            for (k, out) in moves.enumerated() where !live[k] && out.contains(where: { live[$0.1] }) {
                live[k] = true
                changed = true
            }
        }
        guard live[0] else { return nil }
        // The smallest equivalent automaton (Moore's refinement): remainders that no suffix tells
        // apart merge (a multiple of 1,000 needs four states, not a thousand), so a rule per class.
        let table: [[Int]] = moves.indices.map { k in
            var row = [Int](repeating: -1, count: 11)
            for (d, t) in moves[k] where live[t] { row[d.map(Int.init) ?? 10] = t }
            return row
        }
        let accepting = states.map(accepts)
        var cls = states.indices.map { live[$0] ? (accepting[$0] ? 1 : 0) : -1 }
        var count = Set(cls.filter { $0 >= 0 }).count
        while true {
            try builder.deadline.check()
            var ids: [[Int]: Int] = [:]
            var next = cls
            for k in states.indices where live[k] {
                let key = [cls[k]] + table[k].map { $0 < 0 ? -1 : cls[$0] }
                if let id = ids[key] { next[k] = id } else { next[k] = ids.count; ids[key] = ids.count }
            }
            cls = next
            if ids.count == count { break }
            count = ids.count
        }
        guard count <= maxRules else {
            throw GrammarError.tooLarge("`multipleOf` \(text(step)) needs more than \(maxRules) grammar rules here")
        }
        var rep = [Int](repeating: -1, count: count)
        for k in states.indices where live[k] && rep[cls[k]] < 0 { rep[cls[k]] = k }
        let ids = (0..<count).map { builder.addRule("multipleOf#\($0)") }
        for c in 0..<count {
            let k = rep[c]
            var alts: [GrammarNode] = accepting[k] ? [.empty] : []
            if table[k][10] >= 0 { alts.append(.seq([.text("."), .rule(ids[cls[table[k][10]]])])) }
            var digitsTo: [Int: [UInt8]] = [:], order: [Int] = []
            for d in 0..<10 where table[k][d] >= 0 {
                let t = cls[table[k][d]]
                if digitsTo[t] == nil { order.append(t) }
                digitsTo[t, default: []].append(0x30 + UInt8(d))
            }
            for t in order { alts.append(.seq([.byteSet(ByteSet(digitsTo[t]!)), .rule(ids[t])])) }
            builder.define(ids[c], alts.count == 1 ? alts[0] : .alt(alts))
        }
        return .rule(ids[cls[0]])
    }

    /// The step as a schema writes it (7, not 7.0).
    static func text(_ step: Double) -> String {
        step == step.rounded() && abs(step) < 1e15 ? String(Int64(step)) : "\(step)"
    }

    static func mulmod(_ a: UInt64, _ b: UInt64, _ m: UInt64) -> UInt64 {
        UInt64((UInt128(a) * UInt128(b)) % UInt128(m))
    }
}
