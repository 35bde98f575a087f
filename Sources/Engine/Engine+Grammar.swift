import Dispatch
import Grammar
import Model

/// Structured output in the engine: a constrained sequence's logits row is masked to the
/// tokens its grammar allows before sampling, and its grammar state takes each token.
/// Masks are cached per grammar state (TokenGrammar), so after the first requests with a
/// schema most steps find theirs; unconstrained sequences never pay anything.
extension Engine {
    /// Sets the logits of tokens the grammar refuses to -∞: with the mask made during the
    /// forward pass when there is one, else made now.
    func applyGrammar(_ r: Request, row: UnsafeMutableBufferPointer<Float>) {
        guard let m = r.matcher, m.isConstraining else { return }
        if let ready = readyMasks.removeValue(forKey: ObjectIdentifier(r)) {
            return ready.apply(to: row, endOfGeneration: endOfGeneration)
        }
        let t0 = DispatchTime.now().uptimeNanoseconds
        m.mask().apply(to: row, endOfGeneration: endOfGeneration)
        stats.grammarMaskSeconds += Double(DispatchTime.now().uptimeNanoseconds &- t0) / 1e9
        stats.grammarMasks += 1
    }

    /// A greedy constrained sequence whose best token the grammar allows takes it: the masked
    /// row's argmax is then that very token, so no mask is made; else the mask is made now and
    /// the best allowed token taken. nil for other sequences. Most steps of a model that writes
    /// the format it was asked for need no mask at all. Confidence measured for the server's
    /// metrics only is then of the model's row (bias and penalties applied, no mask).
    func greedyGrammarPick(_ r: Request, row: UnsafeMutableBufferPointer<Float>) -> (Int32, TokenConfidence?)? {
        guard let m = r.matcher, m.isConstraining, picksGreedily(r) else { return nil }
        r.sampler.adjust(row)
        let (best, fast) = bestAllowed(m, row: row) { applyGrammar(r, row: row) }
        if fast { stats.grammarFastPicks += 1 }
        guard r.request.measureConfidence else { return (best, nil) }
        let t = TokenConfidence.temperature(for: r.sampler.parameters)
        // `best` is the argmax of the row as it stands (masked or not): its value is the maximum.
        return (best, TokenConfidence.measure(UnsafeBufferPointer(row), chosen: best, temperature: t, maximum: row[Int(best)]))
    }

    /// The best token of an adjusted row that `m` allows: the row's argmax when `m` takes it
    /// (`fast`: no mask made), else the argmax after `mask` has masked the row. The target's
    /// greedy pick and the draft's proposal both choose so.
    func bestAllowed(_ m: GrammarMatcher, row: UnsafeMutableBufferPointer<Float>, mask: () -> Void) -> (token: Int32, fast: Bool) {
        let best = Int32(Sampler.argmax(row))
        var next = m
        if next.accept(token: best) || endOfGeneration.contains(best) && m.canEnd { return (best, true) }
        mask()
        return (Int32(Sampler.argmax(row)), false)
    }

    /// Sequences `greedyGrammarPick` serves (their masks are not made ahead).
    func picksGreedily(_ r: Request) -> Bool {
        let p = r.sampler.parameters
        return r.matcher != nil && p.picksArgmax && !r.request.confidenceRequested
    }

    /// Starts the masks of the constrained sequences that sample this step, on another thread,
    /// so they are made while the forward pass runs instead of after it, in front of every
    /// sequence's sampling. A sequence's first sampled row needs the mask of its grammar state
    /// as it is now (nothing changes it during the pass). Call `collectMasks` before any
    /// matcher is touched again.
    func startMasks(_ plan: StepPlan) -> PendingMasks? {
        var work: [(ObjectIdentifier, GrammarMatcher)] = []
        for e in plan.entries where e.end == e.request.tokens.count && !picksGreedily(e.request) {
            if let m = e.request.matcher, m.isConstraining { work.append((ObjectIdentifier(e.request), m)) }
        }
        guard !work.isEmpty else { return nil }
        let pending = PendingMasks(work)
        DispatchQueue.global(qos: .userInitiated).async(group: pending.group) { pending.run() }
        return pending
    }

    /// Waits for `startMasks`' work and hands its masks to `applyGrammar`.
    func collectMasks(_ pending: PendingMasks?) {
        readyMasks.removeAll(keepingCapacity: true)
        guard let pending else { return }
        pending.group.wait()
        for (id, mask) in zip(pending.ids, pending.masks) { readyMasks[id] = mask }
        stats.grammarMasks += pending.masks.count
        stats.grammarMasksOverlapped += pending.masks.count
        stats.grammarMaskSeconds += pending.seconds
    }

    /// Advances the grammar by `token`; true when the sequence must end here: the grammar is
    /// complete (nothing can follow), or it refused the token (only if its state was cut short
    /// by the matcher's bounds; the mask allows no such token otherwise).
    func grammarEnds(_ r: Request, after token: Int32) -> Bool {
        guard r.matcher != nil else { return false }
        guard r.matcher!.accept(token: token) else { return true }
        return r.matcher!.isComplete
    }
}

/// One step's masks, made on a global queue during the forward pass.
/// @unchecked Sendable: the engine thread hands it over before `run` and reads it only after
/// `group.wait()`; the matchers are not touched by anyone else meanwhile.
final class PendingMasks: @unchecked Sendable {
    let group = DispatchGroup()
    let ids: [ObjectIdentifier]
    private let matchers: [GrammarMatcher]
    private(set) var masks: [TokenMask] = []
    private(set) var seconds = 0.0

    init(_ work: [(ObjectIdentifier, GrammarMatcher)]) {
        ids = work.map(\.0)
        matchers = work.map(\.1)
    }

    func run() {
        let t0 = DispatchTime.now().uptimeNanoseconds
        masks = matchers.map { $0.mask() }
        seconds = Double(DispatchTime.now().uptimeNanoseconds &- t0) / 1e9
    }
}
