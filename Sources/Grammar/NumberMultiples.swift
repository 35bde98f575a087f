/// JSON numbers that are multiples of a schema's `multipleOf`, within its bounds, as grammar
/// rules: a digit automaton whose state is the value's remainder modulo the step, the digits
/// written so far and how they compare with each bound. A step m / 10^f (m an integer, f ≤ 6
/// fraction digits) allows the values N / 10^f with N a multiple of m, written with at most f
/// fraction digits (trailing zeros may be left out) and no exponent; an integer step, or an
/// `integer` schema, allows integers only. Every written value is an exact multiple of the step's
/// decimal value (validators that divide floats, as Python's jsonschema does, can still refuse
/// one: 0.3 / 0.1 is not 3 in binary floating point).
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
    static func grid(_ step: Double, maxFraction: Int = maxFractionDigits) throws -> (m: UInt64, f: Int) {
        guard step > 0, step.isFinite else { throw GrammarError.invalid("`multipleOf` must be a number greater than 0") }
        guard let d = NumberRanges.dec(step) else { throw GrammarError.unsupported("`multipleOf` \(step) is beyond 16 digits") }
        guard d.frac.count <= maxFraction else {
            throw GrammarError.unsupported("`multipleOf` \(step) has more than \(maxFraction) fraction digits")
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
        // An integer schema's step may be finer: only the integers' multiples are written.
        var (m, f) = try grid(step, maxFraction: integer ? NumberRanges.maxDigits : maxFractionDigits)
        if integer || f == 0 {
            // An integer x is a multiple of m / 10^f when 10^f·x is one of m: when x is one of
            // m / gcd(m, 10^f) (lcm(m, 10^f) / 10^f, without the product, which overflows).
            m /= gcd(m, NumberRanges.pow10(f))
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
            if let n = try magnitudes(m: m, f: f, step: step, lo: lo ?? zero(f, strict: false), hi: hi, builder: b) ?? nil { alts.append(n) }
        }
        // x < 0: magnitudes -x, above 0 (no "-0") and up to -min.
        if min.map({ $0 < 0 }) ?? true {
            let lo = max.flatMap { $0 < 0 ? bound(-$0, f, strict: maxStrict, up: true) : nil }
            let hi = min.flatMap { bound(-$0, f, strict: minStrict, up: false) }
            if let n = try magnitudes(m: m, f: f, step: step, lo: lo ?? zero(f, strict: true), hi: hi, builder: b) ?? nil {
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

    /// Integer multiples of m = m'·10^k (k ≥ 1): 0, or a multiple M of m' followed by k zeros, M
    /// within the bounds divided by 10^k and of at most 16 - k digits (a step of 10^6 would need a
    /// million remainders, its automaton a handful of states).
    static func tens(m: UInt64, step: Double, lo: Bound, hi: Bound?, builder: GrammarBuilder) throws -> GrammarNode?? {
        var core = m, k = 0
        while core % 10 == 0 { core /= 10; k += 1 }
        let unit = UInt128(NumberRanges.pow10(k))
        let low = scaled(lo) + (lo.strict ? 1 : 0)
        let high = hi.map { scaled($0) - ($0.strict ? 1 : 0) } ?? UInt128(NumberRanges.limit)
        guard low <= high, hi.map({ scaled($0) > 0 || !$0.strict }) ?? true else { return .some(nil) }
        func bound(_ v: UInt128) -> Bound { Bound(int: String(v).map { UInt8($0.asciiValue! - 48) }, frac: [], strict: false) }
        var alts: [GrammarNode] = low == 0 ? [.text("0")] : []
        let mLow = max((low + unit - 1) / unit, 1), mHigh = high / unit
        if mLow <= mHigh, k < NumberRanges.maxDigits,
           let core = try magnitudes(m: core, f: 0, step: step, lo: bound(mLow), hi: bound(mHigh), maxLen: NumberRanges.maxDigits - k,
                                     builder: builder) ?? nil {
            alts.append(.seq([core, .text(String(repeating: "0", count: k))]))
        }
        return alts.isEmpty ? .some(nil) : .some(alts.count == 1 ? alts[0] : .alt(alts))
    }

    /// At most this many multiples in a range are written out as literals rather than an automaton
    /// (a large step, or close bounds: `multipleOf` 10^15 has 9 of 16 digits at most).
    static let maxListed = 1024

    /// The bound's value on the grid, N of N / 10^f (strictness not applied).
    static func scaled(_ b: Bound) -> UInt128 {
        (b.int + b.frac).reduce(UInt128(0)) { $0 * 10 + UInt128($1) }
    }

    /// The multiples of m / 10^f from lo to hi as literals ("12.5", not "12.50"), when there are at
    /// most `maxListed`: nil if more, `.some(nil)` if none.
    static func listed(m: UInt64, f: Int, lo: Bound, hi: Bound?, maxLen: Int) -> GrammarNode?? {
        let unit = UInt128(NumberRanges.pow10(f))
        let top = hi.map { scaled($0) - ($0.strict ? 1 : 0) } ?? UInt128(NumberRanges.pow10(maxLen)) * unit - 1
        let bottom = scaled(lo) + (lo.strict ? 1 : 0)
        guard bottom <= top else { return .some(nil) }
        let step = UInt128(m), first = (bottom + step - 1) / step * step
        guard first <= top else { return .some(nil) }
        guard (top - first) / step < UInt128(maxListed) else { return nil }
        // With the automaton's freedom: trailing zeros up to f fraction digits ("0.5", "0.50", "2", "2.0").
        let zero = GrammarNode.text("0")
        var texts: [GrammarNode] = []
        var n = first
        while n <= top {
            var text = String(n / unit)
            if f > 0, n % unit != 0 {
                var frac = String(n % unit)
                frac = String(repeating: "0", count: f - frac.count) + frac
                while frac.hasSuffix("0") { frac.removeLast() }
                text += "." + frac
                texts.append(frac.count < f ? .seq([.text(text), .rep(zero, min: 0, max: f - frac.count)]) : .text(text))
            } else {
                texts.append(f > 0 ? .seq([.text(text), .optional(.seq([.text("."), .rep(zero, min: 1, max: f)]))]) : .text(text))
            }
            n += step
        }
        return .some(texts.count == 1 ? texts[0] : .alt(texts))
    }

    /// Non-negative multiples of m / 10^f from lo to hi (nil: up to 16 integer digits); `.some(nil)`
    /// if none.
    static func magnitudes(m: UInt64, f: Int, step: Double, lo: Bound, hi: Bound?, maxLen: Int = NumberRanges.maxDigits,
                           builder: GrammarBuilder) throws -> GrammarNode?? {
        if f == 0, m % 10 == 0 { return try tens(m: m, step: step, lo: lo, hi: hi, builder: builder) }
        if let few = listed(m: m, f: f, lo: lo, hi: hi, maxLen: maxLen) { return few }
        // 10^k mod m for the fraction digits left out.
        var tens: [UInt64] = [1 % m]
        for _ in 0..<f { tens.append(mulmod(tens.last!, 10, m)) }
        // States hold a class of remainders where those are merged (`remainderClasses`): its
        // representative stands for it.
        let classes = try remainderClasses(m: m, tens: tens, builder: builder)
        func merged(_ r: UInt64) -> UInt64 { classes.map { UInt64($0.of[Int(r)]) } ?? r }
        func rem(_ c: UInt64) -> UInt64 { classes.map { UInt64($0.representative[Int(c)]) } ?? c }

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
                guard mulmod(rem(s.r), tens[f], m) == 0 else { return false }
                let l = fracEnd(intEnd(s.lo, lo, Int(s.len)), lo, 0)
                let h = hi.map { fracEnd(intEnd(s.hi, $0, Int(s.len)), $0, 0) } ?? .equal
                return inBounds(l, h)
            case 2:
                guard s.frac > 0, mulmod(rem(s.r), tens[f - Int(s.frac)], m) == 0 else { return false }
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
                t.phase = 1; t.len = 1; t.zero = d == 0; t.r = merged(UInt64(d) % m)
                t.lo = intStep(.equal, lo, 0, d)
                t.hi = hi.map { intStep(.equal, $0, 0, d) } ?? .equal
            case (1, let d?):
                guard !s.zero, Int(s.len) < maxLen else { return nil }
                t.len += 1; t.r = merged((mulmod(rem(s.r), 10, m) + UInt64(d)) % m)
                t.lo = intStep(s.lo, lo, Int(s.len), d)
                t.hi = hi.map { intStep(s.hi, $0, Int(s.len), d) } ?? .equal
            case (1, nil):
                guard f > 0 else { return nil }
                t.phase = 2; t.frac = 0
                t.lo = intEnd(s.lo, lo, Int(s.len))
                t.hi = hi.map { intEnd(s.hi, $0, Int(s.len)) } ?? .equal
            case (2, let d?):
                guard Int(s.frac) < f else { return nil }
                t.frac += 1; t.r = merged((mulmod(rem(s.r), 10, m) + UInt64(d)) % m)
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
                        throw GrammarError.tooLarge("`multipleOf` \(text(step)) needs more than \(maxStates) grammar states here (bounds that leave at most \(maxListed) multiples list them instead)")
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
        guard live[0] else { return .some(nil) }
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
            throw GrammarError.tooLarge("`multipleOf` \(text(step)) needs more than \(maxRules) grammar rules here (bounds that leave at most \(maxListed) multiples list them instead)")
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

    /// Remainders up to this modulus are merged first.
    static let maxMerged: UInt64 = 200_000

    /// The remainders mod m that no digits to come tell apart, merged (Moore's refinement over the
    /// remainder automaton, ends after 0 to f more digits as its outcomes): the class of each
    /// remainder and a representative of each class. A step of 10,000 needs five, not 10,000 times
    /// the lengths. Nil past `maxMerged`.
    static func remainderClasses(m: UInt64, tens: [UInt64], builder: GrammarBuilder) throws -> (of: [Int32], representative: [Int32])? {
        guard m <= maxMerged else { return nil }
        let n = Int(m)
        // A remainder's class and its ten successors' (lanes 11-15 unused): no allocation per key.
        typealias Key = SIMD16<Int32>
        var cls = (0..<n).map { r -> Int32 in
            tens.enumerated().reduce(Int32(0)) { bits, e in mulmod(UInt64(r), e.element, m) == 0 ? bits | Int32(1 << e.offset) : bits }
        }
        var count = Set(cls).count
        while true {
            try builder.deadline.check()
            var ids: [Key: Int32] = [:]
            var next = cls
            for r in 0..<n {
                var key = Key()
                key[0] = cls[r]
                let base = (10 * r) % n
                for d in 0..<10 { key[d + 1] = cls[(base + d) % n] }
                if let id = ids[key] { next[r] = id } else { next[r] = Int32(ids.count); ids[key] = Int32(ids.count) }
            }
            cls = next
            if ids.count == count { break }
            count = ids.count
        }
        var representative = [Int32](repeating: -1, count: count)
        for r in 0..<n where representative[Int(cls[r])] < 0 { representative[Int(cls[r])] = Int32(r) }
        return (cls, representative)
    }

    static func mulmod(_ a: UInt64, _ b: UInt64, _ m: UInt64) -> UInt64 {
        UInt64((UInt128(a) * UInt128(b)) % UInt128(m))
    }
}
