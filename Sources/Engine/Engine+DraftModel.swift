import Dispatch
import Grammar
import Model

/// Draft-model speculation. The draft keeps keys and values for each sequence in its own cache,
/// at the same blocks and slots as the target's (the scheduler's blocks serve both), and
/// `Request.draftComputed` says how far they are valid: it starts at 0 on every admission (a
/// prefix-cache hit shares the target's blocks, whose draft entries may be another sequence's
/// leftovers, so the draft recomputes them: same tokens, same values) and is cut back with the
/// target's rollback. Each step, before the target's pass: one draft pass catches every
/// speculating sequence up to its last token and proposes a first token, then one pass per
/// further proposal, all sequences together.
extension Engine {
    /// Draft positions a sequence catches up per step at most: a long prompt is drafted over
    /// several steps (proposing nothing meanwhile) rather than stalling one step.
    static let draftCatchUpChunk = 512

    func proposeWithDraftModel(_ plan: inout StepPlan) {
        guard let draft, let draftCache else { return }
        draftDistributions.removeAll(keepingCapacity: true)
        let v = draft.vocabSize
        // Entries that propose this step, and the proposals' first round: catch up and draft one.
        var active: [Int] = []
        var batch: [BatchSequence] = []
        var proposing: [Bool] = []
        // Up to the depth the draft pays for (prompt lookup may pay where it does not).
        func limit(_ e: StepPlan.Entry) -> Int { min(e.speculate, e.request.speculationControl.draftCap) }
        let minProbability = configuration.speculation.draftMinProbability
        // A constrained sequence's grammar state after its proposals so far (the draft's rows are
        // masked as the target's will be).
        var grammars: [Int: GrammarMatcher] = [:]
        // A draft scoring part of the vocabulary scores each sequence's own tokens too.
        let smaller = draft.logitRows < v
        var own: [Int: Request.DraftVocabulary] = [:]
        for i in plan.entries.indices where limit(plan.entries[i]) > 0 && !plan.entries[i].byLookup {
            let r = plan.entries[i].request
            let end = min(r.tokens.count, r.draftComputed + Self.draftCatchUpChunk)
            let reaches = end == r.tokens.count
            active.append(i)
            proposing.append(reaches)
            var seq = BatchSequence(tokens: Array(r.tokens[r.draftComputed..<end]), startPosition: r.draftComputed,
                                    blockTable: r.blocks, logits: reaches ? .last : .none)
            if smaller && reaches {
                let vocabulary = r.draftVocabulary(first: draft.logitRows, common: configuration.speculation.draftCommonRows,
                                                   always: configuration.speculation.draftAlwaysScored)
                own[i] = vocabulary
                seq.score(vocabulary)
            }
            batch.append(seq)
        }
        // The draft's passes write into one array kept across steps, as the target's (Engine.stepLogits).
        defer { if draftLogits.capacity * MemoryLayout<Float>.stride > Self.keptLogitsBytes { draftLogits = [] } }
        while !batch.isEmpty {
            let t0 = DispatchTime.now().uptimeNanoseconds
            do { try draft.forward(batch, cache: draftCache, into: &draftLogits) } catch {
                // A failed draft pass only loses proposals; the target's pass goes on.
                for i in active { plan.entries[i].draft = [] }
                draftDistributions.removeAll()
                return
            }
            scheduler.speculationCost.recordDraft(tokens: batch.reduce(0) { $0 + $1.tokens.count },
                                                  seconds: Double(DispatchTime.now().uptimeNanoseconds &- t0) / 1e9)
            var next: [Int] = [], nextBatch: [BatchSequence] = [], nextProposing: [Bool] = []
            var row = 0
            for (j, i) in active.enumerated() {
                let r = plan.entries[i].request
                r.draftComputed = batch[j].startPosition + batch[j].tokens.count
                guard proposing[j] else { continue }
                let position = r.tokens.count + plan.entries[i].draft.count
                let first = plan.entries[i].draft.isEmpty
                if first { grammars[i] = r.matcher }
                var sure = true, goesOn = true
                let proposed = draftLogits.withUnsafeMutableBufferPointer { all -> Int32? in
                    // Each row is read once: bias, penalties and mask go into it in place (no copy).
                    let buffer = UnsafeMutableBufferPointer(rebasing: all[(row * v)..<((row + 1) * v)])
                    let token: Int32?
                    (token, goesOn) = proposeToken(r, logits: buffer, position: position, first: first, grammar: &grammars[i])
                    if let token, minProbability > 0 && proposesArgmax(r) {
                        sure = TokenConfidence.measure(UnsafeBufferPointer(buffer), chosen: token, temperature: 1).probability
                            >= minProbability
                    }
                    return token
                }
                row += 1
                guard let token = proposed else { continue }
                plan.entries[i].draft.append(token)
                if sure && goesOn && plan.entries[i].draft.count < limit(plan.entries[i]) {
                    next.append(i)
                    nextProposing.append(true)
                    var seq = BatchSequence(tokens: [token], startPosition: r.draftComputed, blockTable: r.blocks, logits: .last)
                    if let vocabulary = own[i] { seq.score(vocabulary) }
                    nextBatch.append(seq)
                }
            }
            active = next
            batch = nextBatch
            proposing = nextProposing
        }
    }

