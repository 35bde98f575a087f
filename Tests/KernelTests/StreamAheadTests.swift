#if arch(x86_64)
import XCTest
import CPrefetch
@testable import KernelsAVX512

/// `StreamAhead`, the one rule by which the AVX-512 kernels ask for a tile they read once: its
/// distances and the near request per token count, under both stream hints. (Prefetches change no
/// result, so the kernels' own tests cannot see a rule gone wrong; the benchmark log has the speed.)
final class StreamAheadTests: XCTestCase {
    func testIntelStreamsUpToFourTokensAsOne() {
        let saved = jeton_stream_hint()
        defer { jeton_set_stream_hint(saved) }
        jeton_set_stream_hint(1)
        for tokens in 1...8 {
            let rule = StreamAhead(tokens: tokens)
            XCTAssertEqual(rule.near, tokens <= 4, "near request for \(tokens) tokens")
            XCTAssertEqual(rule.distance, tokens <= 4 ? 8192 : 4096, "distance for \(tokens) tokens")
        }
    }

    func testNonTemporalStreamsTakeNoNearRequest() {
        let saved = jeton_stream_hint()
        defer { jeton_set_stream_hint(saved) }
        jeton_set_stream_hint(0)
        for tokens in 1...8 {
            let rule = StreamAhead(tokens: tokens)
            XCTAssertFalse(rule.near, "near request for \(tokens) tokens")
            XCTAssertEqual(rule.distance, tokens == 1 ? 8192 : 4096, "distance for \(tokens) tokens")
        }
    }
}
#endif
