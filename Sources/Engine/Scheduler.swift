import Kernels

/// Decides each step's work, as vLLM v1's scheduler does: no prefill or decode phase,
/// just a token budget that running requests fill first (oldest first), then waiting
/// ones in arrival order. A long prompt is computed in chunks the budget allows.
///
/// A value with no threads and no model: the engine asks it for a plan, runs the
/// forward pass, and reports back (`didCompute`, `append`, `finish`). Invariants:
/// a waiting request holds no blocks; a running request holds blocks for every token
/// it has computed; FCFS: a waiting request never overtakes an earlier one.
///
/// Models with sliding-window layers get a second pool (`localBlocks`) for those layers: a
/// running request holds min(its blocks, `ringBlocks`) of it, used in turn as a ring, so
/// its sliding layers cost the same at any context length. Their prefix caching is off: a
/// cached prefix holds the global layers' keys and values only, and the ring no longer has
/// the sliding layers' ones for the early positions, so a hit would be served wrong.
///
/// A paused request (its client reads slowly) is skipped by every step and takes no budget,
/// but keeps its place and its blocks, so it resumes without recomputing. When blocks run
/// short, a paused request is preempted first: it loses nothing its client is waiting for.
/// A paused waiting request does not hold back later ones (the one exception to FCFS).
struct Scheduler {
    let maxBatchTokens: Int
    let maxSequences: Int
    /// See `EngineConfiguration.stepTargetSeconds`; 0: no limit but `maxBatchTokens`.
    let stepTargetSeconds: Double
    /// See `EngineConfiguration.shortPromptStepTargetSeconds`.
    let shortPromptStepTargetSeconds: Double
    /// Speculative decoding: who proposes, how deep, and the step size beyond which it stops.
    let speculation: SpeculationConfiguration
    /// Measured target and draft pass times, for the rule that turns a sequence's speculation off.
    var speculationCost = SpeculationCost()

    private(set) var waiting: [Request] = []
    private(set) var running: [Request] = []
    private(set) var blocks: BlockManager
    /// The sliding-window layers' pool, and each running request's share of it; nil and 0
    /// when the model has no sliding layers.
    private(set) var localBlocks: BlockManager?
    let ringBlocks: Int
    /// Step times so far, to cut prompt chunks to the step target. The engine records into it.
    var pace = StepPace()

    // Counters for metrics.
    private(set) var prefixQueries = 0   // full prompt blocks looked up, once per request
    private(set) var prefixHits = 0      // of which found cached
    private(set) var preemptions = 0
    /// Requests ended so far: a request preempted for blocks waits for the next end.
    private(set) var finishes = 0

    /// `slidingWindow`: the model's widest sliding window, nil when every layer is global.
    init(configuration c: EngineConfiguration, slidingWindow: Int? = nil) {
        precondition(c.maxBatchTokens > 0 && c.maxSequences > 0, "a step must be able to take one token")
        maxBatchTokens = c.maxBatchTokens
        maxSequences = c.maxSequences
        stepTargetSeconds = c.stepTargetSeconds
        shortPromptStepTargetSeconds = c.shortPromptStepTargetSeconds
        speculation = c.speculation
        blocks = BlockManager(blockSize: c.blockSize, blockCount: c.blockCount, prefixCaching: c.prefixCaching && slidingWindow == nil)
        if let w = slidingWindow {
            let sizes = Self.localPool(c, window: w)
            ringBlocks = sizes.ring
            localBlocks = BlockManager(blockSize: c.blockSize, blockCount: sizes.pool, prefixCaching: false)
        } else {
            ringBlocks = 0
        }
    }

    /// The sliding-window layers' pool for window `w`: each running request's ring and the pool's blocks.
    static func localPool(_ c: EngineConfiguration, window w: Int) -> (ring: Int, pool: Int) {
        // A chunk is at most maxBatchTokens; no sequence needs more than the context's blocks.
        let ring = min(KVCacheStorage.ringBlocks(window: w, maxChunk: c.maxBatchTokens, blockSize: c.blockSize), c.blockCount)
        // Enough for every sequence that may run; never fewer than one full ring.
        return (ring, min(c.blockCount, c.maxSequences * ring))
    }

    var isIdle: Bool { waiting.isEmpty && running.isEmpty }

