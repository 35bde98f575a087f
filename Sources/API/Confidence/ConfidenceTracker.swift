import Model

/// One choice's confidence while its tokens arrive: running sums for the summary, and the
/// runs of low-probability tokens as text ranges. Runs on the request's output queue.
///
/// A span is a maximal run of consecutive tokens each with probability below `threshold`;
/// it covers the text those tokens decode to. A token inside a multi-byte character decodes
/// to nothing until the character completes, so a run that ends inside one reaches to the
/// end of the token that completes it, however many tokens later (an emoji can take three).
struct ConfidenceTracker {
    let threshold: Double
    private(set) var tokens = 0
    private var logprobSum = 0.0
    private var minLogprob = Double.infinity
    private var entropySum = 0.0
    private var low = 0
    private var run: ConfidenceSpan?
    private var runHoldsBytes = false
    /// A run ended (a likely token came) inside a character: it waits for the character's end.
    private var tail: ConfidenceSpan?
    private var closed: [ConfidenceSpan] = []
    /// Each token measured, by where its text starts: a stop sequence takes back those it wrote.
    private var measured: [(start: Int, textless: Bool, logprob: Double, entropy: Double, low: Bool)] = []

    init(threshold: Double) { self.threshold = threshold }

    /// A token whose text is [start, end) of the decoded text; `holdsBytes`: it left bytes of
    /// an unfinished character, which the next token's text completes.
    mutating func add(_ c: TokenConfidence, start: Int, end: Int, holdsBytes: Bool) {
        let lp = Double(c.logprob), p = c.probability
        tokens += 1
        logprobSum += lp
        minLogprob = min(minLogprob, lp)
        entropySum += Double(c.entropy)
        measured.append((start, end == start && !holdsBytes, lp, Double(c.entropy), p < threshold))
        if p < threshold {
            low += 1
            if run == nil {
                // Still inside the character a run ended in: the same span goes on.
                run = tail ?? ConfidenceSpan(start: start, end: end)
                tail = nil
            }
            run?.add(probability: p, end: end)
            runHoldsBytes = holdsBytes
            return
        }
        if let r = run {
            run = nil
            if runHoldsBytes { tail = r } else { closed.append(r) }
        }
        if var t = tail {
            t.end = max(t.end, end)
            if holdsBytes { tail = t } else { closed.append(t); tail = nil }
        }
    }

    /// A stop sequence began at `cut` (UTF-16): the tokens whose text starts there or later are
    /// not part of the answer and leave the summary (the spans are cut to the text by `finish`);
    /// a textless one generated where it begins stays (`ChoiceText.beforeStop`).
    mutating func dropTokens(startingAt cut: Int) {
        var dropped = false
        while let m = measured.last, !ChoiceText.beforeStop(m.start, textless: m.textless, cut: cut) {
            measured.removeLast()
            tokens -= 1
            logprobSum -= m.logprob
            entropySum -= m.entropy
            if m.low { low -= 1 }
            dropped = true
        }
        if dropped { minLogprob = measured.map(\.logprob).min() ?? .infinity }
    }

    /// Closed spans whose text is all released (end ≤ `released`), oldest first; each is given once.
    mutating func takeSpans(released: Int) -> [ConfidenceSpan] {
        let ready = closed.prefix { $0.end <= released }
        closed.removeFirst(ready.count)
        return ready.filter { $0.start < $0.end }
    }

    /// At the end: closes the open run and gives every span not given yet, cut to the final
    /// text (a stop sequence removes its text; spans wholly inside it go).
    mutating func finish(textLength n: Int) -> [ConfidenceSpan] {
        if let r = run { closed.append(r); run = nil }
        if let t = tail { closed.append(t); tail = nil }
        // A span covers text: one whose tokens decoded to nothing (or only to cut text) goes.
        let rest = closed.compactMap { s -> ConfidenceSpan? in
            var c = s
            c.start = min(c.start, n)
            c.end = min(c.end, n)
            return c.start < c.end ? c : nil
        }
        closed = []
        return rest
    }

    var summary: AnswerConfidence {
        let n = Double(max(tokens, 1))
        return AnswerConfidence(tokens: tokens, meanLogprob: logprobSum / n, minLogprob: tokens > 0 ? minLogprob : 0,
                                meanEntropy: entropySum / n, lowConfidenceRatio: Double(low) / n, threshold: threshold)
    }
}
