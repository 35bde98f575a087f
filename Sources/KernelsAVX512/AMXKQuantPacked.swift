#if arch(x86_64)
import _Builtin_intrinsics.intel
import KernelsAVX2
import CAMX

/// Packed Q4_K tiles (`VNNIKQuantPacked`'s layout) against 16 tokens at a time on AMX.
///
/// A tile multiply (`tdpbsud`) sums 64 products per output with no place for Q4_K's scale of
/// each 32, so the scale goes into the weights: with sc = 8·hi + lo (lo, hi < 8) a super-block
/// is unpacked once per call into two byte matrices, q·lo and q·hi (at most 15 · 7), and
///     Σ_u sc_u · Σ_{k∈u} q_k x_k  =  C_lo + 8 · C_hi,
/// two tile products over the whole super-block. That is the integer `VNNIKQuantBatch.group`
/// forms per unit, so the mins and the float steps that follow, done per token on the vector
/// units as there, give the same bits as every other Q4_K kernel (batch invariance holds
/// whichever kernel a step's token count picks). Two sets of tiles alternate between
/// super-blocks so the vector steps of one overlap the tile products of the next.
public enum AMXKQuantPacked {
    static let tokens = 16

    /// Bytes of 64-aligned scratch a call needs, whatever the matrix's width (super-blocks are
    /// the outer loop): one super-block's weight tiles, two sets of int32 sums, a tile configuration.
    public static let scratchBytes = 8192 + 8 * 1024 + 64

    /// y[t·ldy + r] for the 16 rows of the packed Q4_K tile at `tile` (the first `mask` rows
    /// stored) and every token of `act`. `end` bounds the read-ahead. Super-blocks are the
    /// outer loop, so one super-block's weight tiles (8 KiB) stay in L1 while every group of
    /// 16 tokens meets them, and y holds the running sums; tokens past the last full group
    /// go to the VNNI kernel (same bits; with its scale step `twoScaleProducts`).
    static func q4k(_ tile: UnsafeRawPointer, _ end: UnsafeRawPointer, _ act: Q8KActivationsView,
                    _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ mask: __mmask16, _ scratch: UnsafeMutableRawPointer,
                    twoScaleProducts: Bool = false) {
        let nsb = act.superBlocks, groups = act.nTokens / tokens
        let weights = scratch.bindMemory(to: __m512i.self, capacity: 128)  // [4 chunks, lo 16 | hi 16]
        let sums = weights + 128                                            // 2 steps × 2 groups × (lo 16, hi 16)
        let config = UnsafeMutableRawPointer(sums + 128)
        if groups > 0 {
            configure(config)
            jeton_tile_config(config)
            let stride = nsb * 256
            let bytes = VNNIKQuantPacked.q4kTileBytes
            let steps = (groups + 1) / 2
            for s in 0..<nsb {
                let base = tile + s * bytes
                VNNIKQuantPacked.ahead(base, bytes, end)
                let (pairs, dw, dm) = unpack(base, weights)
                let w = UnsafeRawPointer(weights)
                // Steps of two groups of 16 tokens (the last may have one): per 64 elements two
                // token tiles meet the lo and hi weight tiles, one tile load per product. The
                // vector steps of a step run after the next step's tile products are issued.
                for step in 0..<steps {
                    let g = 2 * step, both = g + 1 < groups
                    let a = UnsafeRawPointer(act.qs + (g * tokens * nsb + s) * 256)
                    let out = UnsafeMutableRawPointer(sums + 64 * (step & 1))
                    jeton_tile_zero(0); jeton_tile_zero(1)
                    if both {
                        jeton_tile_zero(5); jeton_tile_zero(6)
                        for c in 0..<4 {
                            jeton_tile_load(2, a + 64 * c, stride)
                            jeton_tile_load(3, w + 2048 * c, 64)
                            jeton_tile_dpbsud(0, 2, 3)
                            jeton_tile_load(7, a + tokens * stride + 64 * c, stride)
                            jeton_tile_dpbsud(5, 7, 3)
                            jeton_tile_load(4, w + 2048 * c + 1024, 64)
                            jeton_tile_dpbsud(1, 2, 4)
                            jeton_tile_dpbsud(6, 7, 4)
                        }
                        jeton_tile_store(0, out, 64)
                        jeton_tile_store(1, out + 1024, 64)
                        jeton_tile_store(5, out + 2048, 64)
                        jeton_tile_store(6, out + 3072, 64)
                    } else {
                        for c in 0..<4 {
                            jeton_tile_load(2, a + 64 * c, stride)
                            jeton_tile_load(3, w + 2048 * c, 64)
                            jeton_tile_dpbsud(0, 2, 3)
                            jeton_tile_load(4, w + 2048 * c + 1024, 64)
                            jeton_tile_dpbsud(1, 2, 4)
                        }
                        jeton_tile_store(0, out, 64)
                        jeton_tile_store(1, out + 1024, 64)
                    }
                    if step > 0 { finishStep(s, step - 1, groups, act, sums, pairs, dw, dm, y, ldy, mask) }
                }
                finishStep(s, steps - 1, groups, act, sums, pairs, dw, dm, y, ldy, mask)
            }
            jeton_tile_release()
        }
        var t = groups * tokens
        while t < act.nTokens {
            let nt = min(8, act.nTokens - t)
            if twoScaleProducts {
                VNNIKQuantPacked.group(VNNIKQuantPacked.Q4KTileTwoProducts.self, tile, end, act, t, nt, y + t * ldy, ldy, mask, ahead: .distance)
            } else {
                VNNIKQuantPacked.group(VNNIKQuantPacked.Q4KTile.self, tile, end, act, t, nt, y + t * ldy, ldy, mask, ahead: .distance)
            }
            t += nt
        }
    }

