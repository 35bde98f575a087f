import XCTest
import Model

/// The forward pass against reference data from a float64 implementation and
/// llama.cpp (Tests/ModelTests/Fixtures, copied from shared/reference).
final class ReferenceAgreementTests: XCTestCase {
    nonisolated(unsafe) static var loaded: LoadedModel?  // XCTest runs a class's tests one at a time

    func model() throws -> LoadedModel {
        if let m = Self.loaded { return m }
        let path = ReferenceData.modelPath
        guard FileManager.default.fileExists(atPath: path) else {
            XCTFail("default model missing at \(path): run scripts/fetch-model.sh (or jeton pull) first")
            throw XCTSkip("no model")
        }
        let m = try LoadedModel(path: path, threads: ProcessInfo.processInfo.activeProcessorCount)
        Self.loaded = m
        return m
    }

    func testTopLogitsMatchReference() throws {
        let gen = Generator(try model(), capacity: 256)
        for c in try ReferenceData.greedyCases() {
            gen.reset()
            let logits = try gen.evaluate(c.prompt_ids)
            let ours = logits.enumerated().sorted { $0.element > $1.element }.prefix(10).map { Int32($0.offset) }
            let ref = c.top10_logits.map { Int32($0[0]) }
            XCTAssertEqual(ours.first, ref.first, "top-1 for \(c.prompt)")
            XCTAssertGreaterThanOrEqual(Set(ours).intersection(ref).count, 8, "top-10 overlap for \(c.prompt)")
            // The reference logit of its own top token, to catch scale errors.
            XCTAssertEqual(Double(logits[Int(ref[0])]), c.top10_logits[0][1], accuracy: 0.5, c.prompt)
        }
    }

    func testGreedyAgreementAtLeastLlamaCpp() throws {
        let gen = Generator(try model(), capacity: 256)
        var ours = 0, peer = 0
        for c in try ReferenceData.greedyCases() {
            let out = try gen.generate(prompt: c.prompt_ids, maxTokens: 32, sampling: .greedy, ignoreEOS: true)
            let agree = zip(out, c.greedy_ids).prefix { $0 == $1 }.count
            print("greedy agreement \(agree)/32 (llama.cpp \(c.llama_cpp_agrees_for)) for \(c.prompt.debugDescription)")
            ours += agree
            peer += c.llama_cpp_agrees_for
        }
        print("greedy agreement total: jeton \(ours), llama.cpp \(peer)")
        XCTAssertGreaterThanOrEqual(ours, peer)
    }

    func testPerplexityWithinOnePercent() throws {
        let ref = try ReferenceData.perplexity()
        let gen = Generator(try model(), capacity: 1024)
        let (ppl, _) = try gen.perplexity(ref.ids)
        print("perplexity: jeton \(ppl), reference \(ref.ppl)")
        XCTAssertEqual(ppl, ref.ppl, accuracy: ref.ppl * 0.01)
    }
}
