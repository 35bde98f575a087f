import Dispatch
import Kernels
import Model

extension Engine {
    /// One scheduling step and forward pass.
    func step() {
        let plan = schedule()
        guard !plan.isEmpty else { return }
        let batch = plan.map { s, n -> BatchSequence in
            let end = s.computed + n
            let logits: BatchSequence.Logits = s.wantsPromptLogprobs ? .all : (end == s.tokens.count ? .last : .none)
            return BatchSequence(tokens: Array(s.tokens[s.computed..<end]), startPosition: s.computed,
                                 blockTable: s.blocks, logits: logits)
        }
        stats.steps += 1
        stats.lastBatchTokens = batch.reduce(0) { $0 + $1.tokens.count }
        if let o = observer {
            o.engineDidStep(batchTokens: stats.lastBatchTokens, sequences: batch.count)
            let now = DispatchTime.now().uptimeNanoseconds
            for (s, _) in plan where !s.started {
                o.requestDidStart(queueSeconds: Double(now &- s.submittedAt) / 1e9)
            }
        }
        for (s, _) in plan { s.started = true }
        let logits: [Float]
        let t0 = DispatchTime.now().uptimeNanoseconds
        do {
            logits = try model.forward(batch, cache: cache)
            pace.record(tokens: stats.lastBatchTokens, seconds: Double(DispatchTime.now().uptimeNanoseconds &- t0) / 1e9)
        } catch {
            for (s, _) in plan { finish(s, .error("\(error)")) }
            return
        }
        let v = model.vocabSize
        var row = 0
        for ((s, n), b) in zip(plan, batch) {
            if s.computed < s.promptCount { stats.promptTokens += min(n, s.promptCount - s.computed) }
            let start = s.computed
            s.computed += n
            registerFullBlocks(s)
            switch b.logits {
            case .none: continue
            case .all:
                collectPromptLogprobs(s, logits: logits, firstRow: row, start: start, count: n)
                row += n
                if s.computed == s.tokens.count { emitNext(s, logits: logits, row: row - 1, vocab: v) }
            case .last:
                emitNext(s, logits: logits, row: row, vocab: v)
                row += 1
            }
        }
    }

    /// Picks this step's work: running sequences first (oldest first), then waiting
    /// ones in arrival order while the token budget, sequence limit and blocks allow.
    func schedule() -> [(Sequence, Int)] {
        var budget = configuration.maxBatchTokens
        if configuration.stepTargetSeconds > 0, running.contains(where: { $0.computed >= $0.promptCount }) {
            budget = pace.tokens(within: configuration.stepTargetSeconds, limit: budget)
        }
        var plan: [(Sequence, Int)] = []
        var i = 0
        while i < running.count && budget > 0 {
            let s = running[i]
            let n = min(s.tokens.count - s.computed, budget)
            if n <= 0 { i += 1; continue }
            if ensureBlocks(s, upTo: s.computed + n, preemptingFor: true) {
                plan.append((s, n))
                budget -= n
                i += 1
            } else if running.firstIndex(where: { $0 === s }) == nil {
                continue  // s itself was preempted; the next one is now at index i
            }
        }
        while budget > 0, running.count < configuration.maxSequences, let s = waiting.first {
            if let g = s.request.shareGroup, blocks.prefixCaching, s.computed == 0,
               running.contains(where: { $0.request.shareGroup == g && $0.computed < $0.promptCount }) {
                break  // a sibling is computing the shared prompt; wait to reuse its blocks
            }
            if s.computed == 0 && s.blocks.isEmpty && !s.wantsPromptLogprobs {
                // Leave at least one token to compute so the step yields logits.
                let (hit, hashes) = blocks.lookup(s.tokens, maxBlocks: (s.tokens.count - 1) / blocks.blockSize)
                stats.prefixQueries += s.tokens.count / blocks.blockSize
                stats.prefixHits += hit.count
                s.blocks = hit
                s.hashes = hashes
                s.computed = hit.count * blocks.blockSize
                if s.generated == 0 { s.cachedTokens = s.computed }
            }
            let n = min(s.tokens.count - s.computed, budget)
            guard ensureBlocks(s, upTo: s.computed + n, preemptingFor: false) else {
                // Not enough free blocks: give back the prefix hits and wait (FCFS, no skipping).
                blocks.releaseAll(s.blocks)
                s.blocks = []
                s.hashes = []
                s.computed = 0
                break
            }
            waiting.removeFirst()
            running.append(s)
            plan.append((s, n))
            budget -= n
        }
        return plan
    }

