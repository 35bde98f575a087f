import Foundation
import XCTest
@testable import Engine
import Kernels
import Model

/// The rule that turns a sequence's speculation off when its proposals stop paying for
/// themselves (SpeculationCost, Scheduler.speculationCap), and back on after a probe: with a
/// draft whose acceptance the test sets by position, and costs given rather than timed (a fake
/// model's times mean nothing).
final class SpeculationSwitchTests: XCTestCase {
    /// The target's own favourite token (a PatternModel of the same order), except for the
    /// positions in `wrong`, where it proposes the runner-up. Records the positions it proposed for.
    final class PhasedDraft: PatternModelWrapper {
        let inner = PatternModel()
        let wrong: Range<Int>
        private(set) var proposedAt: [Int] = []

        init(wrong: Range<Int>) { self.wrong = wrong }

        func forward(_ batch: [BatchSequence], cache: KVCacheStorage) throws -> [Float] {
            var out = try inner.forward(batch, cache: cache)
            let v = vocabSize
            var row = 0
            for seq in batch {
                let positions: [Int]
                switch seq.logits {
                case .none: positions = []
                case .last: positions = [seq.startPosition + seq.tokens.count - 1]
                case .all: positions = Array(seq.startPosition..<(seq.startPosition + seq.tokens.count))
                }
                for p in positions {
                    proposedAt.append(p + 1)
                    if wrong.contains(p + 1) {
                        let base = row * v
                        let best = (0..<v).max { out[base + $0] < out[base + $1] } ?? 0
                        out[base + best] = -100
                    }
                    row += 1
                }
            }
            return out
        }
    }

    func engine(draft: BatchModel?, lookupFirst: Bool = false, ngram: Int? = nil,
                target: BatchModel = PatternModel()) -> Engine {
        var c = EngineConfiguration(maxBatchTokens: 128, maxSequences: 4, cacheTokens: 4096, blockSize: 4,
                                    maxWaiting: 100, stepTargetSeconds: 0)
        var s = SpeculationConfiguration(method: draft == nil ? .off : .draft, maxDepth: 8, maxBatchTokens: 64)
        s.probeInterval = 8
        s.lookupFirst = lookupFirst
        if let ngram { (s.ngramMin, s.ngramMax) = (ngram, ngram) }
        c.speculation = s
        let e = Engine(model: target, endOfGeneration: [], configuration: c, draft: draft)
        e.scheduler.speculationCost = SpeculationCost.measuredLike
        return e
    }

    func testTheRuleWeighsAcceptanceAgainstCost() {
        let c = SpeculationCost.measuredLike
        XCTAssertGreaterThanOrEqual(c.bestDepth(acceptance: 0.9, maxDepth: 8, sequences: 1, drafted: true), 2)
        XCTAssertEqual(c.bestDepth(acceptance: 0.3, maxDepth: 8, sequences: 1, drafted: true), 0)
        // Prompt lookup costs no draft pass: it pays at an acceptance where the draft does not.
        XCTAssertGreaterThanOrEqual(c.bestDepth(acceptance: 0.3, maxDepth: 8, sequences: 1, drafted: false), 1)
        XCTAssertEqual(c.bestDepth(acceptance: 0.05, maxDepth: 8, sequences: 1, drafted: false), 0)
        // A draft as slow as the target does not pay at 0.7...
        let slow = SpeculationCost(target: { 1 + 0.16 * Double($0 - 1) }, draft: { 1 + 0.16 * Double($0 - 1) })
        XCTAssertEqual(slow.bestDepth(acceptance: 0.7, maxDepth: 8, sequences: 1, drafted: true), 0)
        // ...and a step whose cost grows with every token (compute-bound) takes no proposal.
        let bound = SpeculationCost(target: { Double($0) }, draft: { 0.3 * Double($0) })
        XCTAssertEqual(bound.bestDepth(acceptance: 0.9, maxDepth: 8, sequences: 1, drafted: false), 0)
    }

