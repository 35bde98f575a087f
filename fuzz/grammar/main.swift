// libFuzzer target for structured-output grammar compilation and matching.
// Built by run.sh together with Sources/Grammar/*.swift (but the Tokenizer glue) as one module
// named Grammar. Input: one byte choosing the kind (schema, regex, GBNF, choice lines), then the
// text. A thrown GrammarError is a pass; a trap, a sanitizer report or a hang is a bug. What
// compiles is also matched against a few strings and masked over a small vocabulary.

let fuzzLimits: GrammarLimits = {
    var l = GrammarLimits()
    l.maxSymbols = 20_000
    l.maxCompileSeconds = 1
    l.maxSourceBytes = 8192
    return l
}()

let fuzzTrie = TokenTrie(tokens: ["{", "}", "\"", ":", ",", " ", "a", "ab", "1", "-", ".", "e", "[", "]", "true", "null",
                                  "\"a\"", "é", "\u{1F600}", "\n", "\\", "0", "9"].map { Array($0.utf8) } + [[0xC3], [0xA9], [0xFF]])

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let text = String(decoding: bytes[1...], as: UTF8.self)
    let spec: GrammarSpec
    switch bytes[0] % 4 {
    case 0: spec = .jsonSchema(text)
    case 1: spec = .regex(text)
    case 2: spec = .gbnf(text)
    default: spec = .choice(text.split(separator: "\n").map(String.init))
    }
    guard let compiled = try? spec.compile(limits: fuzzLimits) else { return 0 }
    let g = TokenGrammar(grammar: compiled, trie: fuzzTrie, maxCachedMasks: 8)
    var m = g.matcher()
    // Follow the grammar a few tokens: always the first allowed one, as a greedy model would.
    for _ in 0..<16 {
        let mask = m.mask()
        guard let t = (0..<Int32(fuzzTrie.vocabularySize)).first(where: { mask.contains($0) }) else { break }
        precondition(m.accept(token: t), "a token the mask allows must be accepted")
        if m.isComplete { break }
    }
    _ = compiled.accepts(Array(text.utf8.prefix(64)))
    return 0
}