    /// Queues a new request behind every earlier one.
    mutating func add(_ r: Request) {
        precondition(r.blocks.isEmpty && r.computed == 0, "a new request holds nothing")
        precondition(waiting.last.map { $0.arrival < r.arrival } ?? true, "requests arrive in order")
        waiting.append(r)
    }

    /// The request with this id, waiting or running.
    func request(id: String) -> Request? {
        running.first { $0.id == id } ?? waiting.first { $0.id == id }
    }

    /// Running requests generating now (not paused): each takes one token a step.
    var generatingCount: Int { running.reduce(0) { $0 + ($1.isGenerating && !$1.paused ? 1 : 0) } }

    /// Requests of `list` not paused.
    static func unpaused(_ list: [Request]) -> Int { list.reduce(0) { $0 + ($1.paused ? 0 : 1) } }

    /// Tokens this step may compute: the configured limit, cut to the step-time target while
    /// some request is generating (its inter-token gap is the step time), but never below one
    /// token for each generating sequence: the target cuts prompt chunks, not their tokens (a
    /// budget under their number left the newest without a token that step, so each waited
    /// several steps, every one a read of the weights).
    func tokenBudget() -> Int {
        let generating = generatingCount
        guard stepTargetSeconds > 0, generating > 0 else { return maxBatchTokens }
        return max(min(generating, maxBatchTokens), pace.tokens(within: stepTarget(), limit: maxBatchTokens))
    }

    /// The step-time target while some request generates: `stepTargetSeconds` while a prompt
    /// longer than a step is in progress or waiting (cut finer, its time to first token would grow
    /// by the weights' read of each extra step), else the short-prompt target.
    func stepTarget() -> Double {
        guard shortPromptStepTargetSeconds > 0 else { return stepTargetSeconds }
        // A long prompt stays long to its end: its last chunk at the short target would cost
        // extra steps, each a read of the weights (measured: the last 512 tokens of a 4,096-token
        // prompt took 17 steps of 0.15 s, ~1 s of its time to first token).
        let longPrompt = running.contains { !$0.isGenerating && $0.promptCount - $0.cachedTokens > maxBatchTokens }
            || waiting.contains { $0.tokens.count - $0.computed > maxBatchTokens }
        return longPrompt ? stepTargetSeconds : min(stepTargetSeconds, shortPromptTarget())
    }

    /// The short-prompt target, raised to twice the step the sequences will take once every
    /// short prompt has its first token (all running and waiting ones, up to maxSequences,
    /// waiting ones that cannot be admitted yet included; `StepPace.decodeStep`, at most twice
    /// the pace line's prediction for as many tokens, so one slow pass cannot set it), when
    /// that is longer: a burst's steps then cost those sequences at most about twice their
    /// usual gap, in fewer and larger steps, which waste less (a step's
    /// decode tokens each pay an output row; a burst cut fine leaves a long tail of small steps
    /// bound by the weights' read). Qwen 1.5B, 16 clients, 2 Zen 4 cores: the fixed 120 ms gave
    /// 59-62 tok/s, this rule (~170 ms steps) 64-66 with ITL p99/p50 1.13-1.16. Where decode steps
    /// are short it is the configured target (a Zen 5 took 45 ms for 16: 150 ms put p99/p50 over 3).
    func shortPromptTarget() -> Double {
        let sequences = Self.unpaused(running) + Self.unpaused(waiting)
        let n = min(sequences, maxSequences)
        guard let measured = pace.decodeStep(sequences: n) else { return shortPromptStepTargetSeconds }
        let step = pace.predicted(tokens: n).map { min(measured, 2 * $0) } ?? measured
        return max(shortPromptStepTargetSeconds, 2 * step)
    }

