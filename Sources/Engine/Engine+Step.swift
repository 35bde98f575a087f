import Dispatch
import Kernels
import Model

extension Engine {
    /// One step: the scheduler's plan, one forward pass over it, sampling, and the
    /// token-id outputs it produces (added to `outputs`). False if there was nothing to run.
    @discardableResult
    func step(into outputs: inout [EngineOutput]) -> Bool {
        let plan = scheduler.schedule()
        guard !plan.isEmpty else { return false }
        let batch = plan.entries.map { e in
            BatchSequence(tokens: Array(e.request.tokens[e.start..<e.end]), startPosition: e.start,
                          blockTable: e.request.blocks, localRing: e.request.ring, logits: e.logits)
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
        var logits: [Float]
        let t0 = DispatchTime.now().uptimeNanoseconds
        do {
            logits = try model.forward(batch, cache: cache)
        } catch {
            stats.forwardSeconds += Double(DispatchTime.now().uptimeNanoseconds &- t0) / 1e9
            for e in plan.entries { finish(e.request, .error("\(error)"), into: &outputs) }
            return true
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds &- t0) / 1e9
        stats.forwardSeconds += seconds
        scheduler.pace.record(tokens: stats.lastBatchTokens, seconds: seconds)
        for e in plan.entries where e.start < e.request.promptCount {
            stats.promptTokens += min(e.count, e.request.promptCount - e.start)
        }
        scheduler.didCompute(plan)
        let v = model.vocabSize
        // Sampling works on the step's own logits, row by row, without copying them.
        logits.withUnsafeMutableBufferPointer { all in
            var row = 0
            for e in plan.entries {
                let r = e.request
                switch e.logits {
                case .none: continue
                case .all:
                    collectPromptLogprobs(r, logits: UnsafeBufferPointer(all), firstRow: row, start: e.start, count: e.count,
                                          into: &outputs)
                    row += e.count
                    if r.computed == r.tokens.count {
                        emitNext(r, row: UnsafeMutableBufferPointer(rebasing: all[((row - 1) * v)..<(row * v)]), into: &outputs)
                    }
                case .last:
                    emitNext(r, row: UnsafeMutableBufferPointer(rebasing: all[(row * v)..<((row + 1) * v)]), into: &outputs)
                    row += 1
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
            outputs.append(EngineOutput(sink: r.sink, event: .promptLogprobs(r.promptLogprobs)))
            r.promptLogprobs = []
        }
    }

    /// Samples the token after `r`'s last one from its logits row (changed in place), and reports it.
    private func emitNext(_ r: Request, row: UnsafeMutableBufferPointer<Float>, into outputs: inout [EngineOutput]) {
        var info: TokenLogprob?
        let k = r.request.logprobs
        if k != nil {
            // Log-probabilities are of the model's distribution, before sampling changes the row.
            if rawRow.count != row.count { rawRow = [Float](repeating: 0, count: row.count) }
            rawRow.withUnsafeMutableBufferPointer { raw in raw.baseAddress!.update(from: row.baseAddress!, count: row.count) }
        }
        applyGrammar(r, row: row)
        let (token, confidence) = sampleMeasuring(r, row: row)
        if let k {
            let (chosen, top) = rawRow.withUnsafeBufferPointer { Sampler.logprobs($0, chosen: token, top: k) }
            info = TokenLogprob(token: token, logprob: chosen, top: top.map { TokenAlternative(token: $0.0, logprob: $0.1) })
        }
        r.sampler.accept(token)
        r.generated += 1
        stats.generatedTokens += 1
        let isStop = !r.request.ignoreEOS && endOfGeneration.contains(token) || r.request.stopTokenIDs.contains(token)
        if isStop { finish(r, .stop, into: &outputs); return }
        scheduler.append(token, to: r)
        outputs.append(EngineOutput(sink: r.sink, event: .token(token, info, confidence)))
        if grammarEnds(r, after: token) { finish(r, .stop, into: &outputs); return }
        if r.generated >= r.request.maxTokens || r.tokens.count >= contextLength {
            finish(r, .length, into: &outputs)
        }
    }
}
