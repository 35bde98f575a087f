import Foundation
import XCTest
@testable import Engine
import Grammar
import Kernels
import Model

/// A draft that scores only the first part of its vocabulary (`speculative.draft_vocabulary`):
/// each sequence's own tokens past it are scored too, and a sequence written mostly in them
/// gets the whole vocabulary; the target's tokens never change.
final class DraftVocabularyTests: XCTestCase {
    /// A PatternModel of order 2 that scores tokens 0..<logitRows, plus what each sequence asks
    /// for (its `alsoScored`, or everything); records what the proposing sequences asked for.
    final class PartialDraft: PatternModelWrapper {
        let inner = PatternModel(order: 2)
        let logitRows: Int
        private(set) var asked: [(also: [Int32], whole: Bool, rows: Int?)] = []

        init(logitRows: Int) { self.logitRows = logitRows }

        func forward(_ batch: [BatchSequence], cache: KVCacheStorage) throws -> [Float] {
            var out = try inner.forward(batch, cache: cache)
            let v = vocabSize
            var row = 0
            for seq in batch where seq.logits != .none {
                XCTAssertEqual(seq.logits, .last)
                asked.append((seq.alsoScored, seq.scoresWholeVocabulary, seq.scoredRows))
                if !seq.scoresWholeVocabulary {
                    let first = min(logitRows, seq.scoredRows ?? logitRows)
                    for t in first..<v where !seq.alsoScored.contains(Int32(t)) { out[row * v + t] = -.infinity }
                }
                row += 1
            }
            return out
        }
    }

    func engine(draft: BatchModel?, commonRows: Int = 0) -> Engine {
        var c = EngineConfiguration(maxBatchTokens: 128, maxSequences: 8, cacheTokens: 4096, blockSize: 4,
                                    maxWaiting: 100, stepTargetSeconds: 0)
        var s = SpeculationConfiguration(method: draft == nil ? .off : .draft, maxDepth: 4, maxBatchTokens: 64)
        s.lookupFirst = false
        s.draftCommonRows = commonRows
        c.speculation = s
        let e = Engine(model: PatternModel(), endOfGeneration: [], configuration: c, draft: draft)
        e.scheduler.speculationCost = .measuredLike
        return e
    }

    func run(_ e: Engine, _ reqs: [GenerationRequest]) -> [[Int32]] {
        e.start()
        let cs = reqs.map { _ in Collector() }
        for (r, c) in zip(reqs, cs) { XCTAssertNoThrow(try e.submit(r, sink: c.sink)) }
        for c in cs { XCTAssertEqual(c.wait(), .length) }
        e.shutdown()
        return cs.map(\.tokens)
    }

    func testGreedyTokensStayTheTargetsWithASmallerDraftVocabulary() {
        // Tokens 8, 9 and 10 lie past the draft's first 8: one prompt never uses them, one
        // once in 120 tokens, one in a third of its tokens.
        let none: [Int32] = (0..<120).map { (i: Int) -> Int32 in Int32(i * 5 % 8) }
        var once = none
        once[60] = 9
        let many: [Int32] = (0..<120).map { (i: Int) -> Int32 in i % 3 == 0 ? 8 + Int32(i / 3 % 3) : Int32(i % 8) }
        let reqs = [none, once, many].enumerated().map { GenerationRequest(id: "v\($0)", promptTokens: $1, maxTokens: 40) }
        let plain = run(engine(draft: nil), reqs)
        let draft = PartialDraft(logitRows: 8)
        let spec = engine(draft: draft)
        XCTAssertEqual(run(spec, reqs), plain)
        XCTAssertGreaterThan(spec.idleSnapshot().speculativeAccepted, 0)
        // Among the proposals: nothing extra (the first prompt's), its one rare token (the
        // second's), everything (the third's).
        XCTAssertTrue(draft.asked.contains { $0.also.isEmpty && !$0.whole })
        XCTAssertTrue(draft.asked.contains { $0.also == [9] && !$0.whole })
        XCTAssertTrue(draft.asked.contains { $0.whole })
        for a in draft.asked {
            XCTAssertEqual(Set(a.also).count, a.also.count, "each token once")
            XCTAssertTrue(a.also.allSatisfy { $0 >= 8 && $0 < 11 })
        }
        // Alone, every proposal of the second asks for its rare token (deeper ones too), until
        // its answer's rare tokens make it score everything.
        let alone = PartialDraft(logitRows: 8)
        _ = run(engine(draft: alone), [reqs[1]])
        XCTAssertGreaterThan(alone.asked.count, 3)
        XCTAssertTrue(alone.asked.allSatisfy { $0.whole || $0.also.first == 9 }, "\(alone.asked)")
    }