    /// A draft far behind (a long prompt, or what was generated while it was off) proposes only
    /// when the tokens the sequence may still emit win its catch-up back.
    func testTheDraftsCatchUpMustPayForItself() {
        let c = SpeculationCost.pricedCatchUp
        // The cost: the lag at the draft's per-token time of its largest timed pass, in plain steps.
        XCTAssertEqual(c.catchUpCost(lag: 64, sequences: 1) ?? 0, 0.35 * (1 + 0.16 * 63), accuracy: 1e-9)
        // One sequence 100 positions behind (about 6 plain steps): worth it for 256 more tokens
        // at 0.8 acceptance (1.21× at depth 2), not for 8.
        XCTAssertTrue(c.catchUpPays(lag: 100, remaining: 256, acceptance: 0.8, maxDepth: 8, sequences: 1))
        XCTAssertFalse(c.catchUpPays(lag: 100, remaining: 8, acceptance: 0.8, maxDepth: 8, sequences: 1))
        // A flat target (memory-bound) with a draft of 0.05 a token: 100 positions cost 5 plain
        // steps. Alone, 30 tokens at a gain of 3.1 repay them; with four sequences in the step
        // (gain 1.87, the pass holding all four up: 20 steps) they do not.
        let flat = SpeculationCost(target: { _ in 1 }, draft: { 0.05 * Double($0) })
        XCTAssertTrue(flat.catchUpPays(lag: 100, remaining: 30, acceptance: 0.8, maxDepth: 8, sequences: 1))
        XCTAssertFalse(flat.catchUpPays(lag: 100, remaining: 30, acceptance: 0.8, maxDepth: 8, sequences: 4))
        // Timed passes larger than the table's sizes give the per-token time.
        var m = SpeculationCost()
        m.recordTarget(tokens: 1, seconds: 0.05)
        m.recordDraft(tokens: 200, seconds: 1.0)
        XCTAssertEqual(m.catchUpCost(lag: 100, sequences: 1) ?? 0, 100 * 0.005 / 0.05, accuracy: 1e-9)
        XCTAssertNil(SpeculationCost.estimate(m.draft, 1), "a catch-up pass is not a proposal pass")

        // Through the engine: a 120-token prompt with 6 tokens to generate never drafts; with
        // 200 it does. The tokens are the target's either way.
        let prompt = (0..<120).map { Int32($0 % 9 + 1) }
        for (maxTokens, drafts) in [(6, false), (200, true)] {
            let draft = PhasedDraft(wrong: 0..<0)
            let spec = engine(draft: draft), plain = engine(draft: nil)
            spec.scheduler.speculationCost = .pricedCatchUp
            let req = GenerationRequest(id: "lag", promptTokens: prompt, maxTokens: maxTokens)
            let a = runAll(plain, [req]), b = runAll(spec, [req])
            plain.shutdown(); spec.shutdown()
            XCTAssertEqual(a[0].tokens, b[0].tokens)
            XCTAssertEqual(!draft.proposedAt.isEmpty, drafts, "max_tokens \(maxTokens): \(draft.proposedAt.prefix(8))")
        }
    }

    func testMeasuredCostsAreInterpolated() {
        var c = SpeculationCost()
        XCTAssertNil(SpeculationCost.estimate(c.target, 3))
        c.recordTarget(tokens: 1, seconds: 0.010)
        c.recordTarget(tokens: 5, seconds: 0.018)
        XCTAssertEqual(SpeculationCost.estimate(c.target, 3) ?? 0, 0.014, accuracy: 1e-9)
        // Beyond the largest size seen: scaled by the prior slope.
        XCTAssertEqual(SpeculationCost.estimate(c.target, 9) ?? 0, 0.018 * (1 + 0.16 * 8) / (1 + 0.16 * 4), accuracy: 1e-9)
        // Past the table (8 sequences verifying 8 proposals: 72 tokens), in proportion to the
        // tokens, so a deeper pass never looks free: memory-bound up to 16 tokens, then linear.
        let knee = SpeculationCost(target: { max(1, Double($0) / 16) }, draft: { _ in 0.3 })
        XCTAssertEqual(SpeculationCost.estimate(knee.target, 128) ?? 0, 8, accuracy: 1e-9)
        XCTAssertEqual(knee.relativeCost(depth: 8, sequences: 8, drafted: false), 72.0 / 16, accuracy: 1e-9)
        XCTAssertGreaterThan(knee.relativeCost(depth: 8, sequences: 8, drafted: false),
                             knee.relativeCost(depth: 7, sequences: 8, drafted: false))
    }

