@testable import Engine
import Model

/// Drives a `Scheduler` as the engine does, with no model and no thread: each step
/// "computes" the plan, and every request whose entry reached the end of its tokens gets
/// a made-up next token, until it has `maxTokens` and finishes. Checks the scheduler's
/// invariants after every step.
struct SchedulerDriver {
    var scheduler: Scheduler
    private var arrivals = 0
    private(set) var requests: [Request] = []
    private(set) var finished: [String] = []
    /// Request ids in the order they were first admitted.
    private(set) var admissions: [String] = []
    private(set) var steps = 0
    /// Broken invariants seen after any step (tests assert it stays empty).
    private(set) var problems: [String] = []

    init(maxBatchTokens: Int = 512, maxSequences: Int = 64, cacheTokens: Int = 1024, blockSize: Int = 16,
         prefixCaching: Bool = true, stepTargetSeconds: Double = 0, slidingWindow: Int? = nil) {
        scheduler = Scheduler(configuration: .init(maxBatchTokens: maxBatchTokens, maxSequences: maxSequences,
                                                   cacheTokens: cacheTokens, blockSize: blockSize,
                                                   prefixCaching: prefixCaching, stepTargetSeconds: stepTargetSeconds),
                              slidingWindow: slidingWindow)
    }

    @discardableResult
    mutating func submit(_ id: String, prompt: [Int32], maxTokens: Int, promptLogprobs: Int? = nil,
                         shareGroup: String? = nil) -> Request {
        arrivals += 1
        var g = GenerationRequest(id: id, promptTokens: prompt, maxTokens: maxTokens, promptLogprobs: promptLogprobs)
        g.shareGroup = shareGroup
        let r = Request(request: g, sink: { _ in }, arrival: arrivals)
        scheduler.add(r)
        requests.append(r)
        return r
    }

    /// One step: the plan, as computed; requests at their end get a token or finish.
    @discardableResult
    mutating func step() -> StepPlan {
        let plan = scheduler.schedule()
        steps += 1
        for e in plan.entries where e.isFirst { admissions.append(e.request.id) }
        scheduler.didCompute(plan)
        for e in plan.entries where e.logits != .none && e.request.computed == e.request.tokens.count {
            let r = e.request
            if r.wantsPromptLogprobs { r.promptLogprobsSent = true }
            r.generated += 1
            if r.generated >= r.request.maxTokens {
                finish(r)
            } else {
                scheduler.append(Int32(3 + (r.tokens.count * 7 + r.arrival) % 50), to: r)
            }
        }
        checkInvariants()
        return plan
    }

    /// Ends a request wherever it is (an abort, or its last token).
    mutating func finish(_ r: Request) {
        scheduler.finish(r)
        finished.append(r.id)
    }

    /// Steps until nothing is left, at most `limit` steps; false if some request is still there.
    mutating func runToEnd(limit: Int = 10_000) -> Bool {
        var n = 0
        while !scheduler.isIdle && n < limit { step(); n += 1 }
        return scheduler.isIdle
    }

    /// Waiting requests hold nothing; running ones hold exactly the blocks their computed tokens
    /// need; a block's reference count is the number of block tables that hold it; with
    /// sliding-window layers, a running request's ring holds its blocks up to the ring size.
    mutating func checkInvariants() {
        let bs = scheduler.blocks.blockSize
        for r in scheduler.waiting where !r.blocks.isEmpty || r.computed != 0 {
            problems.append("step \(steps): waiting request \(r.id) holds blocks")
        }
        var refs: [Int32: Int] = [:]
        for r in scheduler.running {
            if r.blocks.count != (r.computed + bs - 1) / bs {
                problems.append("step \(steps): \(r.id) has \(r.blocks.count) blocks for \(r.computed) tokens")
            }
            for b in r.blocks { refs[b, default: 0] += 1 }
        }
        for (b, n) in refs where scheduler.blocks.references(b) != n {
            problems.append("step \(steps): block \(b) has \(scheduler.blocks.references(b)) references, held \(n) times")
        }
        if scheduler.blocks.usedCount != refs.count {
            problems.append("step \(steps): \(scheduler.blocks.usedCount) blocks in use, \(refs.count) held")
        }
        guard let local = scheduler.localBlocks else { return }
        var ringRefs: [Int32: Int] = [:]
        for r in scheduler.running {
            if r.ring.count != min((r.computed + bs - 1) / bs, scheduler.ringBlocks) {
                problems.append("step \(steps): \(r.id) has a ring of \(r.ring.count) for \(r.computed) tokens")
            }
            for b in r.ring { ringRefs[b, default: 0] += 1 }
        }
        for r in scheduler.waiting where !r.ring.isEmpty { problems.append("step \(steps): waiting \(r.id) holds a ring") }
        if ringRefs.values.contains(where: { $0 != 1 }) { problems.append("step \(steps): a ring block is held twice") }
        if local.usedCount != ringRefs.count {
            problems.append("step \(steps): \(local.usedCount) ring blocks in use, \(ringRefs.count) held")
        }
    }
}
