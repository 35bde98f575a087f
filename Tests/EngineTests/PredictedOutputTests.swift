import XCTest
@testable import Engine
import Model

/// Predicted Outputs: the client's expected answer proposed as speculation. The tokens must be
/// those of the same request without a prediction, whatever the prediction says; a right one
/// saves steps, with the server's own speculation off.
final class PredictedOutputTests: XCTestCase {
    // MARK: - the tracker

    func testFollowsThePredictionAndProposesWhatComesNext() {
        var p = PredictedOutput(tokens: [10, 11, 12, 13, 14, 15])
        XCTAssertEqual(p.propose(output: [], maxCount: 3), [10, 11, 12])
        XCTAssertEqual(p.propose(output: [10, 11], maxCount: 3), [12, 13, 14])
        XCTAssertEqual(p.propose(output: [10, 11, 12, 13, 14, 15], maxCount: 3), [], "past its end")
    }

    func testAnEditIsLeftAndTheTrackFoundAfterIt() {
        // The answer replaces 12 13 by 40 41 42, then goes on with the prediction's 14 15 16.
        var p = PredictedOutput(tokens: [10, 11, 12, 13, 14, 15, 16, 17])
        _ = p.propose(output: [10, 11], maxCount: 4)
        XCTAssertEqual(p.propose(output: [10, 11, 40, 41], maxCount: 4), [], "off the prediction, no run of it matches")
        XCTAssertNil(p.cursor)
        XCTAssertEqual(p.propose(output: [10, 11, 40, 41, 42, 14, 15], maxCount: 2), [16, 17])
    }

    func testARepeatedRunIsFoundAfterThePointOfLeaving() {
        // "1 2" occurs twice; the answer left the prediction at index 4, so the later one is meant.
        var p = PredictedOutput(tokens: [1, 2, 3, 9, 8, 1, 2, 5, 6])
        _ = p.propose(output: [1, 2, 3, 9], maxCount: 2)
        XCTAssertEqual(p.propose(output: [1, 2, 3, 9, 7, 1, 2], maxCount: 2), [5, 6])
        // Nothing after that point: the last occurrence before it.
        var q = PredictedOutput(tokens: [1, 2, 3, 4, 5, 6])
        _ = q.propose(output: [1, 2, 3, 4, 5], maxCount: 1)
        XCTAssertEqual(q.propose(output: [1, 2, 3, 4, 5, 7, 2, 3], maxCount: 2), [4, 5])
    }

    func testAShorterRunAfterThePointOfLeavingBeatsALongerOneBefore() {
        // Left at 5; "2 3 4" occurs only before that point, "3 4" again after it, where the answer goes on.
        var p = PredictedOutput(tokens: [1, 2, 3, 4, 9, 9, 5, 3, 4, 6, 7])
        _ = p.propose(output: [1, 2, 3, 4, 9], maxCount: 1)
        XCTAssertEqual(p.propose(output: [1, 2, 3, 4, 9, 8, 2, 3, 4], maxCount: 2), [6, 7])
    }

    func testALongRepetitivePredictionIsFoundAgainNearThePointOfLeaving() {
        // 3,000 repeats of "7 8" then "7 8 9 5": the run "7 8" starts everywhere, "8 9" once.
        let tokens = Array(repeatElement([Int32(7), 8], count: 3000).joined()) + [7, 8, 9, 5, 6]
        var p = PredictedOutput(tokens: tokens)
        var output = Array(tokens[0..<4000])
        XCTAssertEqual(p.propose(output: output[...], maxCount: 2), [7, 8])
        // Off at 4,000 (a 1 for a 7), back on with "7 8": the first run after the point of leaving.
        output += [1, 7, 8]
        XCTAssertEqual(p.propose(output: output[...], maxCount: 3), [7, 8, 7])
        XCTAssertEqual(p.cursor, 4002)
        // "8 9" occurs once, 2,000 tokens past the point of leaving.
        output += [3, 8, 9]
        XCTAssertEqual(p.propose(output: output[...], maxCount: 3), [5, 6])
    }

    // MARK: - through the engine

    func engine(maxDepth: Int = 8, method: SpeculationConfiguration.Method = .off, vocab: Int = 50) -> Engine {
        var c = EngineConfiguration(maxBatchTokens: 64, maxSequences: 8, cacheTokens: 4096, blockSize: 4, stepTargetSeconds: 0)
        c.speculation = SpeculationConfiguration(method: method, maxDepth: maxDepth, maxBatchTokens: 32)
        let e = Engine(model: PatternModel(vocab: vocab), endOfGeneration: [], configuration: c)
        e.scheduler.speculationCost = .measuredLike
        return e
    }

    let prompt: [Int32] = [3, 14, 15, 9, 26, 5]
    let prompt11: [Int32] = [3, 1, 4, 1, 5, 9]

