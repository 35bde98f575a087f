/// How sure the model was of one answer (one choice), over its generated tokens: see
/// TokenConfidence for the distribution each token is measured in.
public struct AnswerConfidence: Sendable, Equatable {
    /// Tokens measured: the tokens `logprobs` lists, those that only wrote a matched stop
    /// sequence and the end-of-generation token not.
    public var tokens: Int
    public var meanLogprob: Double
    public var minLogprob: Double
    /// Mean entropy of the next-token distributions, in nats.
    public var meanEntropy: Double
    /// Share of the tokens whose probability was below `threshold`.
    public var lowConfidenceRatio: Double
    public var threshold: Double

    /// The wire form, with the spans that go with it; null numbers for an answer without tokens.
    func json(spans: [ConfidenceSpan], shift: Int = 0) -> JSON {
        let empty = tokens == 0
        return ["tokens": JSON(tokens),
                "mean_logprob": empty ? .null : .finite(meanLogprob),
                "min_logprob": empty ? .null : .finite(minLogprob),
                "mean_entropy": empty ? .null : .finite(meanEntropy),
                "low_confidence_ratio": empty ? .null : .finite(lowConfidenceRatio),
                "threshold": .finite(threshold),
                "low_confidence_spans": .array(spans.map { $0.json(shift: shift) })]
    }

    /// A streamed chunk's part: only the spans that closed since the last chunk.
    static func spansJSON(_ spans: [ConfidenceSpan], shift: Int = 0) -> JSON {
        ["low_confidence_spans": .array(spans.map { $0.json(shift: shift) })]
    }
}

extension GenerationJob.Delta {
    /// What a streamed chunk carries for confidence: the summary and last spans on a choice's
    /// final piece, newly closed spans before; nil when there is nothing.
    func confidenceJSON(shift: Int = 0) -> JSON? {
        if let c = confidence { return c.json(spans: spans, shift: shift) }
        return spans.isEmpty ? Optional.none : AnswerConfidence.spansJSON(spans, shift: shift)
    }
}

extension GenerationJob.Choice {
    /// The whole answer's confidence for a non-streamed response (null if it was not measured).
    func confidenceJSON(shift: Int = 0) -> JSON {
        guard let c = confidence else { return .null }
        return c.summary.json(spans: spans, shift: shift)
    }
}