    /// Gives `s` blocks for positions < `end`. A running sequence may preempt the
    /// newest running ones (possibly itself); a waiting one never preempts.
    func ensureBlocks(_ s: Sequence, upTo end: Int, preemptingFor running: Bool) -> Bool {
        let needed = (end + blocks.blockSize - 1) / blocks.blockSize
        while s.blocks.count < needed {
            if let b = blocks.allocate() { s.blocks.append(b); continue }
            guard running, let victim = self.running.last else { return false }
            preempt(victim)
            if victim === s { return false }
        }
        return true
    }

    /// Frees a running sequence's blocks and queues it to be recomputed later,
    /// in its arrival order; its output so far is kept.
    func preempt(_ s: Sequence) {
        stats.preemptions += 1
        blocks.releaseAll(s.blocks)
        s.blocks = []
        s.hashes = []
        s.computed = 0
        running.removeAll { $0 === s }
        let at = waiting.firstIndex { $0.arrival > s.arrival } ?? waiting.count
        waiting.insert(s, at: at)
    }

    func registerFullBlocks(_ s: Sequence) {
        let bs = blocks.blockSize
        while (s.hashes.count + 1) * bs <= s.computed && s.hashes.count < s.blocks.count {
            let k = s.hashes.count
            let h = blocks.register(s.blocks[k], parent: s.hashes.last ?? 0, tokens: s.tokens[(k * bs)..<((k + 1) * bs)])
            s.hashes.append(h)
        }
    }

    private func collectPromptLogprobs(_ s: Sequence, logits: [Float], firstRow: Int, start: Int, count: Int) {
        let v = model.vocabSize
        let k = s.request.promptLogprobs ?? 0
        if start == 0 { s.promptLogprobs = [nil] }
        logits.withUnsafeBufferPointer { lp in
            for j in 0..<count {
                let pos = start + j + 1  // the prompt token this row predicts
                guard pos < s.promptCount else { break }
                let rowPtr = UnsafeBufferPointer(rebasing: lp[((firstRow + j) * v)..<((firstRow + j + 1) * v)])
                let (lpv, top) = Sampler.logprobs(rowPtr, chosen: s.tokens[pos], top: k)
                s.promptLogprobs.append(TokenLogprob(token: s.tokens[pos], logprob: lpv,
                                                     top: top.map { TokenAlternative(token: $0.0, logprob: $0.1) }))
            }
        }
        if s.computed >= s.promptCount {
            s.promptLogprobsSent = true
            s.sink(.promptLogprobs(s.promptLogprobs))
            s.promptLogprobs = []
        }
    }

    /// Samples the token after `s`'s last one from logits row `row`, and reports it.
    private func emitNext(_ s: Sequence, logits: [Float], row: Int, vocab v: Int) {
        var rowLogits = Array(logits[(row * v)..<((row + 1) * v)])
        var info: TokenLogprob?
        let tok: Int32 = rowLogits.withUnsafeMutableBufferPointer { buf in
            // Log-probabilities are of the model's distribution, before sampling changes.
            let raw = s.request.logprobs.map { k in (k, Array(buf)) }
            let t = s.sampler.sample(buf)
            if let (k, r) = raw {
                let (lpv, top) = r.withUnsafeBufferPointer { Sampler.logprobs($0, chosen: t, top: k) }
                info = TokenLogprob(token: t, logprob: lpv, top: top.map { TokenAlternative(token: $0.0, logprob: $0.1) })
            }
            return t
        }
        s.sampler.accept(tok)
        s.generated += 1
        stats.generatedTokens += 1
        let isStop = !s.request.ignoreEOS && endOfGeneration.contains(tok) || s.request.stopTokenIDs.contains(tok)
        if isStop { finish(s, .stop); return }
        s.tokens.append(tok)
        s.sink(.token(tok, info))
        if s.generated >= s.request.maxTokens || s.tokens.count >= contextLength {
            finish(s, .length)
        }
    }
}