    /// Picks this step's work. Running requests each take all their remaining tokens or what
    /// the budget leaves; one whose blocks do not fit preempts the newest running request
    /// (possibly itself), which goes back to waiting. Then waiting requests are admitted in
    /// arrival order while the budget, the sequence limit and the free blocks allow; the first
    /// that does not fit stops admission (no request skips an earlier one).
    mutating func schedule() -> StepPlan {
        var budget = tokenBudget()
        var plan = StepPlan(tokenBudget: budget)
        var speculationLeft = speculationAllowance()
        let reserve = newcomerReserve(budget)
        // Generating requests not planned yet: a prompt in progress ahead of them (a short one
        // admitted beside a long prompt runs after it) leaves each its token.
        var owed = generatingCount
        var i = 0
        while i < running.count && budget > 0 {
            let r = running[i]
            if r.isGenerating && !r.paused { owed -= 1 }
            let n = min(r.tokens.count - r.computed, r.isGenerating ? budget : budget - reserve - owed)
            if n <= 0 || r.paused { i += 1; continue }
            // Proposals take blocks only when there are spare ones: never a preemption for them.
            var k = speculation(for: r, count: n, left: min(speculationLeft, budget - n))
            var got = allocate(blocks.blocks(for: r.computed + n + k) - r.blocks.count, sharing: [],
                               ringFor: r.computed + n + k, holding: r.ring.count)
            if got == nil && k > 0 {
                // As many as the blocks it holds have room for.
                k = max(0, min(k, r.blocks.count * blocks.blockSize - r.computed - n))
                got = allocate(blocks.blocks(for: r.computed + n + k) - r.blocks.count, sharing: [],
                               ringFor: r.computed + n + k, holding: r.ring.count)
            }
            if let got {
                r.blocks += got.fresh
                r.ring += got.ring
                plan.entries.append(.init(request: r, start: r.computed, count: n, isFirst: false, speculate: k))
                budget -= n + k
                speculationLeft -= k
                i += 1
            } else {
                // The newest paused request, else the newest running one: never one already
                // planned (paused ones are never planned; the newest is at or after index i).
                let v = running.lastIndex(where: \.paused) ?? running.count - 1
                let victim = running[v]
                preempt(victim)
                // Blocks ran short: taken back before another request ends, it would be preempted
                // again by the same growth, its tokens computed over and over.
                if !victim.paused { victim.preemptedAt = finishes }
                plan.preempted.append(victim)
                // A victim before i shifts r down; when the victim was r itself, index i now
                // names the next request (or the end).
                if v < i { i -= 1 }
            }
        }
        var j = 0
        while budget > 0, running.count < maxSequences, j < waiting.count {
            let r = waiting[j]
            if r.paused { j += 1; continue }
            if let g = r.request.shareGroup, blocks.prefixCaching,
               running.contains(where: { $0.request.shareGroup == g && !$0.isGenerating }) {
                break  // a sibling is computing the shared prompt; wait to reuse its blocks
            }
            // Preempted for blocks: back once a request has ended (or only paused ones run: they
            // give their blocks up below). FCFS: the requests after it wait too, the cache is full.
            if waitsForAnEnd(r) { break }
            // A sibling already scored the shared prompt: take its scores and its cached blocks.
            let reused = r.wantsPromptLogprobs ? r.request.promptLogprobsShare?.scores : nil
            // Leave at least one token to compute so the step yields logits.
            let queries = !r.wantsPromptLogprobs || reused != nil
            let hit = queries ? blocks.cachedPrefix(r.tokens, root: r.cacheRoot, maxBlocks: (r.tokens.count - 1) / blocks.blockSize)
                              : BlockManager.PrefixHit()
            let start = hit.blocks.count * blocks.blockSize
            let n = min(r.tokens.count - start, budget)
            let needed = blocks.blocks(for: start + n) - hit.blocks.count
            // Its whole prompt must fit now, not only this chunk: admitted on a first chunk, a long
            // prompt was preempted by the others' growth before its end, then admitted again
            // (measured: 358 preemptions and 6-26× the time for 6 prompts of 1,500 tokens
            // without prefix caching, as on Gemma 3, which recomputed them from the start).
            let fits = running.isEmpty
                || blocks.canAllocate(blocks.blocks(for: r.tokens.count) - hit.blocks.count, sharing: hit.blocks)
            // Not enough free blocks: nothing was taken, so nothing is undone. A paused request
            // gives its blocks up (it is recomputed when it resumes), when the paused ones hold
            // enough to let r in; else r waits (FCFS).
            guard fits, let got = allocate(needed, sharing: hit.blocks, ringFor: start + n, holding: 0) else {
                let whole = blocks.blocks(for: r.tokens.count) - hit.blocks.count
                let paused = running.reduce(0) { $0 + ($1.paused ? $1.blocks.count : 0) }
                guard blocks.freeCount + paused >= whole, let v = running.lastIndex(where: \.paused) else { break }
                let victim = running[v]
                preempt(victim)
                plan.preempted.append(victim)
                j = 0  // the victim joined the waiting queue; those before r are all paused
                continue
            }
            let isFirst = !r.admitted
            r.preemptedAt = nil
            if isFirst {
                // Counted at the first admission only: not again after a refusal, nor after preemption.
                if queries && blocks.prefixCaching {
                    prefixQueries += r.tokens.count / blocks.blockSize
                    prefixHits += hit.blocks.count
                }
                r.cachedTokens = start
                r.admitted = true
            }
            if let reused {
                r.promptLogprobsSent = true
                r.reusedPromptLogprobs = reused
            }
            r.blocks = hit.blocks + got.fresh
            r.ring = got.ring
            r.hashes = hit.hashes
            r.computed = start
            waiting.remove(at: j)
            running.append(r)
            plan.entries.append(.init(request: r, start: start, count: n, isFirst: isFirst))
            budget -= n
        }
        return plan
    }

