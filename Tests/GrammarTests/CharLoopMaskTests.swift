import XCTest
@testable import Grammar

/// The masks computed without a walk (states inside JSON string text, `CharLoopMasks`) must
/// equal the masks of the whole-trie walk, on random vocabularies and random paths.
final class CharLoopMaskTests: XCTestCase {
    /// Tokens made of the bytes that matter inside and around JSON strings: quotes,
    /// backslashes and escape letters, control bytes, UTF-8 pieces (split too), punctuation.
    func randomVocabulary(_ rng: inout GrammarRandom, count: Int) -> [[UInt8]] {
        let pieces: [[UInt8]] = ["\"", "\\", "n", "u", "0", "a", "b", "Z", " ", ",", ":", "{", "}", "[", "]", "1", "-", ".",
                                 "e", "\n", "é", "😀", "x"].map { Array($0.utf8) } + [[0xC3], [0xA9], [0xF0, 0x9F], [0x98, 0x80], [0x01]]
        var out: [[UInt8]] = pieces
        while out.count < count {
            var t: [UInt8] = []
            for _ in 0..<Int(rng.next() % 5 + 1) { t += pieces[Int(rng.next() % UInt64(pieces.count))] }
            out.append(t)
        }
        return out
    }

    func check(_ spec: GrammarSpec, seed: UInt64, steps: Int = 60) throws -> Int {
        var rng = GrammarRandom(seed)
        let trie = TokenTrie(tokens: randomVocabulary(&rng, count: 400))
        let g = TokenGrammar(grammar: try spec.compile(), trie: trie, maxCachedMasks: 0)
        for _ in 0..<6 {
            var m = g.matcher()
            for _ in 0..<steps {
                let fast = g.mask(for: m.stacks).mask
                XCTAssertEqual(fast, g.walkedMask(for: m.stacks), "\(spec) at \(m.stacks)")
                let allowed = (0..<Int32(trie.vocabularySize)).filter { fast.contains($0) }
                guard !allowed.isEmpty else { break }
                // Mostly tokens staying in text, so paths reach long strings and their bounds.
                let pick = allowed[Int(rng.next() % UInt64(allowed.count))]
                XCTAssertTrue(m.accept(token: pick))
                if m.isComplete { break }
            }
        }
        return g.textMasks
    }

