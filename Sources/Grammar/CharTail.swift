/// Every token of a vocabulary read from inside one character of a `char` rule (a DFA state
/// other than 0: after `\`, `\u00`, or a UTF-8 lead byte): whether it is refused, ends still
/// inside the character, ends exactly where the character does, or goes on past it, and then
/// the bytes after the character (its "remainder").
///
/// A state in the middle of a character then needs no walk of the vocabulary: the tokens that
/// end inside or with the character are a fixed set, and the remainders are read from the
/// state after the character by a `CharLoop` of their own (usually a text state again). Escapes
/// inside a `maxLength` string make a fresh state at every position, so they would otherwise
/// walk the whole trie for nearly every mask.
final class CharTail: Sendable {
    /// Tokens that end inside the character or exactly where it ends.
    let base: [UInt64]
    /// Distinct remainders ("token" i of `loop` and `remainders`), and the tokens with each.
    let remainders: TokenTrie
    let loop: CharLoop
    let tokensOf: [[Int32]]

    init(table: [Int32], state: Int32, trie: TokenTrie) {
        let n = trie.vocabularySize
        var base = [UInt64](repeating: 0, count: (n + 63) / 64)
        var index: [[UInt8]: Int] = [:]
        var list: [[UInt8]] = [], tokensOf: [[Int32]] = []
        for id in 0..<n {
            let bytes = trie.tokenBytes[id]
            guard !bytes.isEmpty else { continue }
            var s = state, i = 0, done = false
            while i < bytes.count {
                let t = table[Int(s) * 256 + Int(bytes[i])]
                if t < 0 { break }
                i += 1
                if t & CharLoop.complete != 0 { done = true; break }
                s = t
            }
            if i == bytes.count {
                base[id >> 6] |= 1 << UInt64(id & 63)  // inside, or exactly the character's end
            } else if done {
                let rest = Array(bytes[i...])
                let r = index[rest] ?? {
                    list.append(rest)
                    tokensOf.append([])
                    index[rest] = list.count - 1
                    return list.count - 1
                }()
                tokensOf[r].append(Int32(id))
            }
        }
        self.base = base
        self.tokensOf = tokensOf
        remainders = TokenTrie(tokens: list)
        loop = CharLoop(table: table, trie: remainders)
    }
}
