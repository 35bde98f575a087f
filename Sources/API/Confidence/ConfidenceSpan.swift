/// A run of consecutive generated tokens each below the probability threshold, as a range of
/// the choice's text: UTF-16 code units from the start of `text`/`content` (echoed prompt
/// included), like `logprobs.text_offset` and JavaScript string indices.
struct ConfidenceSpan: Equatable {
    var start: Int
    var end: Int
    var tokens = 0
    var probabilitySum = 0.0
    var minProbability = 1.0
    var text = ""

    var meanProbability: Double { tokens > 0 ? probabilitySum / Double(tokens) : 0 }

    mutating func add(probability p: Double, end e: Int) {
        tokens += 1
        probabilitySum += p
        minProbability = min(minProbability, p)
        end = max(end, e)
    }

    /// The wire form; `shift` moves the offsets (by the echoed prompt's length).
    func json(shift: Int = 0) -> JSON {
        ["start": JSON(start + shift), "end": JSON(end + shift), "text": .string(text),
         "mean_probability": .finite(meanProbability), "min_probability": .finite(minProbability), "tokens": JSON(tokens)]
    }
}

extension JSON {
    /// A number, or null for NaN and infinities (which JSON cannot carry).
    static func finite(_ x: Double) -> JSON { x.isFinite ? .number(x) : .null }
}
