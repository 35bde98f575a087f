import XCTest
import Kernels
@testable import Model

/// `forward(_:cache:into:)`, the engine's form: the array it is given (whatever it held, longer or
/// shorter than the step's logits) comes back as exactly the logits `forward` returns.
final class ForwardIntoTests: XCTestCase {
    func testReusedArrayGivesTheFreshArraysLogits() throws {
        for name in ["qwen2", "gemma3"] {
            let model = try LoadedModel(path: TinyModelTests.fixtureURL("\(name).tiny.gguf").path, threads: 2)
            let v = model.config.vocabSize
            let ids: [Int32] = [1, 5, 9, 2, 7, 3, 8]
            // Steps of 3, 1 and 2 logits rows: the reused array grows, shrinks and grows again.
            let steps: [[BatchSequence.Logits]] = [[.all], [.last], [.last, .last]]
            var reused = [Float](repeating: .nan, count: 5 * v + 3)  // stale values, a size no step has
            for modes in steps {
                let batch = { (cache: KVCacheStorage) in
                    try modes.enumerated().map { i, mode in
                        BatchSequence(tokens: mode == .all ? Array(ids.prefix(3)) : ids, startPosition: 0,
                                      blockTable: [Int32(2 * i), Int32(2 * i + 1)], logits: mode)
                    }
                }
                let fresh = model.model.makeCacheStorage(tokens: 32, blockSize: 4, type: .f32)
                let want = try model.model.forward(try batch(fresh), cache: fresh)
                let again = model.model.makeCacheStorage(tokens: 32, blockSize: 4, type: .f32)
                try model.model.forward(try batch(again), cache: again, into: &reused)
                XCTAssertEqual(reused.count, want.count, name)
                XCTAssertEqual(zip(reused, want).filter { $0.0 != $0.1 }.count, 0, "\(name): \(modes)")
            }
            // A step with no logits leaves the array empty (its storage kept).
            let cache = model.model.makeCacheStorage(tokens: 32, blockSize: 4, type: .f32)
            try model.model.forward([BatchSequence(tokens: ids, startPosition: 0, blockTable: [0, 1], logits: .none)],
                                    cache: cache, into: &reused)
            XCTAssertTrue(reused.isEmpty, name)
        }
    }
}
