#if arch(x86_64)
import CAMX

/// The arithmetic ceiling of AMX int8 tiles: `tdpbsud` (16 × 16 × 64 multiply-adds) into four
/// independent accumulator tiles from operands loaded once, so only the tile unit limits it.
/// A probe for the benchmarks (the machine's peak for prompts where AMX serves them), never
/// used by the forward pass; call only where `CPUFeatures.hasAMX`.
public enum AMXPeak {
    public static let macsPerIteration = 4 * 16 * 16 * 64

    /// Runs `iterations` rounds; the result only keeps the work from being dropped.
    public static func run(_ iterations: Int) -> Int32 {
        let bytes = UnsafeMutableRawPointer.allocate(byteCount: 2048 + 1024 + 64, alignment: 64)
        defer { bytes.deallocate() }
        let operands = bytes, out = bytes + 2048, config = bytes + 3072
        for i in 0..<2048 { operands.storeBytes(of: UInt8(truncatingIfNeeded: i &* 7 &+ 3), toByteOffset: i, as: UInt8.self) }
        AMXKQuantPacked.configure(config)
        jeton_tile_config(config)
        jeton_tile_load(2, operands, 64)
        jeton_tile_load(7, operands, 64)
        jeton_tile_load(3, operands + 1024, 64)
        jeton_tile_load(4, operands + 1024, 64)
        jeton_tile_zero(0); jeton_tile_zero(1); jeton_tile_zero(5); jeton_tile_zero(6)
        for _ in 0..<iterations {
            jeton_tile_dpbsud(0, 2, 3)
            jeton_tile_dpbsud(1, 2, 4)
            jeton_tile_dpbsud(5, 7, 3)
            jeton_tile_dpbsud(6, 7, 4)
        }
        jeton_tile_store(0, out, 64)
        jeton_tile_release()
        return out.load(as: Int32.self)
    }
}
#endif