    /// With nothing timed yet, the first decoding step of the only sequence goes without
    /// proposals (it times a one-token pass, the base of the rule), and the next one speculates
    /// (a proposer not yet verified is taken to pay); the tokens stay the target's.
    func testFirstStepTimesAPlainPass() {
        var c = SpeculationCost()
        XCTAssertFalse(c.timed(tokens: 1))
        c.recordTarget(tokens: 3, seconds: 0.01)
        XCTAssertFalse(c.timed(tokens: 1), "a larger pass is not the plain step")
        c.recordTarget(tokens: 1, seconds: 0.01)
        XCTAssertTrue(c.timed(tokens: 1))

        let prompt: [Int32] = [1, 2, 3, 4, 5]
        let p = prompt.count
        let draft = PhasedDraft(wrong: 0..<0)
        let spec = engine(draft: draft), plain = engine(draft: nil)
        spec.scheduler.speculationCost = SpeculationCost()
        let req = GenerationRequest(id: "timing", promptTokens: prompt, maxTokens: 24)
        let a = runAll(plain, [req]), b = runAll(spec, [req])
        plain.shutdown(); spec.shutdown()
        XCTAssertEqual(a[0].tokens, b[0].tokens)
        XCTAssertFalse(draft.proposedAt.contains(p + 1), "the first decoding step proposed: \(draft.proposedAt)")
        XCTAssertTrue(draft.proposedAt.contains(p + 2), "the second decoding step did not propose: \(draft.proposedAt)")
        XCTAssertGreaterThan(b[0].speculation.accepted, 0)
    }

    func testAcceptanceFollowsTheRecentVerifications() {
        var a = AcceptanceEstimate()
        XCTAssertEqual(a.rate, 0.8, accuracy: 1e-9)
        // One early miss leaves it above what prompt lookup needs (0.22 with these costs).
        a.record(proposed: 4, accepted: 0)
        XCTAssertGreaterThan(a.rate, 0.4)
        for _ in 0..<10 { a.record(proposed: 4, accepted: 4) }
        XCTAssertGreaterThan(a.rate, 0.99)
        for _ in 0..<10 { a.record(proposed: 1, accepted: 0) }
        XCTAssertLessThan(a.rate, 0.2)
    }

    /// A proposer not verified for a while drifts back to the prior: half way in `halfLife`
    /// generated tokens, and not at all before its first verification's place.
    func testAnIdleProposersAcceptanceDriftsBackToThePrior() {
        var a = AcceptanceEstimate()
        XCTAssertEqual(a.rate(at: 50), 0.8, accuracy: 1e-9)
        for g in [10, 12, 14] { a.record(proposed: 4, accepted: 0, at: g) }
        let low = a.rate
        XCTAssertLessThan(low, 0.5)
        XCTAssertEqual(a.rate(at: 14), low, accuracy: 1e-12)
        XCTAssertEqual(a.rate(at: 10), low, accuracy: 1e-12, "no drift backwards")
        let half = a.rate(at: 14 + Int(AcceptanceEstimate.halfLife))
        XCTAssertGreaterThan(half, low + 0.05)
        XCTAssertLessThan(half, 0.8)
        XCTAssertEqual(a.rate(at: 10_000), 0.8, accuracy: 1e-6)
        // A verification after the idle span starts from the drifted counts.
        var b = a
        b.record(proposed: 4, accepted: 4, at: 14 + 2 * Int(AcceptanceEstimate.halfLife))
        var c = a
        c.record(proposed: 4, accepted: 4, at: 15)
        XCTAssertGreaterThan(b.rate, c.rate)
    }

    /// A draft that keeps missing as soon as it is back is retried less and less often: each
    /// return whose first proposal misses doubles the half-life (up to 8×), as failed probes
    /// double a sequence's wait; a return that stands brings the quick drift back.
    func testFailedReturnsSlowTheDrift() {
        func wait(_ e: AcceptanceEstimate, from g: Int) -> Int {
            var t = 1
            while e.rate(at: g + t) < 0.6 { t += 1 }
            return t
        }
        var a = AcceptanceEstimate()
        var g = 0
        for _ in 0..<3 { g += 2; a.record(proposed: 4, accepted: 0, at: g) }
        var waits: [Int] = []
        for _ in 0..<6 {
            let t = wait(a, from: g)
            waits.append(t)
            g += t
            a.record(proposed: 1, accepted: 0, at: g)
        }
        for k in 1..<4 { XCTAssertGreaterThan(waits[k], waits[k - 1] + 10, "waits \(waits)") }
        XCTAssertLessThan(abs(waits[5] - waits[4]), 3, "capped at 8×: \(waits)")
        // A return that stands: the next wait after misses is back near the first.
        g += wait(a, from: g)
        a.record(proposed: 4, accepted: 4, at: g)
        for _ in 0..<3 { g += 2; a.record(proposed: 4, accepted: 0, at: g) }
        XCTAssertLessThan(wait(a, from: g), waits[1], "waits \(waits)")
    }

