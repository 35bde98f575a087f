import Foundation
import XCTest
@testable import Engine
import Model

/// Each generated token's confidence is TokenConfidence.measure over the row it was drawn from
/// (the model's logits after bias and penalties), whether the pick is greedy (measured in place,
/// from the pick's value) or sampled (measured on a copy taken before the draw changes the row).
final class ConfidenceEngineTests: XCTestCase {
    final class Recorder: @unchecked Sendable {
        let cond = NSCondition()
        var tokens: [Int32] = [], confidences: [TokenConfidence?] = [], done = false
        var sink: GenerationSink {
            { [self] e in
                cond.lock()
                switch e {
                case let .token(t, _, c, _): tokens.append(t); confidences.append(c)
                case .finished: done = true
                case .promptLogprobs: break
                }
                cond.broadcast()
                cond.unlock()
            }
        }
        func wait() {
            cond.lock()
            defer { cond.unlock() }
            let deadline = Date().addingTimeInterval(30)
            while !done {
                if !cond.wait(until: deadline) { XCTFail("timed out"); return }
            }
        }
    }

    /// FakeModel's row after `history` with `sampling`'s bias and penalties applied, as the sampler adjusts it.
    func adjustedRow(after history: [Int32], prompt: Int, sampling: SamplingParameters, vocab: Int) -> [Float] {
        var row = [Float](repeating: 0, count: vocab)
        row[Int(FakeModel.next(after: history, vocab: vocab))] = 10
        var s = Sampler(sampling, promptTokens: Array(history[..<prompt]))
        for t in history[prompt...] { s.accept(t) }
        row.withUnsafeMutableBufferPointer { s.adjust($0) }
        return row
    }

    func testConfidenceIsTheDrawnRowsMeasure() throws {
        let vocab = 97
        let engine = Engine(model: FakeModel(vocab: vocab), endOfGeneration: [],
                            configuration: .init(maxBatchTokens: 64, maxSequences: 8, cacheTokens: 4096, blockSize: 16))
        engine.start()
        defer { engine.shutdown() }
        var cases: [(GenerationRequest, Recorder)] = []
        // Greedy, top_k 1 at a temperature (an argmax pick measured at that temperature), sampled.
        for (i, (temperature, topK)) in [(Float(0), 0), (0.7, 1), (0.8, 0), (1.3, 0)].enumerated() {
            var r = GenerationRequest(id: "c\(i)", promptTokens: [Int32(i + 3), 9, 4], maxTokens: 12)
            r.sampling.temperature = temperature
            r.sampling.topK = topK
            r.sampling.seed = UInt64(i)
            r.sampling.logitBias = [5: 2.5, 11: -1]
            r.sampling.frequencyPenalty = 0.4
            r.ignoreEOS = true
            r.measureConfidence = true
            cases.append((r, Recorder()))
        }
        for (r, rec) in cases { try engine.submit(r, sink: rec.sink) }
        for (r, rec) in cases {
            rec.wait()
            XCTAssertEqual(rec.tokens.count, 12, r.id)
            var history = r.promptTokens
            for (token, confidence) in zip(rec.tokens, rec.confidences) {
                let row = adjustedRow(after: history, prompt: r.promptTokens.count, sampling: r.sampling, vocab: vocab)
                let want = row.withUnsafeBufferPointer {
                    TokenConfidence.measure($0, chosen: token, temperature: TokenConfidence.temperature(for: r.sampling))
                }
                XCTAssertEqual(confidence, want, "\(r.id) after \(history)")
                history.append(token)
            }
        }
    }
}
