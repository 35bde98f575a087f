/// Splits text into pre-tokens before BPE, as the regex of `tokenizer.ggml.pre` would,
/// with hand-written scanners over code points (no regex engine in the hot path).
///
/// Each scanner follows its pattern's ordered alternatives at every position, like
/// llama.cpp's `unicode_regex_split_custom_*`; tests compare them with Python `regex`.
public struct PreTokenizer: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
        case gpt2
        /// Each \p{N} alone, then the GPT-2 pattern on the text between.
        case smollm
        /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|`
        /// ` ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
        case llama3
        /// As `llama3` with `\p{N}` (one number at a time).
        case qwen2
    }

    public let kind: Kind
    /// Long texts are scanned in chunks of about this many bytes, cut only where every
    /// pattern is known to have a boundary, so that the scanner's buffers stay in cache.
    /// The result does not depend on it (tests compare against `Int.max`).
    public var chunkSize: Int = 1 << 14

    public init(kind: Kind) { self.kind = kind }

    /// Maps a `tokenizer.ggml.pre` value; unknown names get the GPT-2 pattern.
    public init(name: String) {
        switch name {
        case "smollm": kind = .smollm
        case "llama-bpe", "llama3", "llama-v3": kind = .llama3
        case "qwen2", "deepseek-r1-qwen": kind = .qwen2
        default: kind = .gpt2
        }
    }

    /// Byte ranges of the pre-tokens of `bytes`, in order, covering every byte once.
    public func split(bytes: [UInt8]) -> [Range<Int>] {
        bytes.withUnsafeBufferPointer { split($0) }
    }

    /// Pre-tokens of a string (convenience for tests and tools).
    public func split(_ text: String) -> [String] {
        let bytes = Array(text.utf8)
        return split(bytes: bytes).map { String(decoding: bytes[$0], as: UTF8.self) }
    }

    func split(_ bytes: UnsafeBufferPointer<UInt8>) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(bytes.count / 4 + 1)
        var start = 0
        while start < bytes.count {
            let end = PreTokenizer.chunkEnd(bytes, from: start, size: chunkSize)
            splitWhole(UnsafeBufferPointer(rebasing: bytes[start..<end]), offset: start, into: &ranges)
            start = end
        }
        return ranges
    }

    /// End of the chunk starting at `start`: the first cut at or after `start + size` of
    /// the form "x| y" (x printable ASCII other than space, then a space and an ASCII
    /// letter). Every pattern here ends a pre-token after x and starts " y..." there,
    /// whatever comes before or after. The whole rest when there is no such cut.
    static func chunkEnd(_ b: UnsafeBufferPointer<UInt8>, from start: Int, size: Int) -> Int {
        let n = b.count
        guard size < n - start - 1 else { return n }
        var i = start + max(size, 1)
        while i < n - 1 {
            if b[i] == 0x20, b[i - 1] > 0x20, b[i - 1] < 0x7F {
                let c = b[i + 1] | 0x20
                if c >= 0x61 && c <= 0x7A { return i }
            }
            i += 1
        }
        return n
    }

    private func splitWhole(_ bytes: UnsafeBufferPointer<UInt8>, offset: Int, into ranges: inout [Range<Int>]) {
        let buf = CodepointBuffer(bytes)
        var ends: [Int] = []
        ends.reserveCapacity(buf.count / 3 + 1)
        buf.cpts.withUnsafeBufferPointer { cpts in
            buf.flags.withUnsafeBufferPointer { flags in
                var s = Scanner(cpts: cpts, flags: flags, end: 0)
                switch kind {
                case .gpt2:
                    s.end = cpts.count
                    s.scanGPT2(from: 0, into: &ends)
                case .llama3:
                    s.end = cpts.count
                    s.scanLlama3(from: 0, maxDigits: 3, into: &ends)
                case .qwen2:
                    s.end = cpts.count
                    s.scanLlama3(from: 0, maxDigits: 1, into: &ends)
                case .smollm:
                    // Numbers split alone first; the GPT-2 pattern then sees each run
                    // between them as a whole text (its lookahead stops at the run end).
                    var pos = 0
                    let n = cpts.count
                    while pos < n {
                        if flags[pos] == CodepointBuffer.number {
                            pos += 1
                            ends.append(pos)
                            continue
                        }
                        var runEnd = pos + 1
                        while runEnd < n && flags[runEnd] != CodepointBuffer.number { runEnd += 1 }
                        s.end = runEnd
                        s.scanGPT2(from: pos, into: &ends)
                        pos = runEnd
                    }
                }
            }
        }
        var start = offset
        for e in ends {
            let byteEnd = offset + buf.offsets[e]
            ranges.append(start..<byteEnd)
            start = byteEnd
        }
    }
}