    /// The greedy answer of PatternModel(vocab:) to `prompt` (50: no cycle within 48 tokens; 11: cycles
    /// prompt lookup finds).
    func oracle(_ n: Int, vocab: Int = 50) -> [Int32] {
        var h = vocab == 50 ? prompt : prompt11, out: [Int32] = []
        for _ in 0..<n { let t = PatternModel.next(after: h.suffix(3), vocab: vocab); out.append(t); h.append(t) }
        return out
    }

    func run(_ prediction: [Int32], sampling: SamplingParameters = .greedy, speculative: Bool = true,
             method: SpeculationConfiguration.Method = .off, vocab: Int = 50) -> (Collector, EngineStats) {
        let e = engine(method: method, vocab: vocab)
        var r = GenerationRequest(id: "p", promptTokens: vocab == 50 ? prompt : prompt11, sampling: sampling, maxTokens: 48)
        r.prediction = prediction
        r.speculative = speculative
        let c = runAll(e, [r])[0]
        let s = e.idleSnapshot()
        XCTAssertEqual(s.usedBlocks, 0, "blocks left after the request ended")
        e.shutdown()
        return (c, s)
    }

    func testARightPredictionSavesStepsAndChangesNoToken() {
        let want = oracle(48)
        let (plain, plainStats) = run([])
        XCTAssertEqual(plain.tokens, want)
        XCTAssertEqual(plainStats.speculativeProposed, 0, "speculation is off and nothing was predicted")
        let (c, s) = run(want)
        XCTAssertEqual(c.tokens, want)
        XCTAssertEqual(c.speculation.accepted, s.speculativePredictionAccepted)
        XCTAssertGreaterThan(s.speculativePredictionAccepted, 30)
        XCTAssertEqual(s.speculativeLookupProposed, 0, "the prediction is the only proposer")
        XCTAssertLessThan(s.steps, plainStats.steps / 2, "accepted predictions take no step of their own")
    }

    func testAnEditedPredictionGivesTheSameTokensAndIsFoundAgain() {
        let want = oracle(48)
        // The prediction has a span the answer replaces, and a missing span: both are left and found again.
        let edited = Array(want[0..<10]) + [1, 2, 3, 4] + Array(want[14..<30]) + Array(want[36...])
        let (c, s) = run(edited)
        XCTAssertEqual(c.tokens, want)
        XCTAssertGreaterThan(s.speculativePredictionAccepted, 20, "the track was not found after the edits")
        XCTAssertLessThan(s.speculativePredictionAccepted, s.speculativePredictionProposed, "no proposal was rejected")
        // A prediction unrelated to the answer: the same tokens again.
        let (d, _) = run((0..<48).map { Int32(($0 * 7) % 50) })
        XCTAssertEqual(d.tokens, want)
    }

    func testSeededSamplingDrawsTheSameTokensWithAPrediction() {
        let sampling = SamplingParameters(temperature: 0.8, topK: 5, seed: 7)
        let (plain, _) = run([], sampling: sampling)
        let (c, s) = run(Array(plain.tokens.prefix(40)), sampling: sampling)
        XCTAssertEqual(c.tokens, plain.tokens)
        XCTAssertGreaterThan(s.speculativePredictionAccepted, 0)
    }

    func testOptingOutOfSpeculationIgnoresThePrediction() {
        let (c, s) = run(oracle(48), speculative: false)
        XCTAssertEqual(c.tokens, oracle(48))
        XCTAssertEqual(s.speculativeProposed, 0)
    }

    func testWithPromptLookupOnThePredictionProposesAndLookupWhileOffIt() {
        let (c, s) = run(oracle(48), method: .ngram)
        XCTAssertEqual(c.tokens, oracle(48))
        XCTAssertGreaterThan(s.speculativePredictionAccepted, 30)
        XCTAssertEqual(s.speculativeLookupProposed, 0, "on the prediction all the way")
        // A prediction the answer never meets: prompt lookup proposes instead (an answer with cycles).
        let answer = oracle(48, vocab: 11)
        let pairs = Set(zip(answer, answer.dropFirst()).map { [$0.0, $0.1] })
        let (a, b) = (0..<11).flatMap { a in (0..<11).map { (Int32(a), Int32($0)) } }
            .first { $0.0 != $0.1 && $0.0 != answer[0] && !pairs.contains([$0.0, $0.1]) && !pairs.contains([$0.1, $0.0]) }!
        let (d, t) = run((0..<48).map { $0 % 2 == 0 ? a : b }, method: .ngram, vocab: 11)
        XCTAssertEqual(d.tokens, answer)
        XCTAssertEqual(t.speculativePredictionAccepted, 0)
        XCTAssertGreaterThan(t.speculativeLookupProposed, 0, "lookup stood aside while the answer was off the prediction")
        XCTAssertEqual(d.speculation.predictionProposed, t.speculativePredictionProposed)
    }
}
