/// Predicted Outputs (OpenAI's `prediction`): text the client expects the answer to repeat
/// mostly as it is (a file with a small edit asked for, a document to reformat). Its tokens are
/// proposed as speculation and verified by the target like any proposal, so the answer is the
/// one a request without the prediction gets; only the time changes. Where the answer leaves
/// the prediction (the edit), the track is lost, and found again where the answer's last few
/// tokens occur in the prediction: the first such run ending after the point of leaving (an
/// edit replaces a span and the rest follows), else the last one before it.
struct PredictedOutput {
    let tokens: [Int32]
    /// The prediction token expected next, nil while the answer is off the prediction.
    private(set) var cursor: Int? = 0
    /// Output tokens followed so far.
    private var seen = 0
    /// Where the answer last left the prediction.
    private var leftAt = 0
    /// Where each pair of adjacent tokens starts in the prediction, in order; made when the track
    /// is first lost (a scan of a long prediction at every step off it would slow the whole batch).
    private var pairs: [UInt64: [Int32]]?
    /// The longest and shortest run of the answer's last tokens looked up to find the track again.
    static let ngramMax = 4, ngramMin = 2
    /// Runs starting with the right pair checked each way from the point of leaving, at most.
    static let candidates = 64

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

    private static func pair(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b)) }

    /// The position after the output's last n tokens (n from `ngramMax` down to `ngramMin`) in the
    /// prediction: the first run ending after `leftAt` (any n), else the last one before. nil when none.
    private mutating func realign(_ output: ArraySlice<Int32>) -> Int? {
        guard output.count >= Self.ngramMin, tokens.count >= Self.ngramMin else { return nil }
        if pairs == nil {
            var index: [UInt64: [Int32]] = [:]
            for i in 0..<(tokens.count - 1) { index[Self.pair(tokens[i], tokens[i + 1]), default: []].append(Int32(i)) }
            pairs = index
        }
        // After the point of leaving, longest run first; only then before it (a run there is more
        // likely a repeated pattern than where the answer goes on).
        for after in [true, false] {
            var n = min(Self.ngramMax, output.count)
            while n >= Self.ngramMin {
                let tail = output.suffix(n)
                let first = tail.startIndex
                let starts = pairs?[Self.pair(tail[first], tail[first + 1])] ?? []
                func matches(_ k: Int) -> Bool {
                    let start = Int(starts[k])
                    return start + n <= tokens.count && tokens[start..<(start + n)].elementsEqual(tail)
                }
                // The first start whose run ends after leftAt, by bisection; then a few candidates
                // that way (a pair as common as an indentation may start thousands of runs).
                var lo = 0, hi = starts.count
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if Int(starts[mid]) + n > leftAt { hi = mid } else { lo = mid + 1 }
                }
                if after {
                    for k in lo..<min(starts.count, lo + Self.candidates) where matches(k) { return Int(starts[k]) + n }
                } else {
                    for k in stride(from: lo - 1, through: max(0, lo - Self.candidates), by: -1) where matches(k) {
                        return Int(starts[k]) + n
                    }
                }
                n -= 1
            }
        }
        return nil
    }
}
