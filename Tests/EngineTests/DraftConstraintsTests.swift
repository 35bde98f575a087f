import XCTest
@testable import Engine
import Grammar
import Model

/// The draft's rows get what the target's will get before a token is chosen: logit bias,
/// penalties (counted over the tokens so far and the proposals before), and the grammar's mask
/// at each proposal's place. With the target as its own draft, every proposal must then stand,
/// on each verification path (greedy, rejection sampling, seeded keyed draws); a draft row
/// missing any of them proposes tokens the target refuses.
final class DraftConstraintsTests: XCTestCase {
    static let trie = TokenTrie(tokens: (0..<11).map { [UInt8(ascii: "a") + UInt8($0)] })

    func engine(selfDraft: Bool, endOfGeneration: Set<Int32> = []) -> Engine {
        var c = EngineConfiguration(maxBatchTokens: 128, maxSequences: 16, cacheTokens: 4096, blockSize: 4,
                                    maxWaiting: 1000, stepTargetSeconds: 0)
        c.speculation = SpeculationConfiguration(method: selfDraft ? .draft : .off, maxDepth: 4, maxBatchTokens: 64)
        c.speculation.lookupFirst = false  // only the draft's proposals
        let e = Engine(model: PatternModel(), endOfGeneration: endOfGeneration, configuration: c,
                       draft: selfDraft ? PatternModel() : nil)
        e.scheduler.speculationCost = .measuredLike
        e.start()
        return e
    }

    func requests(_ shape: (inout GenerationRequest) -> Void) -> [GenerationRequest] {
        (0..<6).map { i in
            var r = GenerationRequest(id: "c\(i)", promptTokens: [Int32(i), 3, 1, Int32(i % 4)], maxTokens: 32)
            shape(&r)
            return r
        }
    }

    func run(_ e: Engine, _ reqs: [GenerationRequest]) -> [[Int32]] {
        let cs = reqs.map { _ in Collector() }
        for (r, c) in zip(reqs, cs) { XCTAssertNoThrow(try e.submit(r, sink: c.sink)) }
        return cs.map { c in
            XCTAssertNotNil(c.wait())
            return c.tokens
        }
    }

    func testEveryProposalStandsWhenTheDraftIsTheTarget() throws {
        let grammar = TokenGrammar(grammar: try GrammarSpec.regex("(ab|cd|e|f[a-k])+").compile(), trie: Self.trie)
        let constraints: [(String, (inout SamplingParameters, inout GenerationRequest) -> Void)] = [
            ("logit bias", { p, _ in p.logitBias = [7: 1.5, 2: -4] }),
            ("frequency and presence penalties", { p, _ in p.frequencyPenalty = 0.7; p.presencePenalty = 0.4 }),
            ("repetition penalty", { p, _ in p.repetitionPenalty = 1.8 }),
            ("grammar", { _, r in r.grammar = grammar }),
        ]
        let draws: [(String, SamplingParameters)] = [
            ("greedy", .greedy),
            ("sampled", SamplingParameters(temperature: 0.9)),
            ("seeded", SamplingParameters(temperature: 0.9, seed: 11)),
        ]
        let plain = engine(selfDraft: false), spec = engine(selfDraft: true)
        defer { plain.shutdown(); spec.shutdown() }
        for (what, constrain) in constraints {
            for (how, sampling) in draws {
                let reqs = requests { r in
                    var p = sampling
                    constrain(&p, &r)
                    r.sampling = p
                }
                let before = spec.idleSnapshot()
                let b = run(spec, reqs)
                let s = spec.idleSnapshot()
                let proposed = s.speculativeProposed - before.speculativeProposed
                let accepted = s.speculativeAccepted - before.speculativeAccepted
                XCTAssertGreaterThan(proposed, 0, "\(what), \(how)")
                XCTAssertEqual(accepted, proposed, "\(what), \(how): a draft row treated otherwise than the target's")
                if how != "sampled" {
                    XCTAssertEqual(run(plain, reqs), b, "\(what), \(how): not the tokens of plain decoding")
                }
                if what == "grammar" {
                    for t in b {
                        let text = t.map { UInt8(ascii: "a") + UInt8($0) }
                        XCTAssertTrue(grammar.grammar.acceptsPrefix(text), String(decoding: text, as: UTF8.self))
                    }
                }
            }
        }
        XCTAssertEqual(spec.idleSnapshot().usedBlocks, 0)
    }

    /// The draft stops at a token that ends the answer (end of generation, a stop token id):
    /// nothing after it would be verified, so with the target as its own draft every proposal stands.
    func testTheDraftStopsAtTheEndOfTheAnswer() {
        let spec = engine(selfDraft: true, endOfGeneration: [5])
        defer { spec.shutdown() }
        var reqs = requests { r in r.sampling = .greedy }
        for stop: Int32 in 0..<11 where stop != 5 {
            reqs += requests { r in r.sampling = .greedy; r.id += "-stop\(stop)"; r.stopTokenIDs = [stop] }
        }
        let tokens = run(spec, reqs)
        XCTAssertGreaterThan(tokens.filter { $0.count >= 4 && $0.count < 32 }.count, 10, "few answers ended mid-way")
        let s = spec.idleSnapshot()
        XCTAssertGreaterThan(s.speculativeProposed, 0)
        XCTAssertEqual(s.speculativeAccepted, s.speculativeProposed, "proposals after the end were counted as rejected")
    }
}
