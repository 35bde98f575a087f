#if arch(x86_64)
import XCTest
import CPrefetch
@testable import KernelsAVX512

/// `StreamAhead`, the one rule by which the AVX-512 kernels ask for a tile they read once: its
/// distances and the near request per token count, under both stream hints. (Prefetches change no
/// result, so the kernels' own tests cannot see a rule gone wrong; the benchmark log has the speed.)
final class StreamAheadTests: XCTestCase {
    /// Under stream hint `hint`, every count of 1-8 tokens gets `expected(tokens)`'s near request and distance.
    func check(hint: Int32, _ expected: (Int) -> (near: Bool, distance: Int)) {
        let saved = jeton_stream_hint()
        defer { jeton_set_stream_hint(saved) }
        jeton_set_stream_hint(hint)
        for tokens in 1...8 {
            let rule = StreamAhead(tokens: tokens), want = expected(tokens)
            XCTAssertEqual(rule.near, want.near, "near request for \(tokens) tokens, hint \(hint)")
            XCTAssertEqual(rule.distance, want.distance, "distance for \(tokens) tokens, hint \(hint)")
        }
    }

    func testIntelStreamsUpToFourTokensAsOne() {
        check(hint: 1) { ($0 <= 4, $0 <= 4 ? 8192 : 4096) }
    }

    func testNonTemporalStreamsTakeNoNearRequest() {
        check(hint: 0) { (false, $0 == 1 ? 8192 : 4096) }
    }
}
#endif