    /// A common part (the first 5 of the draft's 8): a sequence with at most one token in 7
    /// past it scores only that part and its own tokens past it, one with more the draft's 8; the
    /// target's tokens never change.
    func testGreedyTokensStayTheTargetsWithACommonPart() {
        let common: [Int32] = (0..<120).map { (i: Int) -> Int32 in i == 60 ? 6 : Int32(i * 3 % 5) }
        let wider: [Int32] = (0..<120).map { (i: Int) -> Int32 in Int32(i * 5 % 8) }
        let reqs = [common, wider].enumerated().map { GenerationRequest(id: "c\($0)", promptTokens: $1, maxTokens: 40) }
        let plain = run(engine(draft: nil), reqs)
        let draft = PartialDraft(logitRows: 8)
        let spec = engine(draft: draft, commonRows: 5)
        XCTAssertEqual(run(spec, reqs), plain)
        XCTAssertGreaterThan(spec.idleSnapshot().speculativeAccepted, 0)
        XCTAssertTrue(draft.asked.contains { $0.rows == 5 && $0.also.contains(6) && !$0.whole }, "\(draft.asked)")
        // Every proposal of the first (its own token 6, its tokens below 5 but for that one), the
        // later ones of a step too, scores the common part alone.
        XCTAssertTrue(draft.asked.filter { $0.also == [6] }.allSatisfy { $0.rows == 5 }, "\(draft.asked)")
        XCTAssertGreaterThan(draft.asked.filter { $0.also == [6] }.count, 3)
        XCTAssertTrue(draft.asked.contains { $0.rows == nil && !$0.whole })
        // Without the common part nobody asks for fewer rows.
        let plainDraft = PartialDraft(logitRows: 8)
        XCTAssertEqual(run(engine(draft: plainDraft), reqs), plain)
        XCTAssertTrue(plainDraft.asked.allSatisfy { $0.rows == nil })
    }

    /// A grammar that allows only tokens past the draft's first 8 (letters i, j, k) leaves some
    /// draft rows with no token at all: those propose nothing, on every path; the tokens are
    /// still the target's and the grammar's.
    func testAGrammarAllowingNoneOfTheDraftsTokensProposesNothingThere() throws {
        let trie = TokenTrie(tokens: (0..<11).map { [UInt8(ascii: "a") + UInt8($0)] })
        let grammar = TokenGrammar(grammar: try GrammarSpec.regex("(ij|k)+").compile(), trie: trie)
        let prompt: [Int32] = (0..<200).map { (i: Int) -> Int32 in Int32(i * 3 % 8) }
        for sampling in [SamplingParameters.greedy, SamplingParameters(temperature: 0.9),
                         SamplingParameters(temperature: 0.9, seed: 5)] {
            let reqs = (0..<3).map { i in
                var r = GenerationRequest(id: "g\(i)", promptTokens: prompt + [Int32(i)], sampling: sampling, maxTokens: 12)
                r.grammar = grammar
                return r
            }
            let spec = engine(draft: PartialDraft(logitRows: 8))
            let b = run(spec, reqs)
            for t in b {
                let text = t.map { UInt8(ascii: "a") + UInt8($0) }
                XCTAssertEqual(t.count, 12)
                XCTAssertTrue(grammar.grammar.acceptsPrefix(text), String(decoding: text, as: UTF8.self))
            }
            if sampling.temperature == 0 || sampling.seed != nil { XCTAssertEqual(run(engine(draft: nil), reqs), b) }
            // The row itself: the draft scored tokens 0..<8, the grammar allows 8, 9, 10 only.
            let e = engine(draft: PartialDraft(logitRows: 8))
            let r = Request(request: reqs[0], sink: { _ in }, arrival: 0)
            var matcher = r.matcher
            var row: [Float] = (0..<11).map { $0 < 8 ? Float($0) : -.infinity }
            let (token, goesOn) = row.withUnsafeMutableBufferPointer {
                e.proposeToken(r, logits: $0, position: r.tokens.count, first: true, grammar: &matcher)
            }
            XCTAssertNil(token, "\(sampling)")
            XCTAssertFalse(goesOn)
            XCTAssertTrue(e.draftDistributions.isEmpty)
        }
    }