    /// One proposal from the draft's logits, which get what the target's row will get before
    /// its token is chosen: bias and penalties (counted over the tokens so far and the
    /// proposals before this one) and the grammar's mask at the proposal's place. Its argmax
    /// for greedy requests; for a seeded request at temperature > 0, the draft's keyed draw
    /// with the target's noise (Sampler+Keyed: the target keeps it when its own keyed draw is
    /// the same token); otherwise a draw from the draft's distribution under the request's
    /// sampling parameters, with the draft's own random stream, keeping the distribution for
    /// verification. `goesOn` is false when nothing should be proposed after this token (the
    /// grammar refused it, is complete, or it ends the generation). No token when the draft's
    /// row has none left (a draft scoring part of the vocabulary, none of it the grammar allows).
    func proposeToken(_ r: Request, logits: UnsafeMutableBufferPointer<Float>, position: Int, first: Bool,
                      grammar: inout GrammarMatcher?) -> (token: Int32?, goesOn: Bool) {
        let keyed = !proposesArgmax(r) && r.sampler.parameters.seed != nil && keysSeededDraws
        if r.draftSampler == nil {
            var p = r.sampler.parameters
            // Keyed: the same seed, so the same noise as the target's draw; else reproducible, yet
            // not the target's stream.
            if !keyed { p.seed = p.seed.map { $0 ^ 0x5DEE_CE66_D1CE_4E5B } }
            r.draftSampler = Sampler(p)
        }
        if first && r.draftSampler!.hasPenalties { r.draftSampler!.takePenaltyCounts(of: r.sampler) }
        let token: Int32
        if keyed {
            grammar?.mask().apply(to: logits, endOfGeneration: endOfGeneration)
            token = r.draftSampler!.sample(logits, position: position)
            guard logits[Int(token)] > -.infinity else { return (nil, false) }
        } else if !usesDraftDistribution(r) {
            // As the target's greedy pick: the mask only when the best token is refused.
            r.draftSampler!.adjust(logits)
            token = grammar.map { g in bestAllowed(g, row: logits) { g.mask().apply(to: logits, endOfGeneration: endOfGeneration) }.token }
                ?? Int32(Sampler.argmax(logits))
            guard logits[Int(token)] > -.infinity else { return (nil, false) }
        } else {
            r.draftSampler!.adjust(logits)
            grammar?.mask().apply(to: logits, endOfGeneration: endOfGeneration)
            guard logits[Sampler.argmax(logits)] > -.infinity else { return (nil, false) }
            var q = [Float](repeating: 0, count: logits.count)
            q.withUnsafeMutableBufferPointer { r.draftSampler!.distribution(logits, into: $0) }
            token = q.withUnsafeBufferPointer { r.draftSampler!.draw(from: $0) } ?? Int32(Sampler.argmax(logits))
            draftDistributions[ObjectIdentifier(r), default: []].append(q)
        }
        if r.draftSampler!.hasPenalties { r.draftSampler!.accept(token) }
        // Nothing after a token that ends the answer would be verified.
        let ends = !r.request.ignoreEOS && endOfGeneration.contains(token) || r.request.stopTokenIDs.contains(token)
        guard grammar != nil else { return (token, !ends) }
        if ends || endOfGeneration.contains(token) || !grammar!.accept(token: token) { return (token, false) }
        return (token, !grammar!.isComplete)
    }

