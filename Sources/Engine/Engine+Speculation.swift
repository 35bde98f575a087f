import Model

/// Speculative decoding in the engine step. The scheduler reserves positions (and blocks)
/// after a generating sequence's last token; `propose` fills them with proposed tokens; the
/// forward pass computes the last token and the proposals together, with a logits row for
/// each; `verify` walks the rows in order, sampling each exactly as a plain step would, and
/// keeps proposals while they equal what was sampled.
///
/// Why this is exact: row i is the target's distribution given the sequence plus proposals
/// 0..<i, which equals the sequence plus the tokens emitted so far as long as every earlier
/// proposal matched. Each row goes through the same path as a plain step (bias, penalties
/// with the counts of the tokens emitted before it, the grammar mask of the state they led to,
/// temperature, top-k/top-p/min-p, one draw of the request's random stream), so the emitted
/// tokens are the ones a plain run would emit, draw for draw: the same at temperature 0, and
/// with a seed the same at any temperature. For a proposal that is a single token (a point
/// mass), "sample t from the target; accept the proposal x if t = x" is rejection sampling:
/// x is accepted with probability p(x), and a rejection leaves t drawn from p without x,
/// renormalised. (Draft-model proposals at temperature > 0 have a distribution of their own;
/// they go through `verifySampled` instead.)
extension Engine {
    /// Fills each speculating entry's proposals (at most the positions it reserved).
    func propose(_ plan: inout StepPlan) {
        guard plan.reservedSpeculation > 0 else { return }
        let s = configuration.speculation
        // A client's predicted output first. While the answer is off it, prompt lookup proposes
        // where the server looks up (a draft model's cache would have to catch the sequence up).
        let lookupFallback = s.method == .ngram || (s.method == .draft && s.lookupFirst)
        for i in plan.entries.indices where plan.entries[i].speculate > 0 {
            let e = plan.entries[i], r = e.request
            guard r.prediction != nil else { continue }
            let p = r.prediction!.propose(output: r.tokens[r.promptCount...], maxCount: e.speculate)
            plan.entries[i].byLookup = true
            plan.entries[i].byPrediction = !p.isEmpty
            plan.entries[i].draft = !p.isEmpty || !lookupFallback ? p
                : PromptLookup.propose(r.tokens, maxCount: e.speculate, ngramMax: s.ngramMax, ngramMin: s.ngramMin)
        }
        switch s.method {
        case .off: return
        case .ngram:
            for i in plan.entries.indices where plan.entries[i].speculate > 0 && plan.entries[i].request.prediction == nil {
                let e = plan.entries[i]
                plan.entries[i].draft = PromptLookup.propose(e.request.tokens, maxCount: e.speculate,
                                                             ngramMax: s.ngramMax, ngramMin: s.ngramMin)
                plan.entries[i].byLookup = true
            }
        case .draft:
            if s.lookupFirst { proposeByLookupFirst(&plan) }
            proposeWithDraftModel(&plan)
        }
    }

    /// Prompt lookup's proposals where the sequence's last tokens occurred before and they
    /// promise at least the draft's tokens per step's time (by each one's acceptance for the
    /// sequence): they cost no draft pass. The others are left to the draft model.
    private func proposeByLookupFirst(_ plan: inout StepPlan) {
        let s = configuration.speculation
        let cost = scheduler.speculationCost
        let n = plan.entries.count
        for i in plan.entries.indices where plan.entries[i].speculate > 0 && plan.entries[i].request.prediction == nil {
            let e = plan.entries[i], c = e.request.speculationControl
            guard c.lookupCap > 0 else { continue }
            let p = PromptLookup.propose(e.request.tokens, maxCount: min(e.speculate, c.lookupCap),
                                         ngramMax: s.ngramMax, ngramMin: s.ngramMin)
            guard !p.isEmpty else { continue }
            if c.draftCap > 0 {
                let byLookup = cost.gain(acceptance: c.lookup.rate, depth: p.count, sequences: n, drafted: false)
                let byDraft = cost.gain(acceptance: c.draft.rate(at: e.request.generated), depth: min(e.speculate, c.draftCap),
                                        sequences: n, drafted: true)
                guard byLookup >= byDraft else { continue }
            }
            plan.entries[i].draft = p
            plan.entries[i].byLookup = true
        }
    }

    /// Verifies an entry's proposals against its logits rows (firstRow..< firstRow + 1 + proposals),
    /// emits the tokens that stand, and rolls the rest back.
    func verify(_ e: StepPlan.Entry, logits all: UnsafeMutableBufferPointer<Float>, firstRow: Int,
                into outputs: inout [EngineOutput]) {
        let r = e.request, v = model.vocabSize, d = e.draft.count
        if usesDraftDistribution(r) && !e.byLookup {
            return verifySampled(e, logits: all, firstRow: firstRow, into: &outputs)
        }
        var accepted = 0, goesOn = true
        r.speculation.proposed += d
        if e.byPrediction { r.speculation.predictionProposed += d }
        for i in 0...d {
            let row = UnsafeMutableBufferPointer(rebasing: all[((firstRow + i) * v)..<((firstRow + i + 1) * v)])
            let (token, confidence) = sampleNext(r, row: row)
            let matched = i < d && token == e.draft[i]
            // Counted before `emit`, which may end the request with this token: its finish event
            // carries the counts.
            if matched { accepted += 1; r.speculation.accepted += 1 }
            goesOn = emit(r, token, confidence: confidence, predicted: matched && e.byPrediction, into: &outputs)
            if !matched || !goesOn { break }
        }
        finishVerification(r, proposed: d, accepted: accepted, goesOn: goesOn, byLookup: e.byLookup, byPrediction: e.byPrediction)
    }

    /// Counts a verification, adapts the sequence's depth and acceptance, and rolls its cache
    /// back to what stands.
    func finishVerification(_ r: Request, proposed: Int, accepted: Int, goesOn: Bool, byLookup: Bool, byPrediction: Bool = false) {
        stats.speculativeProposed += proposed
        stats.speculativeAccepted += accepted
        stats.speculativeVerifications += 1
        if byPrediction {
            stats.speculativePredictionProposed += proposed
            stats.speculativePredictionAccepted += accepted
            r.speculationControl.lookup.record(proposed: proposed, accepted: accepted)
        } else if byLookup {
            stats.speculativeLookupProposed += proposed
            stats.speculativeLookupAccepted += accepted
            // Lookup's acceptance is the text's (a passage being copied or not): no drift back.
            r.speculationControl.lookup.record(proposed: proposed, accepted: accepted)
        } else {
            r.speculationControl.draft.record(proposed: proposed, accepted: accepted, at: r.generated)
        }
        let s = configuration.speculation
        r.speculationDepth = s.nextDepth(current: r.speculationDepth ?? s.initialDepth, proposed: proposed, accepted: accepted)
        if goesOn { scheduler.didVerify(r, accepted: accepted) }
    }
}
