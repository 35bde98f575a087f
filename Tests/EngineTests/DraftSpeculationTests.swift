import Foundation
import XCTest
@testable import Engine
import Model

/// Draft-model speculation through the engine, with fake models: the target cycles on its
/// last three tokens, the draft guesses from its last two (so it is often right and often
/// wrong). Greedy tokens must be the target's; sampled tokens must follow the target's
/// distribution (a chi-square test over many seeded requests).
final class DraftSpeculationTests: XCTestCase {
    func engine(draft: BatchModel?, cacheTokens: Int = 4096, depth: Int = 4) -> Engine {
        var c = EngineConfiguration(maxBatchTokens: 128, maxSequences: 16, cacheTokens: cacheTokens, blockSize: 4,
                                    maxWaiting: 10_000, stepTargetSeconds: 0)
        c.speculation = SpeculationConfiguration(method: draft == nil ? .off : .draft, maxDepth: depth, maxBatchTokens: 64)
        let e = Engine(model: PatternModel(), endOfGeneration: [], configuration: c, draft: draft)
        e.scheduler.speculationCost = .measuredLike
        return e
    }

    func prompts(_ n: Int) -> [[Int32]] {
        (0..<n).map { (i: Int) -> [Int32] in (0..<(4 + i * 5)).map { (j: Int) -> Int32 in Int32((j * 7 + i) % 11) } }
    }

    func testGreedyTokensAreTheTargetsWithBothCachesRolledBack() {
        let reqs = prompts(8).enumerated().map { GenerationRequest(id: "g\($0)", promptTokens: $1, maxTokens: 50) }
        let plain = engine(draft: nil), spec = engine(draft: PatternModel(order: 2))
        let a = runAll(plain, reqs), b = runAll(spec, reqs)
        for (x, y) in zip(a, b) { XCTAssertEqual(x.tokens, y.tokens) }
        let s = spec.idleSnapshot()
        XCTAssertGreaterThan(s.speculativeAccepted, 0)
        XCTAssertLessThan(s.speculativeAccepted, s.speculativeProposed, "nothing rejected: rollback untested")
        XCTAssertEqual(s.usedBlocks, 0)
        plain.shutdown(); spec.shutdown()
    }

    /// With `draftMinProbability` above every probability the fake draft gives its guesses
    /// (~0.46), each sequence proposes one token per verification and stops; the tokens are
    /// still the target's. Without it, or below those probabilities, depth 4 proposes more than
    /// one per verification.
    func testUnsureDraftStopsAfterOneProposal() {
        let reqs = prompts(8).enumerated().map { GenerationRequest(id: "u\($0)", promptTokens: $1, maxTokens: 40) }
        let plain = engine(draft: nil)
        let a = runAll(plain, reqs)
        for minProbability in [0.9, 0.3, 0.0] {
            var c = EngineConfiguration(maxBatchTokens: 128, maxSequences: 16, cacheTokens: 4096, blockSize: 4,
                                        maxWaiting: 10_000, stepTargetSeconds: 0)
            c.speculation = SpeculationConfiguration(method: .draft, maxDepth: 4, maxBatchTokens: 64)
            c.speculation.draftMinProbability = minProbability
            c.speculation.lookupFirst = false  // prompt lookup's proposals are not the draft's
            let spec = Engine(model: PatternModel(), endOfGeneration: [], configuration: c, draft: PatternModel(order: 2))
            // Verification as dear as a plain step whatever its size (memory-bound): depth 4 could
            // pay for 8 sequences. (With `measuredLike`'s dearer large passes even a sure
            // proposal past the first does not, and the scheduler caps the depth at 1.)
            spec.scheduler.speculationCost = SpeculationCost(target: { _ in 1 }, draft: { _ in 0.35 }, catchUpPerToken: 0)
            let b = runAll(spec, reqs)
            for (x, y) in zip(a, b) { XCTAssertEqual(x.tokens, y.tokens, "min probability \(minProbability)") }
            let s = spec.idleSnapshot()
            XCTAssertGreaterThan(s.speculativeVerifications, 0)
            if minProbability > 0.5 {
                XCTAssertEqual(s.speculativeProposed, s.speculativeVerifications)
            } else {
                XCTAssertGreaterThan(s.speculativeProposed, s.speculativeVerifications)
            }
            XCTAssertEqual(s.usedBlocks, 0)
            spec.shutdown()
        }
        plain.shutdown()
    }