    /// Tokens the prompts in progress leave to the first waiting request when its whole prompt
    /// fits in half the budget. Running requests come first, so a long prompt's chunks took every
    /// step's whole budget and a one-line request that arrived behind it waited for its last chunk
    /// (a 3,330-token prompt, 1.5B on 2 threads: 36 s to the first token); it now starts at the
    /// next step. A longer waiting prompt keeps first come, first served (sharing steps would delay
    /// the first one's first token), and none is reserved for a request that could not be admitted
    /// anyway (no free sequence or blocks, a sibling computing the shared prompt, waiting for an end).
    private func newcomerReserve(_ budget: Int) -> Int {
        guard running.count < maxSequences, running.contains(where: { !$0.isGenerating && !$0.paused }),
              let r = waiting.first(where: { !$0.paused }), !waitsForAnEnd(r),
              // With room for this step's chunks too: a reserve it then cannot use would halve
              // the long prompt's steps until its end.
              blocks.canAllocate(blocks.blocks(for: r.tokens.count) + blocks.blocks(for: budget) + running.count) else { return 0 }
        if let g = r.request.shareGroup, running.contains(where: { $0.request.shareGroup == g && !$0.isGenerating }) { return 0 }
        let left = r.tokens.count - r.computed
        return left <= budget / 2 ? left : 0
    }

    /// Preempted for blocks and no request ended since, while others (not all paused) run.
    private func waitsForAnEnd(_ r: Request) -> Bool {
        r.preemptedAt == finishes && running.contains { !$0.paused }
    }

    /// Proposed tokens the next step may verify in all: none once the step is large enough to
    /// be compute bound (SpeculationConfiguration.maxBatchTokens), counting the one token of each
    /// running sequence and any prompt chunk a waiting request would bring. A request with a
    /// predicted output speculates even when the server's method is off.
    func speculationAllowance() -> Int {
        // Sliding-window rings are sized for chunks of real tokens; those models do not speculate.
        guard localBlocks == nil, speculation.maxDepth > 0,
              speculation.isOn || running.contains(where: { $0.prediction != nil && !$0.paused }) else { return 0 }
        var base = 0
        for r in running where !r.paused { base += r.tokens.count - r.computed }
        // A prompt chunk comes (not while the first waiting request waits for another to end).
        if running.count < maxSequences, let head = waiting.first(where: { !$0.paused }), !waitsForAnEnd(head) { return 0 }
        return max(0, speculation.maxBatchTokens - base)
    }

    /// Proposals `r` may have this step: a generating sequence with one token to compute, up to
    /// its adaptive depth, what it may still emit (a step emits at most depth + 1 tokens) and
    /// what the step has `left`.
    private func speculation(for r: Request, count n: Int, left: Int) -> Int {
        guard left > 0, n == 1, r.tokens.count - r.computed == 1, r.isGenerating, r.request.speculative,
              !r.wantsPromptLogprobs, speculation.isOn || r.prediction != nil else { return 0 }
        let depth = r.speculationDepth ?? speculation.initialDepth
        let remaining = r.request.maxTokens - r.generated - 1
        return max(0, min(depth, speculationCap(r), remaining, left))
    }

