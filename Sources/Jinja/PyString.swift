/// Python `str` operations with Python's semantics: exact code-point matching
/// (Swift's `String ==` uses canonical equivalence, Python does not) and Python's
/// whitespace set.
enum PyString {
    /// Byte offset of the first occurrence of `needle` in `haystack` at or after `from`.
    /// UTF-8 is self-synchronizing, so byte matches are code-point matches.
    static func find(_ needle: String, in haystack: String, from: Int = 0) -> Int? {
        let h = Array(haystack.utf8), n = Array(needle.utf8)
        return find(n, in: h, from: from)
    }

    static func find(_ n: [UInt8], in h: [UInt8], from: Int = 0) -> Int? {
        if n.isEmpty { return from <= h.count ? from : nil }
        guard n.count <= h.count else { return nil }
        var i = from
        let first = n[0]
        while i <= h.count - n.count {
            if h[i] == first {
                var j = 1
                while j < n.count && h[i + j] == n[j] { j += 1 }
                if j == n.count { return i }
            }
            i += 1
        }
        return nil
    }

    static func count(_ needle: String, in haystack: String) -> Int {
        let h = Array(haystack.utf8), n = Array(needle.utf8)
        if n.isEmpty { return haystack.unicodeScalars.count + 1 }
        var c = 0, i = 0
        while let at = find(n, in: h, from: i) { c += 1; i = at + n.count }
        return c
    }

    /// `str.split(sep, maxsplit)`; `sep == nil` splits on whitespace runs.
    static func split(_ s: String, separator: String?, maxSplit: Int = -1) -> [String] {
        guard let separator else {
            var parts: [String] = []
            var current = String.UnicodeScalarView()
            var inWord = false
            var splits = 0
            var scalars = s.unicodeScalars[...]
            while let c = scalars.first {
                if isPyWhitespace(c), maxSplit < 0 || splits < maxSplit {
                    if inWord { parts.append(String(current)); current = .init(); inWord = false; splits += 1 }
                    scalars = scalars.dropFirst()
                } else if isPyWhitespace(c) {
                    // maxsplit reached: the rest (minus leading whitespace) is one part.
                    if !inWord { scalars = scalars.dropFirst(); continue }
                    current.append(contentsOf: scalars)
                    scalars = scalars[scalars.endIndex...]
                } else {
                    current.append(c)
                    inWord = true
                    scalars = scalars.dropFirst()
                }
            }
            if inWord { parts.append(String(current)) }
            return parts
        }
        let h = Array(s.utf8), n = Array(separator.utf8)
        var parts: [String] = []
        var start = 0
        while maxSplit < 0 || parts.count < maxSplit, let at = find(n, in: h, from: start) {
            parts.append(String(decoding: h[start..<at], as: UTF8.self))
            start = at + n.count
        }
        parts.append(String(decoding: h[start...], as: UTF8.self))
        return parts
    }

    /// Size `replace` would produce, computed before building it so a hostile
    /// replacement cannot allocate first and be rejected later.
    static func replacedSize(_ s: String, _ old: String, _ new: String, count: Int) -> Int {
        var n = old.isEmpty ? s.unicodeScalars.count + 1 : self.count(old, in: s)
        if count >= 0 { n = min(n, count) }
        let (grow, o1) = n.multipliedReportingOverflow(by: new.utf8.count)
        if o1 { return Int.max }
        return s.utf8.count - n * old.utf8.count + grow
    }

    static func replace(_ s: String, _ old: String, _ new: String, count: Int = -1) -> String {
        if old.isEmpty {
            var out = ""
            var done = 0
            for c in s.unicodeScalars {
                if count < 0 || done < count { out += new; done += 1 }
                out.unicodeScalars.append(c)
            }
            if count < 0 || done < count { out += new }
            return out
        }
        let h = Array(s.utf8), o = Array(old.utf8)
        var out: [UInt8] = []
        var start = 0, done = 0
        while count < 0 || done < count, let at = find(o, in: h, from: start) {
            out += h[start..<at]
            out += new.utf8
            start = at + o.count
            done += 1
        }
        out += h[start...]
        return String(decoding: out, as: UTF8.self)
    }

    /// `strip`/`lstrip`/`rstrip` with optional character set.
    static func strip(_ s: String, chars: String?, left: Bool = true, right: Bool = true) -> String {
        let set = chars.map { Set($0.unicodeScalars) }
        func strippable(_ c: Unicode.Scalar) -> Bool { set.map { $0.contains(c) } ?? isPyWhitespace(c) }
        // Walk indices (dropLast on the view would count it) and copy the bytes once.
        let u = s.unicodeScalars
        var lo = u.startIndex, hi = u.endIndex
        if left { while lo < hi, strippable(u[lo]) { lo = u.index(after: lo) } }
        if right {
            while hi > lo {
                let p = u.index(before: hi)
                guard strippable(u[p]) else { break }
                hi = p
            }
        }
        return String(Substring(u[lo..<hi]))
    }

    static func startsWith(_ s: String, _ prefix: String) -> Bool {
        s.utf8.starts(with: prefix.utf8)
    }

    static func endsWith(_ s: String, _ suffix: String) -> Bool {
        s.utf8.count >= suffix.utf8.count && s.utf8.reversed().starts(with: suffix.utf8.reversed())
    }

    /// Python `str.capitalize`: first character upper, the rest lower.
    static func capitalize(_ s: String) -> String {
        guard let first = s.unicodeScalars.first else { return s }
        let rest = String(String.UnicodeScalarView(s.unicodeScalars.dropFirst()))
        return String(first).uppercased() + rest.lowercased()
    }

    /// Python `str.title`: a letter after a non-letter is upper-cased, others lowered.
    static func title(_ s: String) -> String {
        var out = ""
        var previousCased = false
        for c in s.unicodeScalars {
            let cased = c.properties.isAlphabetic
            out += previousCased ? String(c).lowercased() : String(c).uppercased()
            previousCased = cased
        }
        return out
    }

    /// Jinja's `title` filter: capitalizes each word, words split on `-`, whitespace and `({[<`.
    static func jinjaTitle(_ s: String) -> String {
        var out = ""
        var atWordStart = true
        for c in s.unicodeScalars {
            if isPyWhitespace(c) || "-({[<".unicodeScalars.contains(c) {
                out.unicodeScalars.append(c)
                atWordStart = true
            } else {
                out += atWordStart ? String(c).uppercased() : String(c).lowercased()
                atWordStart = false
            }
        }
        return out
    }

    /// Number of `\w+` runs (Python's Unicode word characters), as Jinja's `wordcount`.
    static func wordCount(_ s: String) -> Int {
        var count = 0
        var inWord = false
        for c in s.unicodeScalars {
            let isWord = c == "_" || c.properties.isAlphabetic || c.properties.numericType != nil
                || c.properties.generalCategory == .nonspacingMark
            if isWord && !inWord { count += 1 }
            inWord = isWord
        }
        return count
    }
}
