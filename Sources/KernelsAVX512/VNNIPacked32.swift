#if arch(x86_64)
import _Builtin_intrinsics.intel
import KernelsAVX2
import CPrefetch

/// Q4_0, Q4_1, Q5_0, Q8_0 and IQ4_NL on AVX-512 VNNI from the layout `AVX2Packed32` packs at load (8 rows side
/// by side per half block, a row per int32 lane): a block's two halves, loaded side by side, are
/// one vector of 16 rows × 4 weights, and a broadcast dword of 4 activations meets it in one
/// `vpdpbusd`, so a block's sums come out per row with no horizontal reduction. The file's layout
/// (`VNNIMatVec`) cost a reduction tree and a scale gather per block pair: Qwen2.5-Coder-0.5B as
/// a draft (its matrices read as Q4_0) streamed at two thirds of the read bandwidth.
/// Sums are exact in integers (Σ q·a − offset·Σa per block), then c = fma(Float(dot), d·da, c)
/// block by block and, for Q4_1, c = fma(m, s, c): the float steps of `AVX2Packed32`, `VNNIMatVec`
/// and `VNNIMatMul`, so a row and token get the same bits from each, in any batch.
public enum VNNIPacked32 {
    public static func supports(typeID: UInt32) -> Bool { typeID == 2 || typeID == 3 || typeID == 6 || typeID == 8 || typeID == 20 }

    /// A format's half block, as `AVX2Packed32` lays it out (a min at byte 16, fifth bits at 144).
    typealias Format = AVX2Packed32.Format
    typealias Q4_0 = AVX2Packed32.Q4_0
    typealias Q4_1 = AVX2Packed32.Q4_1
    typealias Q5_0 = AVX2Packed32.Q5_0
    typealias Q8_0 = AVX2Packed32.Q8_0
    typealias IQ4_NL = AVX2Packed32.IQ4_NL

    /// y[t·ldy + r] = Σ_c w[r, c] · x[t, c] for r in r0..<r1 (r0 a multiple of 16) and every token of
    /// `act`, for a matrix packed by `AVX2Packed32.pack`. `asum`: the tokens' block sums (Q4_0,
    /// Q5_0, Q8_0). `end`: the end of the packed matrix (lines are asked for ahead up to it). `scratch`:
    /// `scratchBytes(blocks:)` bytes, 64-aligned, for Q5_0 and Q8_0 past 8 tokens (nil: allocated per call;
    /// callers running tile by tile pass one per thread).
    public static func rows(typeID: UInt32, packed: UnsafeRawPointer, end: UnsafeRawPointer, r0: Int, r1: Int,
                            act: Q8ActivationsView, asum: UnsafePointer<Int32>, y: UnsafeMutablePointer<Float>, ldy: Int,
                            scratch: UnsafeMutableRawPointer? = nil) {
        switch typeID {
        case 2: rows(Q4_0.self, packed, end, r0, r1, act, asum, y, ldy, scratch)
        case 3: rows(Q4_1.self, packed, end, r0, r1, act, asum, y, ldy, scratch)
        case 6: rows(Q5_0.self, packed, end, r0, r1, act, asum, y, ldy, scratch)
        case 8: rows(Q8_0.self, packed, end, r0, r1, act, asum, y, ldy, scratch)
        case 20: rows(IQ4_NL.self, packed, end, r0, r1, act, asum, y, ldy, scratch)
        default: preconditionFailure("not a packed 32-element format")
        }
    }

    /// Bytes of the scratch `rows` uses for a matrix of `blocks` blocks per row: a tile's decoded
    /// blocks (8 weight vectors and the scales each).
    public static func scratchBytes(blocks: Int) -> Int { 9 * 64 * blocks }

    /// Whether `rows` decodes a tile once into scratch for this type and token count.
    public static func needsScratch(typeID: UInt32, tokens: Int) -> Bool { (typeID == 6 || typeID == 8 || typeID == 20) && tokens > 8 }

