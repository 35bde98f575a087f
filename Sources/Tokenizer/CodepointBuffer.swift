/// Text decoded to code points with their classes and byte offsets, the input of the
/// pre-tokenizer scanners.
///
/// Invalid UTF-8 bytes become one pseudo code point each (`invalidBase + byte`), classed
/// as "other" (neither letter, number nor space), so any byte string can be split and
/// every byte stays in exactly one piece.
struct CodepointBuffer {
    static let letter: UInt8 = 1
    static let number: UInt8 = 2
    static let space: UInt8 = 4
    /// Anything else in the text: punctuation, symbols, unassigned, invalid bytes.
    /// Positions outside the scanned range read as 0, which is none of these.
    static let other: UInt8 = 8
    /// Pseudo code points for invalid bytes lie above the Unicode range.
    static let invalidBase: UInt32 = 0x11_0000

    var cpts: [UInt32] = []
    var flags: [UInt8] = []
    /// `offsets[i]` is the first byte of code point i; `offsets[count]` is the byte count.
    var offsets: [Int] = []

    var count: Int { cpts.count }

    init(_ bytes: UnsafeBufferPointer<UInt8>) {
        let n = bytes.count
        var count = 0
        // One pass into uninitialized storage: this runs for every byte encoded.
        cpts = [UInt32](unsafeUninitializedCapacity: n) { cp, cpCount in
            flags = [UInt8](unsafeUninitializedCapacity: n) { fl, flCount in
                offsets = [Int](unsafeUninitializedCapacity: n + 1) { off, offCount in
                    var i = 0
                    while i < n {
                        let b0 = bytes[i]
                        off[count] = i
                        if b0 < 0x80 {
                            cp[count] = UInt32(b0)
                            fl[count] = CodepointBuffer.asciiFlags[Int(b0)]
                            i += 1
                        } else {
                            let (c, len) = CodepointBuffer.decodeMultiByte(bytes, at: i)
                            if len == 0 {
                                cp[count] = CodepointBuffer.invalidBase + UInt32(b0)
                                fl[count] = CodepointBuffer.other
                                i += 1
                            } else {
                                cp[count] = c
                                fl[count] = CodepointBuffer.classify(c)
                                i += len
                            }
                        }
                        count += 1
                    }
                    off[count] = n
                    offCount = count + 1
                }
                flCount = count
            }
            cpCount = count
        }
    }

    /// Decodes a 2-4 byte sequence at `i`; length 0 when it is not valid UTF-8
    /// (bad lead, bad continuation, overlong, surrogate or above U+10FFFF).
    @inline(__always)
    static func decodeMultiByte(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> (UInt32, Int) {
        let n = b.count
        let b0 = UInt32(b[i])
        @inline(__always) func cont(_ k: Int) -> UInt32? {
            guard k < n, b[k] & 0xC0 == 0x80 else { return nil }
            return UInt32(b[k] & 0x3F)
        }
        if b0 & 0xE0 == 0xC0 {
            guard let c1 = cont(i + 1) else { return (0, 0) }
            let cp = (b0 & 0x1F) << 6 | c1
            return cp >= 0x80 ? (cp, 2) : (0, 0)
        }
        if b0 & 0xF0 == 0xE0 {
            guard let c1 = cont(i + 1), let c2 = cont(i + 2) else { return (0, 0) }
            let cp = (b0 & 0x0F) << 12 | c1 << 6 | c2
            if cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF) { return (0, 0) }
            return (cp, 3)
        }
        if b0 & 0xF8 == 0xF0 {
            guard let c1 = cont(i + 1), let c2 = cont(i + 2), let c3 = cont(i + 3) else { return (0, 0) }
            let cp = (b0 & 0x07) << 18 | c1 << 12 | c2 << 6 | c3
            if cp < 0x1_0000 || cp > 0x10_FFFF { return (0, 0) }
            return (cp, 4)
        }
        return (0, 0)
    }

    /// \p{L}, \p{N} by general category; \s is the Unicode White_Space property, which is
    /// what the regex engines (Python `regex`, PCRE UCP, Oniguruma) use for \s.
    static func classify(_ cp: UInt32) -> UInt8 {
        if cp < 0x80 { return asciiFlags[Int(cp)] }
        guard let scalar = Unicode.Scalar(cp) else { return other }
        let props = scalar.properties
        switch props.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return number
        default:
            return props.isWhitespace ? space : other
        }
    }

    static let asciiFlags: [UInt8] = (0..<128).map { (c: Int) -> UInt8 in
        switch c {
        case 0x41...0x5A, 0x61...0x7A: return letter
        case 0x30...0x39: return number
        case 0x09...0x0D, 0x20: return space
        default: return other
        }
    }
}
