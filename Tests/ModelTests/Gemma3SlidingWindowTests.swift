import Foundation
import XCTest
import Kernels
@testable import Model

/// Gemma 3's sliding-window layers keep a ring of blocks over their window: past the
/// window (512), the logits equal those of the unbounded layout (every position kept),
/// and the cache costs the global layers' bytes per token plus a fixed ring.
final class Gemma3SlidingWindowTests: XCTestCase {
    func model() throws -> LoadedModel {
        let path = Gemma3Tests.modelPath
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("Gemma 3 270M is not downloaded (\(path)): run `jeton pull gemma3-270m` to enable these tests")
        }
        if let m = Gemma3Tests.loaded { return m }
        let m = try LoadedModel(path: path, threads: ProcessInfo.processInfo.activeProcessorCount)
        Gemma3Tests.loaded = m
        return m
    }

    /// A prompt of `count` tokens from ordinary text, so the model sees language.
    func tokens(_ m: LoadedModel, count: Int) -> [Int32] {
        var ids: [Int32] = []
        var i = 0
        while ids.count < count {
            ids += m.tokenizer.encode("Paragraph \(i): the river ran past the mill, and the miller counted sacks of grain. ",
                                      addSpecial: ids.isEmpty)
            i += 1
        }
        return Array(ids.prefix(count))
    }

    func testRingMatchesUnboundedLayoutBeyondTheWindow() throws {
        let m = try model()
        XCTAssertEqual(m.model.slidingWindow, 512)
        let v = m.config.vocabSize
        // Chunks of 100 wrap the ring several times within the prompt; generation wraps it again.
        let bounded = Generator(m, capacity: 1024, chunkSize: 100)
        let unbounded = Generator(m, capacity: 1024, chunkSize: 100, boundedWindow: false)
        let prompt = tokens(m, count: 700)
        var a = try bounded.evaluate(prompt), b = try unbounded.evaluate(prompt)
        var worst: Float = 0
        for step in 0..<24 {
            XCTAssertEqual(a.count, v)
            worst = max(worst, zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) })
            let next = Int32(b.indices.max { b[$0] < b[$1] } ?? 0)
            XCTAssertEqual(Int32(a.indices.max { a[$0] < a[$1] } ?? 0), next, "step \(step)")
            a = try bounded.evaluate([next])
            b = try unbounded.evaluate([next])
        }
        // The same keys and values at the same positions, read in the same order: equal logits.
        XCTAssertEqual(worst, 0, "bounded and unbounded layouts differ by \(worst)")
        print("gemma3 ring vs unbounded over 724 positions: worst logit difference \(worst)")
    }

    func testCacheBytesAreBoundedByTheWindowInSlidingLayers() throws {
        let m = try model()
        let c = m.config
        let perLayerToken = 2 * c.kvDim * KVCacheType.f16.elementBytes
        let globals = c.slidingLayers.filter { !$0 }.count, locals = c.layers - globals
        let ring = KVCacheStorage.ringBlocks(window: 512, maxChunk: 512, blockSize: 16) * 16  // 1,040 slots
        var last: (context: Int, bytes: Int)?
        for context in [2048, 8192, 32768] {
            let bounded = Generator(m, capacity: context).cacheBytes
            let unbounded = Generator(m, capacity: context, boundedWindow: false).cacheBytes
            XCTAssertEqual(unbounded, c.layers * context * perLayerToken)
            XCTAssertEqual(bounded, (globals * context + locals * ring) * perLayerToken)
            // A longer context costs the global layers only.
            if let l = last { XCTAssertEqual(bounded - l.bytes, globals * (context - l.context) * perLayerToken) }
            last = (context, bounded)
            print("gemma3 KV bytes per sequence at \(context) tokens: \(unbounded >> 20) MiB unbounded, \(bounded >> 20) MiB with rings")
        }
    }
}
