/// Predicted Outputs (OpenAI's `prediction`): text the client expects the answer to repeat
/// mostly as it is (a file with a small edit asked for, a document to reformat). Its tokens are
/// proposed as speculation and verified by the target like any proposal, so the answer is the
/// one a request without the prediction gets; only the time changes. Where the answer leaves
/// the prediction (the edit), the track is lost, and found again where the answer's last few
/// tokens occur in the prediction, first at or after the point of leaving (an edit replaces a
/// span and the rest follows), else the nearest before it.
struct PredictedOutput {
    let tokens: [Int32]
    /// The prediction token expected next, nil while the answer is off the prediction.
    private(set) var cursor: Int? = 0
    /// Output tokens followed so far.
    private var seen = 0
    /// Where the answer last left the prediction.
    private var leftAt = 0
    /// The longest and shortest run of the answer's last tokens looked up to find the track again.
    static let ngramMax = 4, ngramMin = 2

    init(tokens: [Int32]) { self.tokens = tokens }

    /// Up to `maxCount` tokens the prediction has next, after following `output` (the answer so
    /// far; it only grows, by the tokens each step emitted).
    mutating func propose(output: ArraySlice<Int32>, maxCount: Int) -> [Int32] {
        follow(output)
        guard maxCount > 0, let c = cursor, c < tokens.count else { return [] }
        return Array(tokens[c..<min(c + maxCount, tokens.count)])
    }

    /// Moves the cursor over the output tokens not seen yet; off the track, looks for it again.
    mutating func follow(_ output: ArraySlice<Int32>) {
        guard output.count > seen else { return }
        for t in output.dropFirst(seen) {
            if let c = cursor, c < tokens.count, tokens[c] == t {
                cursor = c + 1
            } else if let c = cursor {
                leftAt = c
                cursor = nil
            }
        }
        seen = output.count
        if cursor == nil { cursor = realign(output) }
    }

    /// The position after the latest occurrence in the prediction of the output's last n tokens
    /// (n from `ngramMax` down to `ngramMin`): the first one at or after `leftAt`, else the last
    /// one before it. nil when none occurs.
    private func realign(_ output: ArraySlice<Int32>) -> Int? {
        var n = min(Self.ngramMax, output.count)
        while n >= Self.ngramMin {
            let tail = output.suffix(n)
            var before: Int?
            var start = 0
            while start + n <= tokens.count {
                if tokens[start] == tail.first!, tokens[start..<(start + n)].elementsEqual(tail) {
                    if start + n > leftAt { return start + n }
                    before = start + n
                }
                start += 1
            }
            if let before { return before }
            n -= 1
        }
        return nil
    }
}