    /// Palette 1; eight tiles of 16 rows of 64 bytes: C (0, 1 and 5, 6: 16 tokens × 16 matrix
    /// rows), A (2, 7: 16 tokens × 64 elements), weights (3, 4: 16 × 4 elements × 16 matrix rows).
    static func configure(_ p: UnsafeMutableRawPointer) {
        p.initializeMemory(as: UInt8.self, repeating: 0, count: 64)
        p.storeBytes(of: 1, as: UInt8.self)
        for t in 0..<8 {
            p.storeBytes(of: 64, toByteOffset: 16 + 2 * t, as: UInt16.self)
            p.storeBytes(of: 16, toByteOffset: 48 + t, as: UInt8.self)
        }
    }

    /// The vector steps of `step` (its one or two groups), from its half of `sums`.
    @inline(__always)
    static func finishStep(_ s: Int, _ step: Int, _ groups: Int, _ act: Q8KActivationsView, _ sums: UnsafePointer<__m512i>,
                           _ pairs: (__m512i, __m512i, __m512i, __m512i), _ dw: __m512, _ dm: __m512,
                           _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ mask: __mmask16) {
        let g = 2 * step, half = sums + 64 * (step & 1)
        finish(s, g * tokens, act, half, pairs, dw, dm, y, ldy, mask)
        if g + 1 < groups { finish(s, (g + 1) * tokens, act, half + 32, pairs, dw, dm, y, ldy, mask) }
    }

    /// Super-block s's integers to floats for tokens t0..<t0+16, added to y (written at s = 0),
    /// as `VNNIKQuantBatch.group`'s `finish` does them: the same operations in the same order.
    @inline(__always)
    static func finish(_ s: Int, _ t0: Int, _ act: Q8KActivationsView, _ sums: UnsafePointer<__m512i>,
                       _ pairs: (__m512i, __m512i, __m512i, __m512i), _ dw: __m512, _ dm: __m512,
                       _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ mask: __mmask16) {
        let nsb = act.superBlocks
        for k in 0..<tokens {
            let t = t0 + k
            let isum = _mm512_add_epi32(sums[k], _mm512_slli_epi32(sums[16 + k], 3))
            let i = t * nsb + s, row = y + t * ldy
            let c = s == 0 ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(mask, row)
            _mm512_mask_storeu_ps(row, mask, Q4KFinish.step(c, isum: isum, pairs: pairs, pairSums: act.pairSums + i * 4,
                                                            d: dw, dmin: dm, da: act.d[i]))
        }
    }

    /// One super-block of the tile: its nibbles times the low and high 3 bits of their unit's
    /// scale, as the weight tiles of each 64-element chunk (units 2c, 2c+1: rows 4v..<4v+4 of
    /// the chunk are vector v of unit 2c, then of 2c+1; lane r is matrix row r) in `weights`;
    /// returns the mins as int16 pairs (units 2k, 2k+1), d and dmin.
    @inline(__always)
    static func unpack(_ base: UnsafeRawPointer, _ weights: UnsafeMutablePointer<__m512i>)
        -> ((__m512i, __m512i, __m512i, __m512i), __m512, __m512) {
        let nibbles = _mm512_set1_epi8(0x0F), three = _mm512_set1_epi16(7), index = VNNIKQuantPacked.scaleIndex
        let q = base.assumingMemoryBound(to: __m512i.self)
        for u in 0..<8 {
            // Each int16 of sc holds the unit's scale of its lane's row (both halves of a lane).
            let sc = _mm512_shuffle_epi8(_mm512_broadcast_i32x4(load128(base + 2048 + 16 * u)), index)
            let lo = _mm512_and_si512(sc, three), hi = _mm512_srli_epi16(sc, 3)
            let out = weights + 32 * (u / 2) + 8 * (u % 2)
            for v in 0..<4 {
                let x = _mm512_loadu_si512(q + 4 * u + v)
                let a = _mm512_and_si512(x, nibbles), b = _mm512_and_si512(_mm512_srli_epi16(x, 4), nibbles)
                // Bytes ≤ 15 · 7 < 256, so a 16-bit multiply keeps each byte's product in its byte.
                out[v] = _mm512_mullo_epi16(a, lo)
                out[v + 4] = _mm512_mullo_epi16(b, lo)
                out[16 + v] = _mm512_mullo_epi16(a, hi)
                out[16 + v + 4] = _mm512_mullo_epi16(b, hi)
            }
        }
        @inline(__always) func minPair(_ k: Int) -> __m512i {
            _mm512_cvtepu8_epi16(_mm256_loadu_si256((base + 2176 + 32 * k).assumingMemoryBound(to: __m256i.self)))
        }
        let d = _mm512_loadu_si512((base + 2304).assumingMemoryBound(to: __m512i.self))
        return ((minPair(0), minPair(1), minPair(2), minPair(3)), halfsLow(d), halfsHigh(d))
    }
}
#endif
