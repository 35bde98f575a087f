#if arch(x86_64)
import _Builtin_intrinsics.intel
import KernelsAVX2
import CPrefetch

/// Integer matmul of quantized weight rows with Q8 activations on AVX-512 VNNI.
/// A tile of 16 rows is repacked once per call (`VNNIBlock.pack`: 16 rows side by
/// side in the 16 int32 lanes), then every group of 8 tokens runs over it: per block
/// of 32, 8 `vpdpbusd` with broadcast activation dwords give the exact integer dot
/// of all 16 rows with one token, then one convert and one FMA by weight scale ×
/// activation scale. Each lane is one (row, token) with the same operations in the
/// same order whatever the batch: results are batch-invariant by construction.
public enum VNNIMatMul {
    public static let tileRows = 16

    /// ggml type ids this path multiplies: Q4_0, Q4_1, Q5_0, Q8_0, Q4_K.
    public static func supports(typeID: UInt32) -> Bool {
        switch typeID {
        case 2, 3, 6, 8, 12: return true
        default: return false
        }
    }

    /// Bytes of 64-aligned scratch `rows` needs per thread for rows of `blocks` 32-blocks.
    public static func scratchBytes(blocks: Int) -> Int { blocks * 512 + 2 * blocks * 64 + 16 * 8 + 16 * blocks * 34 }

    /// Σq of each activation block: out[t·nb + b] for tokens `tokens` ([nTokens, nb]),
    /// for the formats whose unsigned bytes carry an offset (Q4_0 −8, Q8_0 −128).
    public static func blockSums(_ act: Q8ActivationsView, tokens: Range<Int>, _ out: UnsafeMutablePointer<Int32>) {
        let nb = act.blocks
        let ones = _mm256_set1_epi8(1)
        for t in tokens {
            for b in 0..<nb {
                let a = _mm256_loadu_si256(UnsafeRawPointer(act.qs + (t * nb + b) * 32).assumingMemoryBound(to: __m256i.self))
                // (the 256-bit vpdpbusd is a clang macro Swift cannot import)
                let s = unsafeBitCast(_mm256_madd_epi16(_mm256_maddubs_epi16(ones, a), _mm256_set1_epi16(1)), to: SIMD8<Int32>.self)
                out[t * nb + b] = s.wrappedSum()
            }
        }
    }

    /// y[t·ldy + r] = Σ_c w[r, c] · x[t, c] for r in r0..<r1 (at most 16 rows) and every
    /// token of `act`; `asum` from `blockSums`. Returns false for an unsupported type.
    @discardableResult
    public static func rows(typeID: UInt32, w: UnsafeRawPointer, rowBytes: Int, r0: Int, r1: Int,
                            act: Q8ActivationsView, asum: UnsafePointer<Int32>, y: UnsafeMutablePointer<Float>, ldy: Int,
                            scratch: UnsafeMutableRawPointer, prefetch: UnsafeRawPointer? = nil, prefetchBytes: Int = 0) -> Bool {
        precondition(r1 - r0 <= tileRows && r1 > r0)
        let ahead = Ahead(start: prefetch, bytes: prefetch == nil ? 0 : prefetchBytes, blocks: act.blocks)
        switch typeID {
        case 2: tile(VNNIQ4_0.self, w, rowBytes, r0, r1, act, asum, y, ldy, scratch, ahead)
        case 3: tile(VNNIQ4_1.self, w, rowBytes, r0, r1, act, asum, y, ldy, scratch, ahead)
        case 6: tile(VNNIQ5_0.self, w, rowBytes, r0, r1, act, asum, y, ldy, scratch, ahead)
        case 12: tile(VNNIQ4_K.self, w, rowBytes, r0, r1, act, asum, y, ldy, scratch, ahead)
        case 8: tile(VNNIQ8_0.self, w, rowBytes, r0, r1, act, asum, y, ldy, scratch, ahead)
        default: return false
        }
        return true
    }