    func testPreemptionAndCancellationRollBackBothCaches() {
        // 28 blocks of 4 for 8 sequences of up to 89 tokens: preemption recomputes both models' caches.
        var reqs = prompts(8).enumerated().map { GenerationRequest(id: "p\($0)", promptTokens: $1, maxTokens: 50) }
        reqs.append(GenerationRequest(id: "gone", promptTokens: [1, 2, 3], maxTokens: 60))
        let plain = engine(draft: nil), spec = engine(draft: PatternModel(order: 2), cacheTokens: 112)
        let a = runAll(plain, Array(reqs.prefix(8))), b = runAll(spec, reqs, abort: "gone")
        for (x, y) in zip(a, b.prefix(8)) { XCTAssertEqual(x.tokens, y.tokens) }
        let s = spec.idleSnapshot()
        XCTAssertGreaterThan(s.preemptions, 0)
        XCTAssertGreaterThan(s.speculativeAccepted, 0)
        XCTAssertEqual(s.usedBlocks, 0)
        plain.shutdown(); spec.shutdown()
    }

    /// Per-request counts in the finish events add up to the engine's on both verification paths,
    /// greedy (token against proposal) and unseeded sampled (rejection sampling), with every token
    /// as a stop token in turn (some requests stop on an accepted proposal).
    func testFinishEventsCarryEachRequestsSpeculation() {
        let e = engine(draft: PatternModel(order: 2))
        var cs: [Collector] = []
        for stop in 0..<11 {
            let reqs = prompts(8).enumerated().map { i, p in
                var r = GenerationRequest(id: "f\(stop)-\(i)", promptTokens: p,
                                          sampling: i % 2 == 0 ? .greedy : SamplingParameters(temperature: 0.8), maxTokens: 30)
                r.stopTokenIDs = [Int32(stop)]
                return r
            }
            cs += runAll(e, reqs)
        }
        let s = e.idleSnapshot()
        let total = cs.reduce(SpeculationUsage.none) { $0 + $1.speculation }
        XCTAssertEqual(total.proposed, s.speculativeProposed)
        XCTAssertEqual(total.accepted, s.speculativeAccepted)
        for (i, c) in cs.enumerated() {
            XCTAssertLessThanOrEqual(c.speculation.accepted, c.speculation.proposed, "request \(i)")
        }
        for parity in 0..<2 {
            let part = cs.enumerated().filter { $0.offset % 8 % 2 == parity }.map(\.element.speculation)
            XCTAssertGreaterThan(part.reduce(SpeculationUsage.none, +).accepted, 0, parity == 0 ? "greedy" : "sampled")
        }
        e.shutdown()
    }

    /// A seeded request's text is the seed's: the same without speculation, with either drafter,
    /// and whatever else shares its steps (the requests arrive in another order, with strangers).
    func testSeededSamplingIsTheSameWithAnyDrafterAndBatch() {
        let reqs = prompts(6).enumerated().map {
            GenerationRequest(id: "s\($0)", promptTokens: $1,
                              sampling: SamplingParameters(temperature: 0.9, topK: $0 % 2 == 0 ? 0 : 5, seed: UInt64($0)),
                              maxTokens: 40)
        }
        let strangers = prompts(5).enumerated().map {
            GenerationRequest(id: "x\($0)", promptTokens: $1, sampling: SamplingParameters(temperature: 1.2), maxTokens: 30)
        }
        let plain = engine(draft: nil), two = engine(draft: PatternModel(order: 2)), one = engine(draft: PatternModel(order: 1), depth: 2)
        let a = runAll(plain, reqs), b = runAll(two, reqs)
        let c = Array(runAll(one, strangers + reqs.reversed()).suffix(reqs.count).reversed())
        for (i, (x, (y, z))) in zip(a, zip(b, c)).enumerated() {
            XCTAssertEqual(x.tokens.count, 40)
            XCTAssertEqual(x.tokens, y.tokens, "request \(i), drafter of order 2")
            XCTAssertEqual(x.tokens, z.tokens, "request \(i), drafter of order 1 among strangers")
        }
        for e in [two, one] {
            let s = e.idleSnapshot()
            XCTAssertGreaterThan(s.speculativeAccepted, 0)
            XCTAssertLessThan(s.speculativeAccepted, s.speculativeProposed)
            XCTAssertEqual(s.usedBlocks, 0)
        }
        for e in [plain, two, one] { e.shutdown() }
    }