    /// Whether speculating pays for `r` (SpeculationCost's rule, with its acceptance per proposer
    /// and the sequences generating now): when it does, the best depth at acceptance 1 (at most
    /// `maxDepth`; its adaptive depth then says how many), 0 when it does not. Off, it waits
    /// `probeInterval` generated tokens (twice as long after each failed probe, up to 8×) and
    /// proposes once more at the initial depth to measure its acceptance again. A proposer not
    /// yet verified for `r` is assumed to pay, but a draft far behind (more than
    /// `SpeculationCost.freeCatchUp` positions) first has to win its catch-up back at the
    /// acceptance it has (the prior's when unverified or probing). A draft's acceptance drifts
    /// back to the prior while it is not verified (`AcceptanceEstimate.rate(at:)`).
    private func speculationCap(_ r: Request) -> Int {
        var c = r.speculationControl
        defer { r.speculationControl = c }
        // A predicted output stands in for the draft model (prompt lookup proposes while the answer is
        // off it); both go by lookup's acceptance.
        let predicted = r.prediction != nil
        let usesDraft = speculation.method == .draft && !predicted
        let usesLookup = predicted || speculation.method == .ngram || (usesDraft && speculation.lookupFirst)
        let s = Self.unpaused(running)
        // No pass of as many tokens as sequences generating timed yet (once per size, for the
        // engine's life): the base of every ratio in the rule would be a guess from larger passes
        // and a prior slope (on an AVX2 machine a two-token pass took 1.7× a one-token one; the
        // prior says 1.16×, and the draft spent 10-20% of the output rate before the rule saw
        // it). One step without proposals times it; a probe that falls due waits for it too.
        guard speculationCost.timed(tokens: s) else { return 0 }
        // The draft's catch-up beyond a usual step's (its last token and the accepted ones, a
        // few more positions in the same pass): a prompt, or what was generated while it was
        // off, must pay for itself before it proposes, over what may still be emitted (at most
        // `expectedRemaining`: a chat without max_tokens gets the context's room, not filled).
        let lag = r.tokens.count - r.draftComputed - 1
        func draftCatchesUp(probe: Bool) -> Bool {
            !usesDraft || lag <= max(speculation.maxDepth, SpeculationCost.freeCatchUp)
                || speculationCost.catchUpPays(
                    lag: lag, remaining: min(r.request.maxTokens - r.generated - 1, SpeculationCost.expectedRemaining),
                    // A probe re-measures the acceptance: the prior's, not the last misses'.
                    acceptance: probe ? AcceptanceEstimate().rate : c.draft.rate(at: r.generated),
                    maxDepth: speculation.maxDepth, sequences: s)
        }
        // At most the best depth at acceptance 1: at any acceptance no deeper proposal beats it
        // (each further token brings at most what the ones before it did, at a dearer pass). On 2
        // AVX2 cores a 9-token pass took 1.35× an 8-token one (two groups of the prompt kernel),
        // and single-sequence steps proposing 8 were verified in it. At least 1: whether to
        // propose at all is the rule's (`pays`, a probe), not this cap's.
        func deepest(drafted: Bool) -> Int {
            max(1, speculationCost.bestDepth(acceptance: 1, maxDepth: speculation.maxDepth, sequences: s, drafted: drafted))
        }
        if let until = c.offUntil {
            guard r.generated >= until else { return 0 }
            let catchesUp = draftCatchesUp(probe: true)
            guard catchesUp || usesLookup else { return 0 }
            c.offUntil = nil
            c.probing = true
            c.draftCap = usesDraft && catchesUp ? deepest(drafted: true) : 0
            c.lookupCap = usesLookup ? deepest(drafted: false) : 0
            r.speculationDepth = speculation.initialDepth
            return max(c.draftCap, c.lookupCap)
        }
        func pays(_ a: AcceptanceEstimate, drafted: Bool) -> Bool {
            a.verifications == 0
                || speculationCost.bestDepth(acceptance: a.rate(at: r.generated), maxDepth: speculation.maxDepth,
                                             sequences: s, drafted: drafted) > 0
        }
        c.draftCap = usesDraft && pays(c.draft, drafted: true) && draftCatchesUp(probe: false) ? deepest(drafted: true) : 0
        c.lookupCap = usesLookup && pays(c.lookup, drafted: false) ? deepest(drafted: false) : 0
        let cap = max(c.draftCap, c.lookupCap)
        if cap == 0 {
            if c.probing { c.failedProbes += 1 }
            c.probing = false
            c.offUntil = r.generated + speculation.probeInterval << min(c.failedProbes, 3)
        } else if c.probing {
            c.probing = false
            c.failedProbes = 0
        }
        return cap
    }