/// The scanners proper. Positions are code point indexes; `end` bounds the text seen,
/// and reads past it return "out of range" (code point `outOfRange`, flags 0).
private struct Scanner {
    let cpts: UnsafeBufferPointer<UInt32>
    let flags: UnsafeBufferPointer<UInt8>
    var end: Int

    static let outOfRange: UInt32 = 0xFFFF_FFFF
    private static let L = CodepointBuffer.letter
    private static let N = CodepointBuffer.number
    private static let S = CodepointBuffer.space
    private static let O = CodepointBuffer.other

    @inline(__always) func cpt(_ p: Int) -> UInt32 { p < end ? cpts[p] : Scanner.outOfRange }
    @inline(__always) func flag(_ p: Int) -> UInt8 { p < end ? flags[p] : 0 }

    /// Length of a contraction ('s 't 're 've 'm 'll 'd) at `pos`, 0 if none.
    @inline(__always)
    func contraction(at pos: Int, ignoreCase: Bool) -> Int {
        guard cpts[pos] == 0x27, pos + 1 < end else { return 0 }
        @inline(__always) func fold(_ c: UInt32) -> UInt32 {
            ignoreCase && c >= 0x41 && c <= 0x5A ? c + 0x20 : c
        }
        let c1 = fold(cpts[pos + 1])
        switch c1 {
        case 0x73, 0x74, 0x6D, 0x64: return 2  // s t m d
        default: break
        }
        guard pos + 2 < end else { return 0 }
        let c2 = fold(cpts[pos + 2])
        if (c1 == 0x72 && c2 == 0x65) || (c1 == 0x76 && c2 == 0x65) || (c1 == 0x6C && c2 == 0x6C) {
            return 3  // re ve ll
        }
        return 0
    }

    func scanGPT2(from start: Int, into ends: inout [Int]) {
        var pos = start
        while pos < end {
            let c = cpts[pos]
            let k = contraction(at: pos, ignoreCase: false)
            if k > 0 {
                pos += k
                ends.append(pos)
                continue
            }
            // " ?X+" for X in letters, numbers, others: the optional space is taken only
            // when the class run follows it.
            let f2 = c == 0x20 ? flag(pos + 1) : flags[pos]
            if f2 == Scanner.L || f2 == Scanner.N || f2 == Scanner.O {
                if c == 0x20 { pos += 1 }
                while flag(pos) == f2 { pos += 1 }
                ends.append(pos)
                continue
            }
            var spaces = 0
            while flag(pos + spaces) == Scanner.S { spaces += 1 }
            if spaces > 1 && pos + spaces < end {
                // \s+(?!\S): leave the last space to prefix the next word.
                pos += spaces - 1
            } else if spaces > 0 {
                pos += spaces
            } else {
                pos += 1
            }
            ends.append(pos)
        }
    }

    func scanLlama3(from start: Int, maxDigits: Int, into ends: inout [Int]) {
        var pos = start
        while pos < end {
            let c = cpts[pos]
            let f = flags[pos]
            let k = contraction(at: pos, ignoreCase: true)
            if k > 0 {
                pos += k
                ends.append(pos)
                continue
            }
            // [^\r\n\p{L}\p{N}]?\p{L}+
            if !(c == 0x0D || c == 0x0A || f == Scanner.N) {
                if f == Scanner.L || flag(pos + 1) == Scanner.L {
                    pos += 1
                    while flag(pos) == Scanner.L { pos += 1 }
                    ends.append(pos)
                    continue
                }
            }
            // \p{N}{1,maxDigits}, repeated
            if f == Scanner.N {
                var run = 0
                while flag(pos) == Scanner.N {
                    pos += 1
                    run += 1
                    if run == maxDigits {
                        ends.append(pos)
                        run = 0
                    }
                }
                if run > 0 { ends.append(pos) }
                continue
            }
            // ?[^\s\p{L}\p{N}]+[\r\n]*
            let f2 = c == 0x20 ? flag(pos + 1) : f
            if f2 == Scanner.O {
                if c == 0x20 { pos += 1 }
                while flag(pos) == Scanner.O { pos += 1 }
                while true {
                    let c2 = cpt(pos)
                    guard c2 == 0x0D || c2 == 0x0A else { break }
                    pos += 1
                }
                ends.append(pos)
                continue
            }
            var spaces = 0
            var lastNewlineEnd = 0
            while flag(pos + spaces) == Scanner.S {
                let c2 = cpts[pos + spaces]
                if c2 == 0x0D || c2 == 0x0A { lastNewlineEnd = pos + spaces + 1 }
                spaces += 1
            }
            if lastNewlineEnd > 0 {
                // \s*[\r\n]+ ends at the last newline of the space run.
                pos = lastNewlineEnd
            } else if spaces > 1 && pos + spaces < end {
                pos += spaces - 1
            } else if spaces > 0 {
                pos += spaces
            } else {
                pos += 1
            }
            ends.append(pos)
        }
    }
}