    /// The second and third generated tokens come from one verification with one proposal
    /// (max_tokens 3: the first comes from the prompt's step). Their joint distribution over
    /// many seeds must be the target's, computed exactly from its logits.
    /// Both verifications: keyed draws (seeded requests) and rejection sampling (the stream).
    func testSampledTokensFollowTheTargetsDistribution() {
        for (temperature, topK, keyed) in [(Float(1.0), 0, true), (0.7, 3, true), (1.0, 0, false), (0.7, 3, false)] {
            let prompt: [Int32] = [3, 1, 4, 1, 5]
            let n = 3000
            let params = { (i: Int) in SamplingParameters(temperature: temperature, topK: topK, seed: UInt64(1000 + i)) }
            let reqs = (0..<n).map { GenerationRequest(id: "d\($0)", promptTokens: prompt, sampling: params($0), maxTokens: 3, ignoreEOS: true) }
            let e = engine(draft: PatternModel(order: 2), depth: 1)
            e.keysSeededDraws = keyed
            e.start()
            // In waves that all start in one step: a queue of waiting prompts would stop speculation.
            var cs: [Collector] = []
            for wave in stride(from: 0, to: n, by: 16) {
                let part = reqs[wave..<min(wave + 16, n)].map { _ in Collector() }
                XCTAssertNoThrow(try e.submitTogether(zip(reqs[wave..<min(wave + 16, n)], part).map { ($0, $1.sink) }))
                for c in part { XCTAssertNotNil(c.wait()) }
                cs += part
            }
            let s = e.idleSnapshot()
            XCTAssertGreaterThan(s.speculativeVerifications, n / 2, "most requests should have verified a proposal")
            XCTAssertGreaterThan(s.speculativeAccepted, 0)
            XCTAssertLessThan(s.speculativeAccepted, s.speculativeProposed)
            e.shutdown()

            // Exact marginal of (t2, t3): sum over t1 of p(t1) p(t2 | t1) p(t3 | t1 t2).
            let target = PatternModel(), v = target.vocabSize
            func probs(_ h: [Int32]) -> [Double] {
                var l = target.logits(after: h)
                var p = [Double](repeating: 0, count: v)
                p.withUnsafeMutableBufferPointer { out in
                    var f = [Float](repeating: 0, count: v)
                    l.withUnsafeMutableBufferPointer { lp in
                        f.withUnsafeMutableBufferPointer { Sampler(params(0)).distribution(lp, into: $0) }
                    }
                    for i in 0..<v { out[i] = Double(f[i]) }
                }
                return p
            }
            var expected = [Double](repeating: 0, count: v * v)
            let p1 = probs(prompt)
            for t1 in 0..<v where p1[t1] > 0 {
                let p2 = probs(prompt + [Int32(t1)])
                for t2 in 0..<v where p2[t2] > 0 {
                    let p3 = probs(prompt + [Int32(t1), Int32(t2)])
                    for t3 in 0..<v { expected[t2 * v + t3] += p1[t1] * p2[t2] * p3[t3] }
                }
            }
            var observed = [Double](repeating: 0, count: v * v)
            for c in cs {
                XCTAssertEqual(c.tokens.count, 3)
                observed[Int(c.tokens[1]) * v + Int(c.tokens[2])] += 1
            }
            // Pool the cells expected under 5 draws into one, as chi-square requires.
            var chi = 0.0, cells = 0, poolE = 0.0, poolO = 0.0
            for i in 0..<(v * v) {
                let ex = expected[i] * Double(n)
                if ex < 5 { poolE += ex; poolO += observed[i]; continue }
                chi += (observed[i] - ex) * (observed[i] - ex) / ex
                cells += 1
            }
            if poolE > 0 { chi += (poolO - poolE) * (poolO - poolE) / max(poolE, 1); cells += 1 }
            // The 99.9th percentile of chi-square with k - 1 degrees of freedom, by Wilson-Hilferty.
            let k = Double(cells - 1), z = 3.09
            let limit = k * pow(1 - 2 / (9 * k) + z * (2 / (9 * k)).squareRoot(), 3)
            XCTAssertLessThan(chi, limit, "T=\(temperature) top-k \(topK) keyed \(keyed): chi-square \(chi) over \(cells) cells")
            XCTAssertGreaterThanOrEqual(cells, 5)
        }
    }
}