    /// The rule itself: distinct tokens past the first in order of appearance, kept up to date
    /// as the sequence grows; the whole vocabulary past one token in 50 there.
    func testOwnTokensAndTheShareRule() {
        let r = Request(request: GenerationRequest(id: "r", promptTokens: Array(repeating: 1, count: 99) + [700], maxTokens: 4),
                        sink: { _ in }, arrival: 0)
        var v = r.draftVocabulary(first: 500)
        XCTAssertEqual(v.own, [700])
        XCTAssertFalse(v.whole)
        r.tokens += [3, 600, 700]
        v = r.draftVocabulary(first: 500)
        XCTAssertEqual(v.own, [700, 600])
        XCTAssertTrue(v.whole, "3 of 103 tokens")
        XCTAssertEqual(r.draftVocabulary(first: 500).own, [700, 600], "nothing new: the same")
        // Tokens scored always (control tokens) come first and never count as rare.
        let c = Request(request: GenerationRequest(id: "c", promptTokens: [900, 1, 2, 901, 3, 900], maxTokens: 4),
                        sink: { _ in }, arrival: 0)
        v = c.draftVocabulary(first: 500, always: [901, 900, 7])
        XCTAssertEqual(v.own, [900, 901])
        XCTAssertFalse(v.whole)
        XCTAssertNil(v.rows)
    }

    /// The common part: its rows while at most one token in 7 lies past it (control tokens
    /// aside), the larger part past that, the whole vocabulary past one in 50 past the larger.
    func testCommonPartRule() {
        // 14 tokens: 2 past 300 (one past 500) is one in 7.
        let r = Request(request: GenerationRequest(id: "r", promptTokens: Array(repeating: 1, count: 12) + [350, 350], maxTokens: 4),
                        sink: { _ in }, arrival: 0)
        var v = r.draftVocabulary(first: 500, common: 300, always: [320, 900])
        XCTAssertEqual(v.own, [320, 900, 350], "control tokens past the common part first, then the sequence's")
        XCTAssertEqual(v.rows, 300)
        XCTAssertFalse(v.whole)
        r.tokens += [400]
        v = r.draftVocabulary(first: 500, common: 300, always: [320, 900])
        XCTAssertNil(v.rows, "3 of 15 tokens past the common part")
        XCTAssertEqual(v.own, [320, 900, 350, 400])
        r.tokens += Array(repeating: 2, count: 6) + [320, 320, 320, 900]
        v = r.draftVocabulary(first: 500, common: 300, always: [320, 900])
        XCTAssertEqual(v.rows, 300, "3 of 25, control tokens aside")
        r.tokens += [600]
        v = r.draftVocabulary(first: 500, common: 300, always: [320, 900])
        XCTAssertTrue(v.whole, "one of 26 past the larger part")
        XCTAssertNil(v.rows)
        // No common part, or one not below the larger: the larger part.
        XCTAssertNil(r.draftVocabulary(first: 500).rows)
        let q = Request(request: GenerationRequest(id: "q", promptTokens: Array(repeating: 1, count: 20), maxTokens: 4),
                        sink: { _ in }, arrival: 0)
        XCTAssertNil(q.draftVocabulary(first: 500, common: 600).rows)
    }
}
