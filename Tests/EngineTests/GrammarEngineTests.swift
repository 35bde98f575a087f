import XCTest
@testable import Engine
import Grammar
import Model

/// Constrained sequences in the engine: sampled ones have their masks made during the forward
/// pass, greedy ones take the model's best token without a mask when the grammar allows it,
/// and every token they emit keeps the text inside their grammar, beside unconstrained sequences.
final class GrammarEngineTests: XCTestCase {
    /// PatternModel's 11 tokens spell "a" … "k".
    static let trie = TokenTrie(tokens: (0..<11).map { [UInt8(ascii: "a") + UInt8($0)] })

    /// A started engine over PatternModel, no speculation, no step time target.
    static func startedEngine() -> Engine {
        var c = EngineConfiguration(maxBatchTokens: 64, maxSequences: 8, cacheTokens: 2048, blockSize: 4,
                                    maxWaiting: 100, stepTargetSeconds: 0)
        c.speculation = SpeculationConfiguration(method: .off, maxDepth: 4, maxBatchTokens: 64)
        let e = Engine(model: PatternModel(), endOfGeneration: [], configuration: c)
        e.start()
        return e
    }

    func testMasksAreMadeDuringTheForwardPassAndHold() throws {
        let grammar = TokenGrammar(grammar: try GrammarSpec.regex("(ab|cd|e)+").compile(), trie: Self.trie)
        let e = Self.startedEngine()
        var reqs: [(GenerationRequest, Collector)] = []
        for i in 0..<6 {
            var r = GenerationRequest(id: "g\(i)", promptTokens: [Int32(i), 3, 1], maxTokens: 30)
            r.sampling.temperature = 1  // sampled: masks made ahead (greedy ones: the next test)
            r.sampling.seed = UInt64(i)
            if i % 2 == 0 { r.grammar = grammar }  // the others run free beside them
            reqs.append((r, Collector()))
        }
        for (r, col) in reqs { XCTAssertNoThrow(try e.submit(r, sink: col.sink)) }
        for (_, col) in reqs { XCTAssertEqual(col.wait(), .length) }
        let s = e.idleSnapshot()
        e.shutdown()
        for (r, col) in reqs where r.grammar != nil {
            XCTAssertEqual(col.tokens.count, 30)
            let text = col.tokens.map { UInt8(ascii: "a") + UInt8($0) }
            XCTAssertTrue(grammar.grammar.acceptsPrefix(text), String(decoding: text, as: UTF8.self))
        }
        let free = reqs.filter { $0.0.grammar == nil }.map(\.1.tokens)
        XCTAssertTrue(free.contains { t in t.contains { $0 > 4 } }, "unconstrained sequences were masked")
        XCTAssertEqual(s.grammarMasks, 3 * 30, "one mask per constrained token")
        XCTAssertEqual(s.grammarMasksOverlapped, s.grammarMasks, "every mask made beside the forward pass")
    }

    /// Greedy constrained sequences: the same tokens whether each step makes a mask (confidence
    /// asked for) or takes the model's best when the grammar allows it; masks only where it did not.
    func testGreedySequencesSkipMasksTheGrammarAllows() throws {
        let grammar = TokenGrammar(grammar: try GrammarSpec.regex("(ab|cd|e|f[a-k])+").compile(), trie: Self.trie)
        func run(measure: Bool) throws -> ([[Int32]], EngineStats) {
            let e = Self.startedEngine()
            var reqs: [(GenerationRequest, Collector)] = []
            for i in 0..<4 {
                var r = GenerationRequest(id: "g\(i)", promptTokens: [Int32(i), 5, 1], maxTokens: 24)
                r.sampling.temperature = 0
                r.grammar = grammar
                r.measureConfidence = measure
                r.confidenceRequested = measure
                reqs.append((r, Collector()))
            }
            for (r, col) in reqs { try e.submit(r, sink: col.sink) }
            for (_, col) in reqs { XCTAssertEqual(col.wait(), .length) }
            let s = e.idleSnapshot()
            e.shutdown()
            return (reqs.map(\.1.tokens), s)
        }
        let (masked, m) = try run(measure: true)
        let (fast, f) = try run(measure: false)
        XCTAssertEqual(fast, masked, "greedy tokens differ without masks")
        for tokens in fast {
            let text = tokens.map { UInt8(ascii: "a") + UInt8($0) }
            XCTAssertTrue(grammar.grammar.acceptsPrefix(text), String(decoding: text, as: UTF8.self))
        }
        XCTAssertEqual(m.grammarMasks, 4 * 24)
        XCTAssertEqual(m.grammarFastPicks, 0)
        XCTAssertGreaterThan(f.grammarFastPicks, 0, "the grammar never allowed the model's best token")
        XCTAssertEqual(f.grammarFastPicks + f.grammarMasks, 4 * 24)
        XCTAssertEqual(f.grammarMasksOverlapped, 0, "no mask is made ahead for greedy sequences")
    }

    /// A lazy grammar (a tool call under `auto`): the text is free until the trigger, then held by
    /// the grammar, sampled (masks made ahead once constraining) and greedy alike.
    func testLazyGrammarHoldsFromItsTrigger() throws {
        let grammar = TokenGrammar(grammar: try GrammarSpec.regex("e(ab|cd)+").compile(), trie: Self.trie)
        let e = Self.startedEngine()
        var reqs: [(GenerationRequest, Collector)] = []
        for i in 0..<6 {
            var r = GenerationRequest(id: "l\(i)", promptTokens: [Int32(i), 7, 2], maxTokens: 40)
            r.sampling.temperature = i < 4 ? 1 : 0
            r.sampling.seed = UInt64(i)
            r.grammar = grammar
            r.lazyGrammar = LazyGrammar(triggers: [.init(marker: "e")], rearm: false)
            reqs.append((r, Collector()))
        }
        for (r, col) in reqs { XCTAssertNoThrow(try e.submit(r, sink: col.sink)) }
        for (_, col) in reqs { XCTAssertEqual(col.wait(), .length) }
        let s = e.idleSnapshot()
        e.shutdown()
        var triggered = 0, freeLetters = 0, constrainedTokens = 0
        for (_, col) in reqs {
            let text = col.tokens.map { UInt8(ascii: "a") + UInt8($0) }
            guard let start = text.firstIndex(of: UInt8(ascii: "e")) else { continue }
            triggered += 1
            freeLetters += text[..<start].filter { $0 > UInt8(ascii: "e") }.count
            constrainedTokens += text.count - start - 1
            XCTAssertTrue(grammar.grammar.acceptsPrefix(Array(text[start...])), String(decoding: text, as: UTF8.self))
        }
        XCTAssertGreaterThanOrEqual(triggered, 3, "too few sequences met the trigger to test anything")
        XCTAssertGreaterThan(freeLetters, 0, "the text before the trigger was constrained")
        XCTAssertLessThanOrEqual(s.grammarMasks + s.grammarFastPicks, constrainedTokens, "masks made before a trigger")
    }
}