    /// With prompt lookup and a draft both: the draft is wrong for 50 positions, lookup (on
    /// single-token matches, often wrong here) keeps proposing throughout, so the sequence is
    /// never off and never probes. The draft still comes back after its bad phase (its
    /// acceptance drifts back while idle); the tokens are the target's.
    func testADraftThatLostComesBackWhileLookupProposes() {
        let prompt: [Int32] = [1, 2, 3, 4, 5]
        let p = prompt.count, n = 300
        let bad = (p + 20)..<(p + 70)
        let draft = PhasedDraft(wrong: bad)
        let spec = engine(draft: draft, lookupFirst: true, ngram: 1), plain = engine(draft: nil)
        let req = GenerationRequest(id: "both", promptTokens: prompt, maxTokens: n)
        let a = runAll(plain, [req]), b = runAll(spec, [req])
        let s = spec.idleSnapshot()
        plain.shutdown(); spec.shutdown()
        XCTAssertEqual(a[0].tokens, b[0].tokens)
        XCTAssertGreaterThan(s.speculativeLookupProposed, 0, "lookup should propose")
        let after = draft.proposedAt.filter { $0 >= bad.upperBound + 40 }.count
        XCTAssertGreaterThan(after, 60, "the draft should come back after its bad phase")
    }

    /// The draft is right, then wrong for 100 positions, then right again: speculation stops soon
    /// after it goes wrong (only probes meanwhile), comes back after it recovers, and the tokens
    /// are the target's throughout.
    /// With the catch-up priced too: the draft, off while it missed, is over 16 positions behind
    /// when it probes, and the 240 tokens left repay that.
    func testSpeculationStopsWhileTheDraftMissesAndComesBack() {
        for cost in [SpeculationCost.measuredLike, .pricedCatchUp] { stopsAndComesBack(cost) }
    }

    func stopsAndComesBack(_ cost: SpeculationCost) {
        let prompt: [Int32] = [1, 2, 3, 4, 5]
        let p = prompt.count, n = 400
        let bad = (p + 60)..<(p + 160)
        let draft = PhasedDraft(wrong: bad)
        let spec = engine(draft: draft), plain = engine(draft: nil)
        spec.scheduler.speculationCost = cost
        let req = GenerationRequest(id: "phases", promptTokens: prompt, maxTokens: n)
        let a = runAll(plain, [req]), b = runAll(spec, [req])
        plain.shutdown(); spec.shutdown()
        XCTAssertEqual(a[0].tokens, b[0].tokens)
        XCTAssertEqual(b[0].tokens.count, n)
        // Proposals (draft rows past the prompt) by phase; without the rule the adaptive depth
        // stays at 1 and proposes at every one of the bad positions.
        let proposed = draft.proposedAt.filter { $0 >= p + 1 }
        let inBad = proposed.filter { $0 >= bad.lowerBound + 10 && $0 < bad.upperBound }.count
        let after = proposed.filter { $0 >= bad.upperBound + 100 }.count
        XCTAssertLessThan(inBad, 30, "speculation should stop while the draft misses (90 positions)")
        XCTAssertGreaterThan(after, 60, "speculation should come back once the draft is right again")
        XCTAssertGreaterThan(b[0].speculation.accepted, 150)
    }

    /// The target, recording the largest pass after the prompt's.
    final class LargestPass: PatternModelWrapper {
        let inner = PatternModel()
        private(set) var passes = 0, largest = 0

        func forward(_ batch: [BatchSequence], cache: KVCacheStorage) throws -> [Float] {
            passes += 1
            if passes > 1 { largest = max(largest, batch.reduce(0) { $0 + $1.tokens.count }) }
            return try inner.forward(batch, cache: cache)
        }
    }

