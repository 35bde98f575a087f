/// GPT-2's byte-level alphabet: every byte has a printable code point stand-in, so a
/// byte-level vocabulary stores tokens as text (space is "Ġ" U+0120, newline "Ċ" U+010A).
enum ByteLevelAlphabet {
    /// Stand-in code point of each byte.
    static let scalarOfByte: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            // Printable Latin-1 bytes stand for themselves; the rest are shifted past 255.
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                table[b] = UInt32(b)
            } else {
                table[b] = next
                next += 1
            }
        }
        return table
    }()

    /// Inverse of `scalarOfByte`, indexed by code point (< 324); -1 where none.
    static let byteOfScalar: [Int16] = {
        var table = [Int16](repeating: -1, count: 324)
        for b in 0..<256 { table[Int(scalarOfByte[b])] = Int16(b) }
        return table
    }()

    /// Bytes a byte-level token text stands for. A character outside the alphabet
    /// (malformed vocabulary) keeps its own UTF-8 bytes rather than failing.
    static func decode(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for s in text.unicodeScalars {
            let v = Int(s.value)
            if v < byteOfScalar.count, byteOfScalar[v] >= 0 {
                out.append(UInt8(byteOfScalar[v]))
            } else {
                out.append(contentsOf: String(s).utf8)
            }
        }
        return out
    }

    /// Token text for raw bytes (used by tests and tools that build byte-level vocabularies).
    static func encode(_ bytes: [UInt8]) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes {
            if let u = Unicode.Scalar(scalarOfByte[Int(b)]) { s.append(u) }
        }
        return String(s)
    }
}
