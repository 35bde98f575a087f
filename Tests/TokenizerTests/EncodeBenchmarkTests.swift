import Foundation
import Tokenizer
import XCTest

/// Encode speed on 1 MiB of text. Skipped unless JETON_BENCH=1; run it through
/// benchmarks/tokenizer/run.sh, which also times HF `tokenizers` on the same text.
/// JETON_BENCH_TEXT: the text file (else a built-in repeated sample);
/// JETON_BENCH_IDS: HF's ids for it (JSON array), compared with ours.
final class EncodeBenchmarkTests: XCTestCase {
    func testEncodeSpeed1MB() throws {
        let env = ProcessInfo.processInfo.environment
        guard env["JETON_BENCH"] == "1" else { throw XCTSkip("benchmark: set JETON_BENCH=1 (benchmarks/tokenizer/run.sh)") }
        let tok = try TokenizerFixtures.smolLM()
        let text: String
        if let path = env["JETON_BENCH_TEXT"] {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } else {
            let sample = try TokenizerFixtures.referenceCases().map(\.text).joined(separator: "\n")
            text = String(repeating: sample + "\n", count: (1 << 20) / (sample.utf8.count + 1))
        }
        let megabytes = Double(text.utf8.count) / 1e6

        func timed(_ body: () -> [Int32]) -> ([Int32], Double) {
            let start = DispatchTime.now().uptimeNanoseconds
            let ids = body()
            return (ids, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        // Cold: the word cache is empty for this text (it holds only the tests' words).
        let (ids, cold) = timed { tok.encode(text, addSpecial: false) }
        var warm = Double.infinity
        for _ in 0..<3 { warm = min(warm, timed { tok.encode(text, addSpecial: false) }.1) }

        // Many short calls, as a server sees prompts: one call per paragraph.
        let paragraphs = text.components(separatedBy: "\n\n")
        var paragraphsTime = Double.infinity
        for _ in 0..<3 {
            paragraphsTime = min(paragraphsTime, timed {
                var n = 0
                for p in paragraphs { n += tok.encode(p, addSpecial: false).count }
                return [Int32(n)]
            }.1)
        }

        if let idsPath = env["JETON_BENCH_IDS"] {
            let expected = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: idsPath))) as? [Int])
            XCTAssertEqual(ids.count, expected.count)
            XCTAssertTrue(ids.elementsEqual(expected.map { Int32($0) }), "ids differ from HF tokenizers")
        }
        XCTAssertEqual(tok.decode(ids), text)
        print(String(format: "JETON_BENCH swift cold_mbps=%.2f warm_mbps=%.2f paragraphs_mbps=%.2f tokens=%d warm_tokens_per_s=%.0f",
                     megabytes / cold, megabytes / warm, megabytes / paragraphsTime, ids.count, Double(ids.count) / warm))
    }
}