    /// How far ahead a tile that later groups read again asks for its lines, into L2 (one read by one
    /// group of tokens goes in as a stream, `StreamAhead`).
    static let reuseAhead = 16384

    static func rows<F: Format>(_: F.Type, _ packed: UnsafeRawPointer, _ end: UnsafeRawPointer, _ r0: Int, _ r1: Int,
                                _ act: Q8ActivationsView, _ asum: UnsafePointer<Int32>, _ y: UnsafeMutablePointer<Float>,
                                _ ldy: Int, _ given: UnsafeMutableRawPointer?) {
        precondition(r0 % 16 == 0, "rows start on a tile")
        let nb = act.blocks, stride = nb * 2 * F.halfBytes
        let stream = act.nTokens <= 8
        // Q5_0 against several groups of tokens: each block decoded once per tile into scratch (its
        // fifth bits cost more than the products of one group; measured on Qwen2.5-Coder-0.5B's
        // 512-token prompts, decoding per group lost 5% to the file-layout kernel); Q8_0 too (its
        // blocks are twice the bytes, read as two halves); IQ4_NL's levels too (a shuffle per vector).
        let decodeOnce = (F.fifthBits || F.wholeBytes || F.levels) && !stream
        withUnsafeTemporaryAllocation(of: __m512i.self, capacity: decodeOnce && given == nil ? 9 * nb : 0) { own in
            let scratch = decodeOnce ? given.map { $0.bindMemory(to: __m512i.self, capacity: 9 * nb) } ?? own.baseAddress : nil
            var r = r0
            while r < r1 {
                let tile = packed + (r / 16) * stride, count = min(16, r1 - r)
                let mask = __mmask16(truncatingIfNeeded: (1 << count) - 1)
                // Q5_0 against a few groups (many sequences): each group asks for its share of the
                // next tile while it multiplies from scratch (as `VNNIKQuantPacked` does), so memory
                // keeps streaming; the tile was asked for before it is decoded (the 0.5B's tg64x16
                // 1.06-1.20x; Q4_0/Q4_1, read straight from the tile, gained nothing). Else the
                // first read asks ahead.
                let groups = (act.nTokens + 7) / 8
                let share = decodeOnce && groups <= TileShare.maxGroups
                // Decoded as `VNNIMatMul.tile` repacks a tile (8 vectors per block, then the scales as
                // floats), whose loop over groups then runs on it: same steps, same bits.
                let scales = scratch.map { UnsafeMutableRawPointer($0 + 8 * nb).assumingMemoryBound(to: Float.self) }
                if let out = scratch, let scales {
                    for b in 0..<nb {
                        let p = tile + 2 * b * F.halfBytes
                        let q = p + reuseAhead
                        if !share && q < end { jeton_prefetch_range_l2(q, min(2 * F.halfBytes, end - q)) }
                        let w = decode(F.self, p)
                        let o = out + 8 * b
                        (o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]) = w
                        _mm512_storeu_ps(scales + 16 * b, halfs16(p, F.halfBytes, 0))
                    }
                }
                var t = 0
                while t < act.nTokens {
                    let nt = min(8, act.nTokens - t)
                    // Else the first group reads the tile (or the decode did) and asks ahead; the others
                    // find it in L1/L2.
                    let part = share ? TileShare(tile: tile, steps: nb, stepBytes: 2 * F.halfBytes, pass: t / 8, passes: groups,
                                                 end: end) : nil
                    if let out = scratch, let scales {
                        // (The count as a literal for whole groups: a loop with no test per token.)
                        let ahead = part.map { VNNIMatMul.Ahead(share: $0, steps: nb) } ?? .none
                        if F.wholeBytes || F.levels {  // unsigned bytes, an offset of 128 and no min, as Q8_0's
                            decodedGroup(VNNIQ8_0.self, out, scales, act, asum, t, nt, y + t * ldy + r, ldy, mask, ahead)
                        } else {
                            decodedGroup(VNNIQ5_0.self, out, scales, act, asum, t, nt, y + t * ldy + r, ldy, mask, ahead)
                        }
                    } else {
                        group(F.self, tile, t == 0 ? end : tile, act, asum, t, nt, y + t * ldy + r, ldy, mask, stream: stream,
                              share: part)
                    }
                    t += nt
                }
                r += 16
            }
        }
    }

    typealias Weights = BlockWeights

    /// Tokens t0..<t0+nt against a tile decoded into scratch, through `VNNIMatMul.group` (its loop,
    /// whose 8-token case is compiled with the count a literal; this file's `group`, not inlined,
    /// tested the count per token: Qwen2.5-Coder-1.5B in Q8_0 took a 512-token prompt at 350 against
    /// 405 t/s through it). `B`: the file-layout format with the same offset and no min.
    @inline(__always)
    static func decodedGroup<B: VNNIBlock>(_: B.Type, _ weights: UnsafeMutablePointer<__m512i>, _ scales: UnsafePointer<Float>,
                                           _ act: Q8ActivationsView, _ asum: UnsafePointer<Int32>, _ t0: Int, _ nt: Int,
                                           _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ mask: __mmask16,
                                           _ ahead: VNNIMatMul.Ahead) {
        // `rows` is read only when `fused`; the tile is decoded already.
        let rows = UnsafePointer<UnsafeRawPointer>(OpaquePointer(weights))
        if nt == 8 {
            VNNIMatMul.group(B.self, false, rows, weights, scales, scales, act, asum, t0, 8, y, ldy, mask, ahead)
        } else {
            VNNIMatMul.group(B.self, false, rows, weights, scales, scales, act, asum, t0, nt, y, ldy, mask, ahead)
        }
    }

    /// A block's 8 vectors of unsigned weights: vector v, lane r holds row r's columns 4v..<4v+4
    /// (v < 4: the low nibbles) or 16+4(v−4)..<+4 (the high ones), with Q5_0's fifth bits, IQ4_NL's
    /// levels + 128; Q8_0's
    /// bytes as they are.
    @inline(__always) static func decode<F: Format>(_: F.Type, _ p: UnsafeRawPointer) -> Weights {
        let hb = F.halfBytes
        if F.wholeBytes {
            let q = F.nibbles
            return (both(p, hb, q), both(p, hb, q + 32), both(p, hb, q + 64), both(p, hb, q + 96),
                    both(p, hb, q + 128), both(p, hb, q + 160), both(p, hb, q + 192), both(p, hb, q + 224))
        }
        let m4 = _mm512_set1_epi8(0x0F), bit4 = _mm512_set1_epi8(0x10)
        let n0 = both(p, hb, F.nibbles), n1 = both(p, hb, F.nibbles + 32)
        let n2 = both(p, hb, F.nibbles + 64), n3 = both(p, hb, F.nibbles + 96)
        var w = (_mm512_and_si512(n0, m4), _mm512_and_si512(n1, m4), _mm512_and_si512(n2, m4), _mm512_and_si512(n3, m4),
                 _mm512_and_si512(_mm512_srli_epi16(n0, 4), m4), _mm512_and_si512(_mm512_srli_epi16(n1, 4), m4),
                 _mm512_and_si512(_mm512_srli_epi16(n2, 4), m4), _mm512_and_si512(_mm512_srli_epi16(n3, 4), m4))
        if F.fifthBits {
            // Byte j, bit c: the fifth bit of column 4c + j, moved to bit 4 (16-bit shifts of at
            // most 4: the mask keeps each byte's own bit).
            let h = both(p, hb, 144)
            w.0 = _mm512_or_si512(w.0, _mm512_and_si512(_mm512_slli_epi16(h, 4), bit4))
            w.1 = _mm512_or_si512(w.1, _mm512_and_si512(_mm512_slli_epi16(h, 3), bit4))
            w.2 = _mm512_or_si512(w.2, _mm512_and_si512(_mm512_slli_epi16(h, 2), bit4))
            w.3 = _mm512_or_si512(w.3, _mm512_and_si512(_mm512_slli_epi16(h, 1), bit4))
            w.4 = _mm512_or_si512(w.4, _mm512_and_si512(h, bit4))
            w.5 = _mm512_or_si512(w.5, _mm512_and_si512(_mm512_srli_epi16(h, 1), bit4))
            w.6 = _mm512_or_si512(w.6, _mm512_and_si512(_mm512_srli_epi16(h, 2), bit4))
            w.7 = _mm512_or_si512(w.7, _mm512_and_si512(_mm512_srli_epi16(h, 3), bit4))
        }
        if F.levels {
            // IQ4_NL: each nibble's level + 128 (1...241), unsigned.
            let t = VNNIKQuantPacked.IQ4XSTile.levels  // IQ4_XS's table: the same 16 levels
            w = (_mm512_shuffle_epi8(t, w.0), _mm512_shuffle_epi8(t, w.1), _mm512_shuffle_epi8(t, w.2), _mm512_shuffle_epi8(t, w.3),
                 _mm512_shuffle_epi8(t, w.4), _mm512_shuffle_epi8(t, w.5), _mm512_shuffle_epi8(t, w.6), _mm512_shuffle_epi8(t, w.7))
        }
        return w
    }

    @inline(__always) static func load256(_ p: UnsafeRawPointer) -> __m256i {
        _mm256_loadu_si256(p.assumingMemoryBound(to: __m256i.self))
    }

    /// Bytes `offset..<offset + 32` of both halves of a block: rows 0-7 in the low 256 bits, 8-15 above.
    @inline(__always) static func both(_ p: UnsafeRawPointer, _ hb: Int, _ offset: Int) -> __m512i {
        _mm512_mask_broadcast_i64x4(_mm512_castsi256_si512(load256(p + offset)), 0xF0, load256(p + hb + offset))
    }

    /// The 16 rows' f16 values at `offset` of both halves, as floats.
    @inline(__always) static func halfs16(_ p: UnsafeRawPointer, _ hb: Int, _ offset: Int) -> __m512 {
        _mm512_cvtph_ps(_mm256_setr_m128i(load128(p + offset), load128(p + hb + offset)))
    }

    /// A tile against tokens t0..<t0+nt (nt ≤ 8), each block decoded once for them all:
    /// y[k·ldy + lane] for token t0 + k and the lanes in `mask`.
    @inline(__always)
    static func group<F: Format>(_: F.Type, _ tile: UnsafeRawPointer, _ end: UnsafeRawPointer, _ act: Q8ActivationsView,
                                 _ asum: UnsafePointer<Int32>, _ t0: Int, _ nt: Int, _ y: UnsafeMutablePointer<Float>,
                                 _ ldy: Int, _ mask: __mmask16, stream: Bool,
                                 share: TileShare? = nil) {
        let nb = act.blocks, hb = F.halfBytes
        let a = UnsafeRawPointer(act.qs)
        let z = _mm512_setzero_si512()
        var c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0
        let rule = stream ? StreamAhead(tokens: nt) : nil
        for b in 0..<nb {
            let p = tile + 2 * b * hb
            if let share {
                share.ask(step: b)
            } else if let rule {
                rule.ask(p, 2 * hb, end)
            } else {
                let q = p + reuseAhead
                if q < end { jeton_prefetch_range_l2(q, min(2 * hb, end - q)) }
            }
            let (w0, w1, w2, w3, w4, w5, w6, w7) = decode(F.self, p)
            let d = halfs16(p, hb, 0)
            let m = F.hasMin ? halfs16(p, hb, 16) : _mm512_setzero_ps()
            @inline(__always) func token(_ k: Int, _ c: inout __m512) {
                let tb = (t0 + k) * nb + b
                blockStep((w0, w1, w2, w3, w4, w5, w6, w7), a + 32 * tb,
                          start: F.offset == 0 ? z : _mm512_set1_epi32(-F.offset &* asum[tb]),
                          d: d, da: act.d[tb], min: F.hasMin ? (m, act.s[tb]) : nil, &c)
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