    /// A pass of 9 tokens dearer by a jump (two groups of the AVX2 prompt kernel: on Qwen 1.5B,
    /// 1.35× an 8-token pass): even a draft that is always right proposes at most 7, so no pass
    /// verifies 9. Priced linearly, it reaches the configured 8. The tokens are the target's.
    func testNoProposalDeeperThanAPerfectAcceptanceRepays() {
        let jump = SpeculationCost(target: { $0 <= 8 ? 1 + 0.18 * Double($0 - 1) : 1.6 + 0.18 * Double($0 - 1) },
                                   draft: { 0.35 * (1 + 0.16 * Double($0 - 1)) }, catchUpPerToken: 0)
        XCTAssertEqual(jump.bestDepth(acceptance: 1, maxDepth: 8, sequences: 1, drafted: true), 7)
        XCTAssertEqual(jump.bestDepth(acceptance: 1, maxDepth: 8, sequences: 1, drafted: false), 7)
        XCTAssertEqual(SpeculationCost.measuredLike.bestDepth(acceptance: 1, maxDepth: 8, sequences: 1, drafted: true), 8)
        let req = GenerationRequest(id: "deep", promptTokens: [1, 2, 3, 4, 5], maxTokens: 120)
        let plain = engine(draft: nil)
        let a = runAll(plain, [req])
        plain.shutdown()
        for (cost, largest) in [(jump, 8), (SpeculationCost.measuredLike, 9)] {
            let target = LargestPass()
            let spec = engine(draft: PhasedDraft(wrong: 0..<0), target: target)
            spec.scheduler.speculationCost = cost
            let b = runAll(spec, [req])
            spec.shutdown()
            XCTAssertEqual(a[0].tokens, b[0].tokens)
            XCTAssertEqual(target.largest, largest, "largest verification pass")
        }
    }

    /// With a draft model and prompt lookup both: a greedy text that falls into a cycle takes
    /// lookup's proposals (the draft here is always wrong), and the tokens stay the target's,
    /// greedy and seeded; unseeded sampling completes (a lookup proposal has no draft
    /// distribution for rejection sampling to ask for).
    func testLookupFirstTakesFreeProposalsAndStaysExact() {
        let draft = PhasedDraft(wrong: 0..<100_000)
        let prompts: [[Int32]] = (0..<4).map { (i: Int) -> [Int32] in
            (0..<(6 + 5 * i)).map { (j: Int) -> Int32 in Int32((j * 7 + i) % 11) }
        }
        for sampling in [SamplingParameters.greedy, SamplingParameters(temperature: 0.8, seed: 7),
                         SamplingParameters(temperature: 0.8)] {
            let reqs = prompts.enumerated().map { GenerationRequest(id: "h\($0)", promptTokens: $1, sampling: sampling, maxTokens: 80) }
            let spec = engine(draft: draft, lookupFirst: true)
            let b = runAll(spec, reqs)
            let s = spec.idleSnapshot()
            spec.shutdown()
            if sampling.isGreedy {
                XCTAssertGreaterThan(s.speculativeAccepted, 40, "lookup's proposals on the target's cycles should stand")
            } else {
                XCTAssertGreaterThan(s.speculativeProposed, 0)
            }
            guard sampling.seed != nil || sampling.isGreedy else {
                for c in b { XCTAssertEqual(c.tokens.count, 80) }
                continue
            }
            let plain = engine(draft: nil)
            let a = runAll(plain, reqs)
            plain.shutdown()
            for (x, y) in zip(a, b) { XCTAssertEqual(x.tokens, y.tokens, "\(sampling)") }
        }
    }
}

extension SpeculationCost {
    /// Target and draft pass costs shaped as measured on Qwen2.5-Coder 1.5B with its 0.5B draft,
    /// for engine tests (their fake models' times mean nothing). The draft's catch-up is free,
    /// so that the tests' short generations after their prompts still speculate
    /// (`pricedCatchUp` charges it, for the rule's own test).
    static let measuredLike = SpeculationCost(target: { 1 + 0.16 * Double($0 - 1) },
                                              draft: { 0.35 * (1 + 0.16 * Double($0 - 1)) }, catchUpPerToken: 0)
    static let pricedCatchUp = SpeculationCost(target: { 1 + 0.16 * Double($0 - 1) },
                                               draft: { 0.35 * (1 + 0.16 * Double($0 - 1)) })
}
