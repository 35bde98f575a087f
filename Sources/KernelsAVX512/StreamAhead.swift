#if arch(x86_64)
import CPrefetch

/// How an AVX-512 kernel asks for the lines of a tile it reads once (one group of tokens:
/// generation, a few sequences, a short speculative verification): the one rule of the packed
/// K-quant (`VNNIKQuantPacked`), packed 32-element (`VNNIPacked32`) and Q8_0 logits
/// (`VNNIPacked32Logits`) kernels. Decided once per tile and group, not per block or unit.
struct StreamAhead {
    /// Bytes ahead of the line read that go in as a stream (`jeton_prefetch_stream`).
    let distance: Int
    /// Whether the lines go into L1 too, `JETON_STREAM_NEAR_BYTES` ahead (Intel only).
    let near: Bool

    /// One token's distance. Zen 4, two threads, a 116 MB Q4_K matrix: 56.3 GB/s at 8 KiB against
    /// 47.9 at 4 KiB when the read probe gave ~58 (16 KiB as 8), 35.9 against 34.3 in the host's
    /// slower phase: two threads at ~30 GB/s each need more than 4 KiB in flight; a 47 MB Q4_1
    /// matrix likewise (60.0 against 54.7 GB/s, 37.9 against 35.5).
    static var oneTokenBytes: Int { Int(JETON_STREAM_ONE_TOKEN_BYTES) }
    /// A group's distance where it does not stream as one token does: AVX2's Q4_0-Q5_0 kernel found
    /// groups of 4-8 tokens 4-13% slower at 8 KiB or 2 KiB than at 4 (docs/benchmark-log.md).
    static var groupBytes: Int { Int(JETON_STREAM_GROUP_BYTES) }
    /// Groups of up to this many tokens stream as one token does on Intel (the into-L2 hint): 8 KiB
    /// ahead and into L1 near (Emerald Rapids, alternated rounds: 2 sequences of
    /// Qwen2.5-Coder-1.5B +5-8%, of the 0.5B +6-13%; 4 -1 to +3%). More tokens keep `groupBytes`:
    /// the 1.5B's `jeton bench -p 16 -n 64 --parallel N` with the rule at 8 against 4, alternated
    /// rounds, N=5 +11, -1, -25, -4, +6%; 6 -15, +4%; 7 -2, -7%; 8 -11, -20% (the 54th session: -2, -4%).
    static let nearTokens = 4

    init(tokens: Int) {
        near = tokens <= Self.nearTokens && jeton_stream_hint() != 0
        distance = tokens == 1 || near ? Self.oneTokenBytes : Self.groupBytes
    }

    /// Asks for `bytes` bytes `distance` past `p` and, with `near`, `JETON_STREAM_NEAR_BYTES` past
    /// it into L1 too; nothing at or past `end` (the end of the call's tiles).
    @inline(__always) func ask(_ p: UnsafeRawPointer, _ bytes: Int, _ end: UnsafeRawPointer) {
        let q = p + distance
        if q < end { jeton_prefetch_stream(q, min(bytes, end - q)) }
        if near {
            let n = p + Int(JETON_STREAM_NEAR_BYTES)
            if n < end { jeton_prefetch_stream_near(n, min(bytes, end - n)) }
        }
    }
}
#endif
