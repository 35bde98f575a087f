import Model

/// The scheduler's decisions for one step: which requests compute which tokens, and
/// which were preempted to make room. The engine runs the entries as one forward pass.
struct StepPlan {
    struct Entry {
        let request: Request
        /// First position computed this step, and how many tokens from there.
        let start: Int
        let count: Int
        /// Scheduled for the first time (its queue wait ends now).
        let isFirst: Bool
        /// Positions reserved (budget and blocks) after the last token for proposed tokens;
        /// the engine fills `draft` with at most this many before the forward pass.
        let speculate: Int
        /// Proposed tokens, computed after the entry's own ones and verified against their
        /// logits; never part of `request.tokens` until accepted.
        var draft: [Int32] = []
        /// `draft` came from prompt lookup (a point mass per position), not the draft model.
        var byLookup = false
        /// The proposals are the request's predicted output's (`byLookup` is set too).
        var byPrediction = false
        /// Logit rows the step needs without proposals: every row for prompt logprobs, the last
        /// row when the entry reaches the end of the sequence (a token follows), else none.
        /// Fixed when planned, since the request changes once the step has run.
        private let plainLogits: BatchSequence.Logits

        init(request: Request, start: Int, count: Int, isFirst: Bool, speculate: Int = 0) {
            self.request = request
            self.start = start
            self.count = count
            self.isFirst = isFirst
            self.speculate = speculate
            let end = start + count
            plainLogits = request.wantsPromptLogprobs ? .all : (end == request.tokens.count ? .last : .none)
        }

        var end: Int { start + count }
        /// With proposals, every row: the last token's and each proposal's.
        var logits: BatchSequence.Logits { draft.isEmpty ? plainLogits : .all }
        /// Tokens the forward pass computes for this entry.
        var computedCount: Int { count + draft.count }
    }

    /// In the order the forward pass takes them: running requests, then newly admitted ones.
    var entries: [Entry] = []
    /// Running requests sent back to the waiting queue (their blocks freed, to be
    /// recomputed), newest first.
    var preempted: [Request] = []
    /// The step's token budget (after the step-time target), which the entries fit in.
    var tokenBudget = 0

    var isEmpty: Bool { entries.isEmpty }
    var tokenCount: Int { entries.reduce(0) { $0 + $1.computedCount } }
    /// Positions reserved for proposals (at most what the engine fills).
    var reservedSpeculation: Int { entries.reduce(0) { $0 + $1.speculate } }
}