    /// The draft proposes its own argmax (a greedy request, or top-k 1): the requests whose draft
    /// stops after an unsure token (`SpeculationConfiguration.draftMinProbability`).
    func proposesArgmax(_ r: Request) -> Bool {
        r.sampler.parameters.picksArgmax
    }

    /// Draft proposals of an unseeded sampled (temperature > 0) request are verified by rejection
    /// sampling, which accepts the most (1 - total variation between the two distributions). A
    /// seeded request's proposals are verified like greedy ones, keyed draw against keyed draw:
    /// fewer accepted (at least (1 - TV) / (1 + TV)), but the text is the seed's whatever the batch.
    func usesDraftDistribution(_ r: Request) -> Bool {
        let p = r.sampler.parameters
        return draft != nil && !p.isGreedy && p.topK != 1 && (p.seed == nil || !keysSeededDraws)
    }

    /// Speculative sampling (Leviathan et al., Chen et al.): at each position, with the target's
    /// distribution p (bias, penalties, grammar mask, temperature, min-p, top-k, top-p: the same
    /// path as a plain step) and the draft's q, the proposal x stands with probability
    /// min(1, p(x)/q(x)); else the token is drawn from max(0, p - q) renormalised, and the rest
    /// are dropped. After every proposal stands, one more token is drawn from p. Each emitted
    /// token then follows p exactly. Draws come from the request's own stream (the request has
    /// no seed: its sequence of draws depends on how many proposals each step made).
    func verifySampled(_ e: StepPlan.Entry, logits all: UnsafeMutableBufferPointer<Float>, firstRow: Int,
                       into outputs: inout [EngineOutput]) {
        let r = e.request, v = model.vocabSize, d = e.draft.count
        let qs = draftDistributions[ObjectIdentifier(r)] ?? []
        precondition(qs.count == d, "a sampled proposal keeps its distribution")
        var p = [Float](repeating: 0, count: v)
        var accepted = 0, goesOn = true
        r.speculation.proposed += d
        for i in 0...d {
            let row = UnsafeMutableBufferPointer(rebasing: all[((firstRow + i) * v)..<((firstRow + i + 1) * v)])
            if r.request.logprobs != nil {
                if rawRow.count != v { rawRow = [Float](repeating: 0, count: v) }
                rawRow.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: row.baseAddress!, count: v) }
            }
            r.sampler.adjust(row)
            applyGrammar(r, row: row)
            var confidence: TokenConfidence?
            if r.request.measureConfidence {
                if sampledRow.count != v { sampledRow = [Float](repeating: 0, count: v) }
                sampledRow.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: row.baseAddress!, count: v) }
            }
            p.withUnsafeMutableBufferPointer { r.sampler.distribution(row, into: $0) }
            var token: Int32
            var matched = false
            if i < d {
                let x = Int(e.draft[i]), q = qs[i]
                let ratio = q[x] > 0 ? Double(p[x]) / Double(q[x]) : 0
                if r.sampler.uniform() < ratio {
                    token = e.draft[i]
                    matched = true
                } else {
                    var residual = [Float](repeating: 0, count: v)
                    for t in 0..<v { residual[t] = max(0, p[t] - q[t]) }
                    token = residual.withUnsafeBufferPointer { r.sampler.draw(from: $0) }
                        ?? p.withUnsafeBufferPointer { r.sampler.draw(from: $0) } ?? e.draft[i]
                }
            } else {
                token = p.withUnsafeBufferPointer { r.sampler.draw(from: $0) } ?? Int32(Sampler.argmax(row))
            }
            if r.request.measureConfidence {
                let t = TokenConfidence.temperature(for: r.sampler.parameters)
                confidence = sampledRow.withUnsafeBufferPointer { TokenConfidence.measure($0, chosen: token, temperature: t) }
            }
            // Before `emit`, which may end the request: its finish event carries the counts.
            if matched { accepted += 1; r.speculation.accepted += 1 }
            goesOn = emit(r, token, confidence: confidence, into: &outputs)
            if !matched || !goesOn { break }
        }
        finishVerification(r, proposed: d, accepted: accepted, goesOn: goesOn, byLookup: false)
    }
}

extension BatchSequence {
    /// Scores what a draft's vocabulary for the sequence holds.
    mutating func score(_ v: Request.DraftVocabulary) {
        (alsoScored, scoresWholeVocabulary, scoredRows) = (v.own, v.whole, v.rows)
    }
}