    /// After the engine verified `r`'s proposals: the first `accepted` of them matched the
    /// target and joined the sequence (the engine appended them and the token after them), and
    /// their keys and values, computed this step, stand. The rejected positions are rolled back:
    /// `computed` stops before them (they are overwritten later, and only blocks wholly within
    /// `computed` enter the prefix cache), and blocks past `computed` return to the pool.
    mutating func didVerify(_ r: Request, accepted: Int) {
        precondition(r.computed + accepted < r.tokens.count, "an accepted proposal is followed by a token")
        r.computed += accepted
        r.draftComputed = min(r.draftComputed, r.computed)
        registerFullBlocks(r)
        let keep = blocks.blocks(for: r.computed)
        if r.blocks.count > keep {
            blocks.releaseAll(Array(r.blocks[keep...]))
            r.blocks.removeLast(r.blocks.count - keep)
        }
    }

    /// All or nothing, in both pools: `count` fresh blocks (and the shared ones of a prefix hit)
    /// and the ring blocks a sequence holding `held` of them needs to reach `end` tokens.
    private mutating func allocate(_ count: Int, sharing shared: [Int32], ringFor end: Int, holding held: Int)
        -> (fresh: [Int32], ring: [Int32])? {
        guard let fresh = blocks.allocate(max(count, 0), sharing: shared) else { return nil }
        guard localBlocks != nil else { return (fresh, []) }
        let ringNeeded = min(blocks.blocks(for: end), ringBlocks) - held
        guard let ring = localBlocks?.allocate(max(ringNeeded, 0)) else {
            blocks.releaseAll(shared + fresh)
            return nil
        }
        return (fresh, ring)
    }

    private mutating func release(_ r: Request) {
        blocks.releaseAll(r.blocks)
        localBlocks?.releaseAll(r.ring)
        r.blocks = []
        r.ring = []
        r.hashes = []
        r.draftComputed = 0
    }

    /// After the forward pass: the planned tokens are in the cache, and blocks that became
    /// full are offered to the prefix cache.
    mutating func didCompute(_ plan: StepPlan) {
        for e in plan.entries {
            precondition(e.request.computed == e.start, "a plan runs once, before the next is made")
            e.request.computed = e.end
            registerFullBlocks(e.request)
        }
    }

    /// Its client stopped reading: steps skip it until `resume`; it keeps its blocks.
    func pause(_ r: Request) { r.paused = true }

    func resume(_ r: Request) { r.paused = false }

    /// Some request can be scheduled now (one not paused). When every request is paused the
    /// engine waits for a message instead of planning empty steps.
    var hasUnpausedWork: Bool { running.contains { !$0.paused } || waiting.contains { !$0.paused } }

    /// A generated token joins the sequence; the next step computes it.
    func append(_ token: Int32, to r: Request) {
        r.tokens.append(token)
    }

    /// Removes a request, waiting or running, and frees its blocks.
    mutating func finish(_ r: Request) {
        finishes += 1
        release(r)
        running.removeAll { $0 === r }
        waiting.removeAll { $0 === r }
    }

    /// Frees a running request's blocks and queues it to be recomputed later, at its arrival
    /// position; its output so far is kept (the tokens to recompute include it).
    private mutating func preempt(_ r: Request) {
        preemptions += 1
        release(r)
        r.computed = 0
        running.removeAll { $0 === r }
        let at = waiting.firstIndex { $0.arrival > r.arrival } ?? waiting.count
        waiting.insert(r, at: at)
    }

    private mutating func registerFullBlocks(_ r: Request) {
        let bs = blocks.blockSize
        while (r.hashes.count + 1) * bs <= r.computed && r.hashes.count < r.blocks.count {
            let k = r.hashes.count
            let h = blocks.register(r.blocks[k], parent: r.hashes.last ?? r.cacheRoot, tokens: r.tokens[(k * bs)..<((k + 1) * bs)])
            r.hashes.append(h)
        }
    }
}
