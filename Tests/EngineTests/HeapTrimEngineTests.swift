import Foundation
import Kernels
import Synchronization
import XCTest
@testable import Engine

final class HeapTrimEngineTests: XCTestCase {
    /// An engine left idle gives the heap back (`HeapTrim`) after a quiet while, however its last
    /// request ended: here by an abort (the API ends a request on a stop string the same way), which
    /// empties the scheduler outside a step; and not while a request runs.
    func testAnIdleEngineTrimsAfterAnAbort() throws {
        let engine = Engine(model: FakeModel(), endOfGeneration: [], configuration: .init(cacheTokens: 1024))
        engine.start()
        defer { engine.shutdown() }
        // The sink runs on the engine's thread: holding it at the first token holds the engine, so
        // the abort is in its inbox before it can step again.
        let first = DispatchSemaphore(value: 0), resume = DispatchSemaphore(value: 0), ended = DispatchSemaphore(value: 0)
        let finish = Mutex<FinishReason?>(nil), tokens = Mutex(0)
        try engine.submit(GenerationRequest(id: "long", promptTokens: [5, 6, 7, 8], maxTokens: 900)) { event in
            switch event {
            case .token:
                if tokens.withLock({ $0 += 1; return $0 }) == 1 { first.signal(); resume.wait() }
            case let .finished(reason, _, _, _, _):
                finish.withLock { $0 = reason }
                ended.signal()
            case .promptLogprobs:
                break
            }
        }
        XCTAssertEqual(first.wait(timeout: .now() + 30), .success)
        let before = HeapTrim.quietTrims
        engine.abort("long")
        resume.signal()
        XCTAssertEqual(ended.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(finish.withLock { $0 }, .aborted)
        XCTAssertEqual(tokens.withLock { $0 }, 1, "the engine stepped before the abort")
        let deadline = Date().addingTimeInterval(HeapTrim.quietSeconds + 10)
        while HeapTrim.quietTrims == before && Date() < deadline { usleep(20_000) }
        XCTAssertGreaterThan(HeapTrim.quietTrims, before, "no trim after the engine went idle")
    }
}
