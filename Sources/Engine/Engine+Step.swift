import Dispatch
import Kernels
import Model

extension Engine {
    /// One step: the scheduler's plan, one forward pass over it, sampling, and the
    /// token-id outputs it produces (added to `outputs`). False if there was nothing to run.
    @discardableResult
    func step(into outputs: inout [EngineOutput]) -> Bool {
        var plan = scheduler.schedule()
        guard !plan.isEmpty else { return false }
        if plan.entries.contains(where: \.isFirst) { publish() }
        for e in plan.entries {
            guard let scores = e.request.reusedPromptLogprobs else { continue }
            e.request.reusedPromptLogprobs = nil
            outputs.append(EngineOutput(sink: e.request.sink, event: .promptLogprobs(scores)))
        }
        // Proposals ride after each speculating entry's last token, in the same pass.
        propose(&plan)
        let batch = plan.entries.map { e in
            BatchSequence(tokens: Array(e.request.tokens[e.start..<e.end]) + e.draft, startPosition: e.start,
                          blockTable: e.request.blocks, localRing: e.request.ring, logits: e.logits,
                          adapters: e.request.request.adapters)
        }
        stats.steps += 1
        stats.lastBatchTokens = plan.tokenCount
        if let o = observer {
            o.engineDidStep(batchTokens: stats.lastBatchTokens, sequences: batch.count)
            let now = DispatchTime.now().uptimeNanoseconds
            for e in plan.entries where e.isFirst {
                o.requestDidStart(queueSeconds: Double(now &- e.request.submittedAt) / 1e9)
            }
        }
        // The step's logits go into the array the last step used (its pages already touched), but
        // one larger than `keptLogitsBytes` (a prompt's logprobs over many tokens) is not kept after it.
        var logits = stepLogits
        stepLogits = []
        defer { if logits.capacity * MemoryLayout<Float>.stride <= Self.keptLogitsBytes { stepLogits = logits } }
        let pendingMasks = startMasks(plan)
        let t0 = DispatchTime.now().uptimeNanoseconds
        do {
            try model.forward(batch, cache: cache, into: &logits)
        } catch {
            let seconds = Double(DispatchTime.now().uptimeNanoseconds &- t0) / 1e9
            stats.forwardSeconds += seconds
            observer?.engineDidFinishStep(StepTiming(tokens: stats.lastBatchTokens, sequences: batch.count, promptTokens: 0, seconds: seconds,
                                                     predictedSeconds: scheduler.pace.predicted(tokens: stats.lastBatchTokens), failed: true))
            collectMasks(pendingMasks)
            readyMasks.removeAll()
            for e in plan.entries { finish(e.request, .error("\(error)"), into: &outputs) }
            return true
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds &- t0) / 1e9
        collectMasks(pendingMasks)
        stats.forwardSeconds += seconds
        let predicted = scheduler.pace.predicted(tokens: stats.lastBatchTokens)
        scheduler.pace.record(tokens: stats.lastBatchTokens, seconds: seconds)
        scheduler.speculationCost.recordTarget(tokens: stats.lastBatchTokens, seconds: seconds)
        var promptTokens = 0
        for e in plan.entries where e.start < e.request.promptCount {
            promptTokens += min(e.count, e.request.promptCount - e.start)
        }
        stats.promptTokens += promptTokens
        // Generating sequences alone, no proposals: the gap they see between bursts.
        if promptTokens == 0 && stats.lastBatchTokens == batch.count {
            scheduler.pace.recordDecode(sequences: batch.count, seconds: seconds)
        }
        observer?.engineDidFinishStep(StepTiming(tokens: stats.lastBatchTokens, sequences: batch.count, promptTokens: promptTokens,
                                                 seconds: seconds, predictedSeconds: predicted))
        scheduler.didCompute(plan)
        let v = model.vocabSize
        // Sampling works on the step's own logits, row by row, without copying them.
        logits.withUnsafeMutableBufferPointer { all in
            var row = 0
            for e in plan.entries {
                let r = e.request
                switch e.logits {
                case .none: continue
                case .all where !e.draft.isEmpty:
                    verify(e, logits: all, firstRow: row, into: &outputs)
                    row += e.computedCount
                case .all:
                    collectPromptLogprobs(r, logits: UnsafeBufferPointer(all), firstRow: row, start: e.start, count: e.count,
                                          into: &outputs)
                    row += e.count
                    if r.computed == r.tokens.count {
                        answer(r, row: UnsafeMutableBufferPointer(rebasing: all[((row - 1) * v)..<(row * v)]), into: &outputs)
                    }
                case .last:
                    let goesOn = answer(r, row: UnsafeMutableBufferPointer(rebasing: all[(row * v)..<((row + 1) * v)]),
                                        into: &outputs)
                    row += 1
                    // Positions were reserved but nothing was proposed: give the blocks back.
                    if e.speculate > 0 && goesOn { scheduler.didVerify(r, accepted: 0) }
                }
            }
        }
        return true
    }

