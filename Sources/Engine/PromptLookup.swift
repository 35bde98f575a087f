/// Prompt-lookup proposals (n-gram speculation, as llama.cpp's `lookup` and vLLM's `ngram`):
/// when the sequence's last few tokens occurred before, in its prompt or its output, the tokens
/// that followed them then are likely to follow now: code edits, rewrites, extraction and
/// answers quoting their context repeat the input. Free to make, and exact whatever it
/// proposes, since the target verifies every token.
enum PromptLookup {
    /// Up to `maxCount` tokens that followed the latest earlier occurrence of the last n tokens,
    /// for n from `ngramMax` down to `ngramMin` (a longer match is a better predictor); empty
    /// when none occurred.
    static func propose(_ tokens: [Int32], maxCount: Int, ngramMax: Int = 3, ngramMin: Int = 2) -> [Int32] {
        let count = tokens.count
        guard maxCount > 0, ngramMin >= 1 else { return [] }
        return tokens.withUnsafeBufferPointer { t -> [Int32] in
            var n = min(ngramMax, count - 1)
            while n >= ngramMin {
                let tail = count - n  // the pattern is t[tail..<count]
                // Latest occurrence first: the nearest context is the likeliest to repeat.
                var j = tail - 1
                while j >= 0 {
                    if t[j] == t[tail] {
                        var k = 1
                        while k < n && t[j + k] == t[tail + k] { k += 1 }
                        if k == n {
                            let from = j + n
                            return Array(t[from..<min(from + maxCount, count)])
                        }
                    }
                    j -= 1
                }
                n -= 1
            }
            return []
        }
    }
}
