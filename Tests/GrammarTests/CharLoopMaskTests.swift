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