    func testTextMasksEqualTheWalk() throws {
        let specs: [GrammarSpec] = [
            .jsonObject,
            .jsonSchema(#"{"type":"string"}"#),
            .jsonSchema(#"{"type":"string","minLength":2,"maxLength":5}"#),
            .jsonSchema(#"{"type":"array","items":{"type":"string","maxLength":3},"minItems":1}"#),
            .jsonSchema(#"{"type":"object","properties":{"a":{"type":"string"},"ab":{"anyOf":[{"type":"string","maxLength":2},{"type":"string","minLength":4}]}},"additionalProperties":{"type":"string"}}"#),
            .jsonSchema(#"{"type":"object","properties":{"s":{"type":"string","pattern":"^a+$"},"t":{"type":"string","format":"date"}}}"#),
        ]
        var text = 0
        for (i, spec) in specs.enumerated() {
            for seed in 0..<3 { text += try check(spec, seed: UInt64(i * 10 + seed)) }
        }
        XCTAssertGreaterThan(text, 50, "the text path should be taken")
    }

    /// Tokens cutting escapes anywhere (`\`, `\u`, `\u00`, `00e`, `9"`, ...) and UTF-8 pieces, in
    /// strings whose length bound falls inside, on and right after an escape: the masks of the
    /// states inside a character must equal the walk's too, and be made without it.
    func testInsideCharacterMasksEqualTheWalk() throws {
        let pieces: [[UInt8]] = [#"\"#, #"\u"#, #"\u00"#, "u", "00", "0", "e9", "E", "9", "a", "\"", #"\""#, #"\n"#, "n",
                                 #"\\"#, "d", "D", "8", "f", "é", ",", ":", "{", "}", "[", "]", " ", "x", "1", "2", "\"}",
                                 "\",", "/"].map { Array($0.utf8) } + [[0xC3], [0xA9], [0xE2, 0x82], [0xAC]]
        let specs: [GrammarSpec] = [
            .jsonSchema(#"{"type":"string","maxLength":1}"#),
            .jsonSchema(#"{"type":"string","minLength":2,"maxLength":2}"#),
            .jsonSchema(#"{"type":"string","minLength":1,"maxLength":3}"#),
            .jsonSchema(#"{"type":"array","items":{"type":"string","maxLength":2},"minItems":2,"maxItems":4}"#),
            .jsonSchema(#"{"type":"object","properties":{"a":{"type":"string","maxLength":4},"b":{"type":"string"}},"required":["a","b"],"additionalProperties":false}"#),
            .jsonSchema(#"{"type":"object","properties":{"s":{"anyOf":[{"type":"string","maxLength":1},{"type":"string","pattern":"^u+$"}]}}}"#),
            .jsonObject,
        ]
        var inside = 0
        for (i, spec) in specs.enumerated() {
            for seed in 0..<3 {
                var rng = GrammarRandom(UInt64(100 + i * 10 + seed))
                var vocab = pieces
                while vocab.count < 300 {
                    var t: [UInt8] = []
                    for _ in 0..<Int(rng.next() % 4 + 1) { t += pieces[Int(rng.next() % UInt64(pieces.count))] }
                    vocab.append(t)
                }
                let trie = TokenTrie(tokens: vocab)
                let g = TokenGrammar(grammar: try spec.compile(), trie: trie, maxCachedMasks: 0)
                for _ in 0..<8 {
                    var m = g.matcher()
                    for _ in 0..<40 {
                        let fast = g.mask(for: m.stacks).mask
                        XCTAssertEqual(fast, g.walkedMask(for: m.stacks), "\(spec) at \(m.stacks)")
                        let allowed = (0..<Int32(trie.vocabularySize)).filter { fast.contains($0) }
                        guard !allowed.isEmpty else { break }
                        XCTAssertTrue(m.accept(token: allowed[Int(rng.next() % UInt64(allowed.count))]))
                        if m.isComplete { break }
                    }
                }
                inside += g.insideCharacterMasks
            }
        }
        XCTAssertGreaterThan(inside, 100, "the path inside a character should be taken")
    }

    /// A string of escapes up to its bound, through a vocabulary of escape pieces: the states
    /// inside it are made without a walk, and the bound holds inside and after the last escape.
    func testEscapesInBoundedStringsNeedNoWalk() throws {
        let vocab: [[UInt8]] = [#"\u"#, "00", "e", "9", #"\u00e9"#, "\"", #"\"#, "u00e", "9\""].map { Array($0.utf8) }
        let trie = TokenTrie(tokens: vocab)
        let g = TokenGrammar(grammar: try GrammarSpec.jsonSchema(#"{"type":"string","maxLength":6}"#).compile(), trie: trie,
                             maxCachedMasks: 0)
        // `"`, then `\u00e9` six times as \u, 00, e, 9, then `"`.
        var path: [Int32] = [5]
        for _ in 0..<6 { path += [0, 1, 2, 3] }
        path.append(5)
        var m = g.matcher()
        for (i, t) in path.enumerated() {
            let mask = g.mask(for: m.stacks).mask
            XCTAssertEqual(mask, g.walkedMask(for: m.stacks))
            XCTAssertTrue(mask.contains(t), "token \(t) refused at \(i)")
            if i == path.count - 2 {
                // Inside the sixth escape, before its last digit: `9` and `9"` (the digit, then the close).
                XCTAssertTrue(mask.contains(8))
            }
            if i == path.count - 1 {
                // Six characters written: only the closing quote.
                XCTAssertEqual((0..<Int32(vocab.count)).filter { mask.contains($0) }, [5])
            }
            XCTAssertTrue(m.accept(token: t))
        }
        XCTAssertTrue(m.isComplete)
        // Walked: the state before the opening quote and the one at the bound (it only closes).
        XCTAssertEqual(g.textMasks, path.count - 2)
        XCTAssertEqual(g.insideCharacterMasks, 6 * 3)
    }
}

/// A small seeded generator (tests must repeat).
struct GrammarRandom {
    var state: UInt64
    init(_ seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
