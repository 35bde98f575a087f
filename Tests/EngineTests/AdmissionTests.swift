import Foundation
import XCTest
@testable import Engine
import Kernels
import Model

/// Admission while a step runs: what waits in the engine's inbox.
final class AdmissionTests: XCTestCase {
    /// PatternModel whose passes wait at a gate the test opens: the engine thread is held inside
    /// a step while the test sends messages.
    final class GatedModel: BatchModel, @unchecked Sendable {
        let inner = PatternModel()
        var vocabSize: Int { inner.vocabSize }
        var contextLength: Int { inner.contextLength }
        let entered = DispatchSemaphore(value: 0)
        private let gate = NSCondition()
        private var open = false

        func makeCacheStorage(tokens: Int, blockSize: Int, type: KVCacheType) -> KVCacheStorage {
            inner.makeCacheStorage(tokens: tokens, blockSize: blockSize, type: type)
        }
        func forward(_ batch: [BatchSequence], cache: KVCacheStorage) throws -> [Float] {
            entered.signal()
            gate.withLock { while !open { gate.wait() } }
            return try inner.forward(batch, cache: cache)
        }
        func openGate() { gate.withLock { open = true; gate.broadcast() } }
    }

    /// A client cancels its n=4 stream and sends its next request at once: the four aborts
    /// waiting in the inbox were counted as four waiting requests, and the new one got a 429
    /// (found by a user-level test, 4 times in 4).
    func testAbortsWaitingInTheInboxAreNotQueuedRequests() throws {
        let model = GatedModel()
        let c = EngineConfiguration(maxBatchTokens: 64, maxSequences: 2, cacheTokens: 512, blockSize: 4, maxWaiting: 4,
                                    stepTargetSeconds: 0)
        let e = Engine(model: model, endOfGeneration: [], configuration: c)
        e.start()
        let first = (0..<4).map { i in GenerationRequest(id: "a\(i)", promptTokens: [1, 2, 3], maxTokens: 40) }
        let cs = first.map { _ in Collector() }
        for (r, col) in zip(first, cs) { try e.submit(r, sink: col.sink) }
        model.entered.wait()  // the first step runs two of them; two wait
        for r in first { e.abort(r.id) }
        let next = Collector()
        XCTAssertNoThrow(try e.submit(GenerationRequest(id: "b", promptTokens: [4, 5], maxTokens: 3), sink: next.sink))
        model.openGate()
        for col in cs { XCTAssertEqual(col.wait(), .aborted) }
        XCTAssertEqual(next.wait(), .length)
        XCTAssertEqual(next.tokens.count, 3)
        e.shutdown()
    }
}