    private func collectPromptLogprobs(_ r: Request, logits: UnsafeBufferPointer<Float>, firstRow: Int, start: Int, count: Int,
                                       into outputs: inout [EngineOutput]) {
        let v = model.vocabSize
        let k = r.request.promptLogprobs ?? 0
        if start == 0 { r.promptLogprobs = [nil] }
        for j in 0..<count {
            let pos = start + j + 1  // the prompt token this row predicts
            guard pos < r.promptCount else { break }
            let rowPtr = UnsafeBufferPointer(rebasing: logits[((firstRow + j) * v)..<((firstRow + j + 1) * v)])
            let (chosen, top) = Sampler.logprobs(rowPtr, chosen: r.tokens[pos], top: k)
            r.promptLogprobs.append(TokenLogprob(token: r.tokens[pos], logprob: chosen,
                                                 top: top.map { TokenAlternative(token: $0.0, logprob: $0.1) }))
        }
        if r.computed >= r.promptCount {
            r.promptLogprobsSent = true
            r.request.promptLogprobsShare?.scores = r.promptLogprobs
            outputs.append(EngineOutput(sink: r.sink, event: .promptLogprobs(r.promptLogprobs)))
            r.promptLogprobs = []
        }
    }

    /// `emitNext`, or the end of a request that asked for no token (`max_tokens: 0`: a prompt
    /// scored, its log-probabilities sent) once its prompt is computed; false when it ended.
    @discardableResult
    private func answer(_ r: Request, row: UnsafeMutableBufferPointer<Float>, into outputs: inout [EngineOutput]) -> Bool {
        guard r.request.maxTokens > 0 else {
            finish(r, .length, into: &outputs)
            return false
        }
        return emitNext(r, row: row, into: &outputs).goesOn
    }

    /// Samples the token after `r`'s last one from its logits row (changed in place), and reports
    /// it; `goesOn` is false when the request finished with it.
    @discardableResult
    func emitNext(_ r: Request, row: UnsafeMutableBufferPointer<Float>, into outputs: inout [EngineOutput])
        -> (token: Int32, goesOn: Bool) {
        let (token, confidence) = sampleNext(r, row: row)
        return (token, emit(r, token, confidence: confidence, into: &outputs))
    }

    /// The sampling half of `emitNext`, for verification, which looks at the token before `emit`
    /// reports it. Leaves the model's row in `rawRow` when log-probabilities are wanted.
    func sampleNext(_ r: Request, row: UnsafeMutableBufferPointer<Float>) -> (Int32, TokenConfidence?) {
        if r.request.logprobs != nil {
            // Log-probabilities are of the model's distribution, before sampling changes the row.
            if rawRow.count != row.count { rawRow = [Float](repeating: 0, count: row.count) }
            rawRow.withUnsafeMutableBufferPointer { raw in raw.baseAddress!.update(from: row.baseAddress!, count: row.count) }
        }
        if let picked = greedyGrammarPick(r, row: row) { return picked }
        applyGrammar(r, row: row)
        return sampleMeasuring(r, row: row)
    }

    /// Reports `token` as `r`'s next one and ends the request when it must; false when it ended.
    /// `rawRow` holds the model's logits for it when log-probabilities are wanted.
    func emit(_ r: Request, _ token: Int32, confidence: TokenConfidence?, predicted: Bool = false,
              into outputs: inout [EngineOutput]) -> Bool {
        var info: TokenLogprob?
        if let k = r.request.logprobs {
            let (chosen, top) = rawRow.withUnsafeBufferPointer { Sampler.logprobs($0, chosen: token, top: k) }
            info = TokenLogprob(token: token, logprob: chosen, top: top.map { TokenAlternative(token: $0.0, logprob: $0.1) })
        }
        r.sampler.accept(token)
        r.generated += 1
        stats.generatedTokens += 1
        let isStop = !r.request.ignoreEOS && endOfGeneration.contains(token) || r.request.stopTokenIDs.contains(token)
        if isStop { finish(r, .stop, into: &outputs); return false }
        scheduler.append(token, to: r)
        outputs.append(EngineOutput(sink: r.sink, event: .token(token, info, confidence, predicted: predicted)))
        if grammarEnds(r, after: token) { finish(r, .stop, into: &outputs); return false }
        if r.generated >= r.request.maxTokens || r.tokens.count >= contextLength {
            finish(r, .length, into: &outputs)
            return false
        }
        return true
    }
}