    static func tile<B: VNNIBlock>(_: B.Type, _ w: UnsafeRawPointer, _ rowBytes: Int, _ r0: Int, _ r1: Int,
                                   _ act: Q8ActivationsView, _ asum: UnsafePointer<Int32>, _ y: UnsafeMutablePointer<Float>,
                                   _ ldy: Int, _ scratch: UnsafeMutableRawPointer, _ ahead: Ahead) {
        let nb = act.blocks, n = act.nTokens, count = r1 - r0
        let packed = scratch.bindMemory(to: __m512i.self, capacity: nb * 8)         // [nb, 8 k-groups] × 16 rows × 4 bytes
        let dsc = (scratch + nb * 512).bindMemory(to: Float.self, capacity: nb * 16)  // [nb, 16 rows] weight scales
        let msc = dsc + nb * 16                                                      // [nb, 16 rows] weight mins
        let rows = UnsafeMutableRawPointer(msc + nb * 16).bindMemory(to: UnsafeRawPointer.self, capacity: 16)  // [16]
        let copy = UnsafeMutableRawPointer(rows + 16)  // [count, rowBytes]
        // The tile's rows (contiguous in the matrix) are copied in one sequential pass first:
        // reading 16 rows side by side block by block left generation 40% slower.
        // Lanes past the last row repeat it; they are never stored.
        copy.copyMemory(from: w + r0 * rowBytes, byteCount: count * rowBytes)
        for i in 0..<16 { rows[i] = UnsafeRawPointer(copy + min(i, count - 1) * rowBytes) }
        let mask = __mmask16(truncatingIfNeeded: (1 << count) - 1)
        if n <= 8 {
            // Generation: each block is decoded once anyway, so straight into registers.
            group(B.self, true, rows, packed, dsc, msc, act, asum, 0, n, y + r0, ldy, mask, ahead)
            return
        }
        for b in 0..<nb {
            let (d, m) = B.scales(rows, b)
            _mm512_storeu_ps(dsc + 16 * b, d)
            _mm512_storeu_ps(msc + 16 * b, m)
            B.pack(rows, b, packed + 8 * b)
        }
        var t = 0
        while t + 8 <= n {
            group(B.self, false, rows, packed, dsc, msc, act, asum, t, 8, y + t * ldy + r0, ldy, mask, .none)
            t += 8
        }
        if t < n { group(B.self, false, rows, packed, dsc, msc, act, asum, t, n - t, y + t * ldy + r0, ldy, mask, .none) }
    }

    /// A later tile's bytes, asked into L2 a slice per block of the current one while it is
    /// multiplied (generation streams the weights: the tile's copy then reads from L2).
    // @unchecked Sendable: the pointer is only handed to prefetch hints, never read or written through.
    public struct Ahead: @unchecked Sendable {
        let start: UnsafeRawPointer?
        let bytes: Int
        let blocks: Int
        static let none = Ahead(start: nil, bytes: 0, blocks: 1)

        init(start: UnsafeRawPointer?, bytes: Int, blocks: Int) {
            self.start = start
            self.bytes = bytes
            self.blocks = blocks
        }

        /// A pass's share of the next tile (`TileShare`) over `steps` blocks: the same pieces.
        init(share: TileShare, steps: Int) {
            self.init(start: share.start, bytes: max(0, min(steps * share.piece, share.end - share.start)), blocks: steps)
        }

        @inline(__always) func slice(_ b: Int) {
            guard let start, bytes > 0 else { return }
            let step = (bytes + blocks - 1) / blocks, off = b * step
            if off < bytes { jeton_prefetch_range_l2(start + off, min(step, bytes - off)) }
        }
    }

    /// The 16 rows against tokens t0..<t0+nt (nt ≤ 8); y[k·ldy + lane] for token t0+k.
    /// `fused`: decode each block from `rows` here (into `packed[0..<8]`) instead of
    /// reading the whole repacked tile; the same values meet the same operations.
    @inline(__always)
    static func group<B: VNNIBlock>(_: B.Type, _ fused: Bool, _ rows: UnsafePointer<UnsafeRawPointer>, _ packed: UnsafeMutablePointer<__m512i>, _ dsc: UnsafePointer<Float>,
                                    _ msc: UnsafePointer<Float>, _ act: Q8ActivationsView, _ asum: UnsafePointer<Int32>,
                                    _ t0: Int, _ nt: Int, _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ mask: __mmask16,
                                    _ ahead: Ahead) {
        let nb = act.blocks
        var c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0
        for b in 0..<nb {
            ahead.slice(b)
            let wp = fused ? packed : packed + 8 * b
            let dw: __m512, mw: __m512
            if fused {
                (dw, mw) = B.scales(rows, b)
                B.pack(rows, b, packed)
            } else {
                dw = _mm512_loadu_ps(dsc + 16 * b)
                mw = B.hasMin ? _mm512_loadu_ps(msc + 16 * b) : dw
            }
            let w0 = wp[0], w1 = wp[1], w2 = wp[2], w3 = wp[3], w4 = wp[4], w5 = wp[5], w6 = wp[6], w7 = wp[7]
            // The mins' share m·Σa goes into the same accumulator right after the block's
            // dot: one accumulator per token keeps the 8 tokens' state in registers (a
            // second set for the mins spilled to the stack).
            @inline(__always) func token(_ k: Int, _ c: inout __m512) {
                let ab = (t0 + k) * nb + b
                blockStep((w0, w1, w2, w3, w4, w5, w6, w7), UnsafeRawPointer(act.qs + ab * 32),
                          start: B.offset == 0 ? _mm512_setzero_si512() : _mm512_set1_epi32(-B.offset &* asum[ab]),
                          d: dw, da: act.d[ab], min: B.hasMin ? (mw, act.s[ab]) : nil, &c)
            }
            token(0, &c0)
            if nt > 1 { token(1, &c1) }
            if nt > 2 { token(2, &c2) }
            if nt > 3 { token(3, &c3) }
            if nt > 4 { token(4, &c4) }
            if nt > 5 { token(5, &c5) }
            if nt > 6 { token(6, &c6) }
            if nt > 7 { token(7, &c7) }
        }
        storeTokenRows(y, ldy, mask, nt, (c0, c1, c2, c3, c4, c5, c6, c7))
    }
}
#endif
