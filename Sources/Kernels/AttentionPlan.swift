#if arch(x86_64)
import KernelsAVX2
import KernelsAVX512
#endif

extension Attention {
    /// What `attend` runs for a layer: a tiled kernel (which family) or token by token, and which
    /// of its steps take fewer than 32 bits. `attend` follows it and the start-up log prints its
    /// `words`, so what the log says is what runs (the log's own copy of the rules once said
    /// "scores in int16" where a head size sent attention token by token).
    public struct Plan: Equatable, Sendable {
        public enum Kernel: Sendable { case avx512, avx2, tokenByToken }
        public var kernel: Kernel
        /// Scores as 16-bit integer products (`Int16Scores`): the 16-bit AVX-512 backends over an f16 cache.
        public var int16Scores: Bool
        /// Values summed as bf16 pairs (`BF16Values`): `avx512BF16` over an f16 cache.
        public var bf16Sums: Bool
        /// Values summed as int16 products (`Int16Values`): `avx512Int16` beside its int16 scores.
        public var int16Sums: Bool

        /// For the start-up log: "scores in int16", "values summed in bf16" or "in int16"; nothing
        /// where everything runs in f32.
        public var words: [String] {
            (int16Scores ? ["scores in int16"] : [])
                + (bf16Sums ? ["values summed in bf16"] : int16Sums ? ["values summed in int16"] : [])
        }
    }

    /// The plan for a backend, a head and block size and the cache's element type. The 16-bit
    /// steps only over an f16 cache (`Int16Scores` reads f16 keys; an f32 cache is asked for full
    /// precision) and only in the tiles; `int16Scores: false` keeps f32 scores and sums on
    /// `avx512Int16` and f32 scores beside `avx512BF16`'s bf16 sums (tests compare them so).
    public static func plan(backend: TileBackend, headSize: Int, blockSize: Int, f16: Bool,
                            int16Scores: Bool = int16Scores) -> Plan {
        var plan = Plan(kernel: .tokenByToken, int16Scores: false, bf16Sums: false, int16Sums: false)
        #if arch(x86_64)
        switch backend {
        case .avx512, .avx512BF16, .avx512Int16:
            guard AVX512Attention.supports(headSize: headSize, blockSize: blockSize) else { return plan }
            plan.kernel = .avx512
            guard f16 else { return plan }
            if backend == .avx512BF16 {
                plan.bf16Sums = true
                plan.int16Scores = int16Scores
            } else if backend == .avx512Int16 {
                plan.int16Scores = int16Scores
                plan.int16Sums = int16Scores && int16Sums
            }
        case .avx2:
            if AVX2Attention.supportsTile(headSize: headSize, blockSize: blockSize) { plan.kernel = .avx2 }
        case .portable:
            break
        }
        #endif
        return plan
    }
}
