/// JSON numbers within bounds, as grammar: ranges are expanded digit by digit (as llama.cpp
/// does for integers), so `minimum`/`maximum` hold for every number the grammar allows.
/// Bounded numbers are written without exponent; at most `maxDigits` integer digits and
/// `maxDigits` fraction digits (a model cannot loop on digits).
enum NumberRanges {
    static let maxDigits = 16
    static let limit: UInt64 = 9_999_999_999_999_999  // 16 nines

    /// A non-negative decimal: integer part and fraction digits.
    struct Dec: Equatable {
        var int: UInt64
        var frac: [UInt8]
        var isInteger: Bool { frac.allSatisfy { $0 == 0 } }
    }

    /// |x| as a decimal, or nil beyond 16 integer digits (treated as no bound).
    static func dec(_ x: Double) -> Dec? {
        let a = abs(x)
        guard a.isFinite, a <= Double(limit) else { return nil }
        // Shortest round-trip text, e.g. "12.5", "1e-05", "1.5e+20".
        let text = "\(a)"
        var mantissa = text, exp = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = String(text[..<e])
            exp = Int(text[text.index(after: e)...]) ?? 0
        }
        var digits = mantissa.filter { $0 != "." }.map { UInt8($0.asciiValue! - 48) }
        var point = mantissa.firstIndex(of: ".").map { mantissa.distance(from: mantissa.startIndex, to: $0) } ?? mantissa.count
        point += exp
        if point < 0 { digits = [UInt8](repeating: 0, count: -point) + digits; point = 0 }
        if point > digits.count { digits += [UInt8](repeating: 0, count: point - digits.count) }
        var int: UInt64 = 0
        for d in digits[..<point] { int = int * 10 + UInt64(d) }
        var frac = Array(digits[point...])
        while frac.last == 0 { frac.removeLast() }
        return Dec(int: int, frac: frac)
    }

    static func digitsOf(_ v: UInt64) -> [UInt8] { String(v).map { UInt8($0.asciiValue! - 48) } }

    static func digit(_ lo: UInt8, _ hi: UInt8) -> GrammarNode { .digits(lo...hi) }

    /// Same-length digit strings between a and b (inclusive).
    static func sameLength(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> GrammarNode {
        guard let a0 = a.first, let b0 = b.first else { return .empty }
        let ra = a.dropFirst(), rb = b.dropFirst()
        if a0 == b0 { return .seq([digit(a0, a0), sameLength(ra, rb)]) }
        let n = ra.count
        if ra.allSatisfy({ $0 == 0 }) && rb.allSatisfy({ $0 == 9 }) {
            return .seq([digit(a0, b0), .rep(digit(0, 9), min: n, max: n)])
        }
        var alts: [GrammarNode] = [
            .seq([digit(a0, a0), sameLength(ra, ArraySlice(repeating: 9, count: n))]),
        ]
        if a0 + 1 <= b0 - 1 { alts.append(.seq([digit(a0 + 1, b0 - 1), .rep(digit(0, 9), min: n, max: n)])) }
        alts.append(.seq([digit(b0, b0), sameLength(ArraySlice(repeating: 0, count: n), rb)]))
        return .alt(alts)
    }

    /// Integers lo...hi (non-negative, no leading zeros); hi nil: up to 16 digits.
    static func uintRange(_ lo: UInt64, _ hi: UInt64?) -> GrammarNode {
        let h = min(hi ?? limit, limit)
        guard lo <= h else { return .alt([]) }
        var alts: [GrammarNode] = []
        let la = digitsOf(lo).count, lb = digitsOf(h).count
        for n in la...lb {
            let first: UInt64 = n == 1 ? 0 : pow10(n - 1)
            let a = max(lo, first), b = min(h, pow10(n) - 1)
            if a <= b { alts.append(sameLength(ArraySlice(digitsOf(a)), ArraySlice(digitsOf(b)))) }
        }
        return alts.count == 1 ? alts[0] : .alt(alts)
    }

    static func pow10(_ n: Int) -> UInt64 { (0..<n).reduce(1) { r, _ in r * 10 } }

    /// The fraction part (".ddd" or nothing) whose value F satisfies low ≤ F ≤ high (each
    /// optionally strict; nil: no bound), F compared as a decimal in [0, 1).
    static func fraction(low: [UInt8]?, lowStrict: Bool, high: [UInt8]?, highStrict: Bool) -> GrammarNode {
        // Whether ending after k digits (all equal to the tight bounds so far) is allowed.
        func endOK(_ k: Int, _ tl: Bool, _ th: Bool) -> Bool {
            if tl, let l = low {
                let restZero = l.count <= k || l[k...].allSatisfy { $0 == 0 }
                if !restZero || lowStrict { return false }
            }
            if th, let h = high, highStrict {
                let restZero = h.count <= k || h[k...].allSatisfy { $0 == 0 }
                if restZero { return false }
            }
            return true
        }
        // Digits from position k (at least one when k == 0, after the point).
        func rest(_ k: Int, _ tl: Bool, _ th: Bool) -> GrammarNode? {
            var alts: [GrammarNode] = []
            if k > 0 && endOK(k, tl, th) { alts.append(.empty) }
            guard k < maxDigits else { return alts.isEmpty ? nil : .alt(alts) }
            if !tl && !th {
                alts.append(.rep(digit(0, 9), min: k == 0 ? 1 : 0, max: maxDigits - k))
                return .alt(alts)
            }
            let a: UInt8 = tl ? (low.map { k < $0.count ? $0[k] : 0 } ?? 0) : 0
            let b: UInt8 = th ? (high.map { k < $0.count ? $0[k] : 0 } ?? 9) : 9
            guard a <= b else { return alts.isEmpty ? nil : .alt(alts) }
            for d in a...b {
                let ntl = tl && d == a, nth = th && d == b
                if !ntl && !nth && d != a && d != b {
                    continue  // middle digits, grouped below
                }
                if let r = rest(k + 1, ntl, nth) { alts.append(.seq([digit(d, d), r])) }
            }
            if b >= a + 2, let r = rest(k + 1, false, false) { alts.append(.seq([digit(a + 1, b - 1), r])) }
            return alts.isEmpty ? nil : .alt(alts)
        }
        var alts: [GrammarNode] = []
        if endOK(0, low != nil, high != nil) { alts.append(.empty) }
        if let r = rest(0, low != nil, high != nil) { alts.append(.seq([.text("."), r])) }
        return alts.count == 1 ? alts[0] : .alt(alts)
    }

    /// Non-negative numbers m with lo ≤ m ≤ hi (strict as asked; nil hi: unbounded).
    static func magnitude(lo: Dec, loStrict: Bool, hi: Dec?, hiStrict: Bool, integer: Bool) -> GrammarNode? {
        if integer {
            let minInt = lo.isInteger && !loStrict ? lo.int : lo.int + 1
            var maxInt: UInt64? = nil
            if let h = hi {
                if h.isInteger && hiStrict { guard h.int > 0 else { return nil }; maxInt = h.int - 1 } else { maxInt = h.int }
            }
            if let m = maxInt, m < minInt { return nil }
            return uintRange(minInt, maxInt)
        }
        var alts: [GrammarNode] = []
        let anyFrac = fraction(low: nil, lowStrict: false, high: nil, highStrict: false)
        if let h = hi {
            if h.int < lo.int { return nil }
            if h.int == lo.int {
                let f = fraction(low: lo.frac, lowStrict: loStrict, high: h.frac, highStrict: hiStrict)
                if case .alt(let xs) = f, xs.isEmpty { return nil }
                return .seq([uintRange(lo.int, lo.int), f])
            }
            if h.int > lo.int + 1 { alts.append(.seq([uintRange(lo.int + 1, h.int - 1), anyFrac])) }
            alts.append(.seq([uintRange(h.int, h.int), fraction(low: nil, lowStrict: false, high: h.frac, highStrict: hiStrict)]))
        } else {
            alts.append(.seq([uintRange(lo.int + 1, nil), anyFrac]))
        }
        alts.append(.seq([uintRange(lo.int, lo.int), fraction(low: lo.frac, lowStrict: loStrict, high: nil, highStrict: false)]))
        return .alt(alts)
    }

    /// Numbers (or integers) x with the bounds given (nil: none on that side).
    /// Any JSON number (or integer) of at most `maxDigits` digits: cannot fail.
    static func unbounded(integer: Bool) -> GrammarNode {
        let int: GrammarNode = .seq([.optional(.text("-")), .alt([.text("0"), .seq([digit(1, 9), .rep(digit(0, 9), min: 0, max: maxDigits - 1)])])])
        if integer { return int }
        return .seq([int, .optional(.seq([.text("."), .rep(digit(0, 9), min: 1, max: maxDigits)])),
                     .optional(.seq([.byteSet(ByteSet(Array("eE".utf8))), .optional(.byteSet(ByteSet(Array("+-".utf8)))),
                                     .rep(digit(0, 9), min: 1, max: 3)]))])
    }

    static func number(min: Double?, minStrict: Bool, max: Double?, maxStrict: Bool, integer: Bool) throws -> GrammarNode {
        if min == nil && max == nil { return unbounded(integer: integer) }
        if let a = min, let b = max, a > b || (a == b && (minStrict || maxStrict)) {
            throw GrammarError.invalid("the bounds leave no number")
        }
        var alts: [GrammarNode] = []
        // x ≥ 0 part.
        let lowNonNeg: (Dec, Bool) = min.flatMap { $0 >= 0 ? dec($0).map { ($0, minStrict) } : nil } ?? (Dec(int: 0, frac: []), false)
        let beyondMax = max.map { $0 > Double(limit) } ?? true
        if max.map({ $0 > 0 || ($0 == 0 && !maxStrict) }) ?? true {
            if min.map({ $0 > Double(limit) }) ?? false { throw GrammarError.unsupported("a minimum beyond 16 digits") }
            let hi: Dec? = beyondMax ? nil : max.flatMap(dec)
            if let m = magnitude(lo: lowNonNeg.0, loStrict: lowNonNeg.1, hi: hi, hiStrict: maxStrict, integer: integer) { alts.append(m) }
        }
        // x < 0 part: magnitudes -x.
        if min.map({ $0 < 0 }) ?? true {
            if max.map({ $0 < -Double(limit) }) ?? false { throw GrammarError.unsupported("a maximum beyond 16 digits") }
            let lo: (Dec, Bool) = max.flatMap { $0 < 0 ? dec($0).map { ($0, maxStrict) } : nil } ?? (Dec(int: 0, frac: []), true)
            let hi: Dec? = min.flatMap { $0 < -Double(limit) ? nil : dec($0) }
            if let m = magnitude(lo: lo.0, loStrict: lo.1, hi: hi, hiStrict: minStrict, integer: integer) {
                alts.append(.seq([.text("-"), m]))
            }
        }
        guard !alts.isEmpty else {
            // Numbers are written with at most 16 fraction digits: bounds finer than that can leave
            // numbers between them, none of which can be written.
            let fine = [min, max].contains { $0.flatMap(dec).map { $0.frac.count > maxDigits } ?? false }
            throw GrammarError.invalid(fine ? "the bounds leave no number of at most \(maxDigits) fraction digits" : "the bounds leave no number")
        }
        return alts.count == 1 ? alts[0] : .alt(alts)
    }
}
