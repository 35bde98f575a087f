import XCTest
@testable import Engine
import Grammar
import Model

/// Constrained sequences in the engine: their masks are made during the forward pass, and
/// every token they emit keeps the text inside their grammar, beside unconstrained sequences.
final class GrammarEngineTests: XCTestCase {
    /// PatternModel's 11 tokens spell "a" … "k".
    static let trie = TokenTrie(tokens: (0..<11).map { [UInt8(ascii: "a") + UInt8($0)] })

    func testMasksAreMadeDuringTheForwardPassAndHold() throws {
        let grammar = TokenGrammar(grammar: try GrammarSpec.regex("(ab|cd|e)+").compile(), trie: Self.trie)
        var c = EngineConfiguration(maxBatchTokens: 64, maxSequences: 8, cacheTokens: 2048, blockSize: 4,
                                    maxWaiting: 100, stepTargetSeconds: 0)
        c.speculation = SpeculationConfiguration(method: .off, maxDepth: 4, maxBatchTokens: 64)
        let e = Engine(model: PatternModel(), endOfGeneration: [], configuration: c)
        e.start()
        var reqs: [(GenerationRequest, Collector)] = []
        for i in 0..<6 {
            var r = GenerationRequest(id: "g\(i)", promptTokens: [Int32(i), 3, 1], maxTokens: 30)
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
}
