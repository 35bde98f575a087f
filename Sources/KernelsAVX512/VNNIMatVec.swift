#if arch(x86_64)
import _Builtin_intrinsics.intel
import KernelsAVX2
import CPrefetch

/// The 32-element formats (Q4_0, Q4_1, Q5_0, Q8_0) against a few tokens of Q8
/// activations on AVX-512 VNNI, each weight row read once, front to back, straight
/// from the mapped file: the path for generation. Two blocks of a row make one vector
/// of 64 unsigned bytes (`VNNIVecBlock.pair`) and one `vpdpbusd` against the two
/// activation blocks; a tree of shuffles and adds turns the 16 rows' vectors into two,
/// lane r = row r's exact integer dot for each block. From there the float steps of
/// `VNNIMatMul.group` in the same order (block by block: convert, FMA by weight scale ×
/// activation scale, then the min), so every (row, token) gets the bits `VNNIMatMul`
/// gives it in any batch: the copy and transpose of each tile per call are gone, not
/// the batch invariance.
public enum VNNIMatVec {
    public static let tileRows = 16

    /// ggml type ids: Q4_0, Q4_1, Q5_0, Q8_0.
    public static func supports(typeID: UInt32) -> Bool { typeID == 2 || typeID == 3 || typeID == 6 || typeID == 8 }

    /// y[t·ldy + r] = Σ_c w[r, c] · x[t, c] for r in r0..<r1 and every token of `act`;
    /// `asum` from `VNNIMatMul.blockSums`. Returns false for an unsupported type.
    @discardableResult
    public static func rows(typeID: UInt32, w: UnsafeRawPointer, rowBytes: Int, r0: Int, r1: Int,
                            act: Q8ActivationsView, asum: UnsafePointer<Int32>, y: UnsafeMutablePointer<Float>, ldy: Int) -> Bool {
        switch typeID {
        case 2: run(VecQ4_0.self, w, rowBytes, r0, r1, act, asum, y, ldy)
        case 3: run(VecQ4_1.self, w, rowBytes, r0, r1, act, asum, y, ldy)
        case 6: run(VecQ5_0.self, w, rowBytes, r0, r1, act, asum, y, ldy)
        case 8: run(VecQ8_0.self, w, rowBytes, r0, r1, act, asum, y, ldy)
        default: return false
        }
        return true
    }

    static func run<B: VNNIVecBlock>(_: B.Type, _ w: UnsafeRawPointer, _ rowBytes: Int, _ r0: Int, _ r1: Int,
                                     _ act: Q8ActivationsView, _ asum: UnsafePointer<Int32>,
                                     _ y: UnsafeMutablePointer<Float>, _ ldy: Int) {
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 32) { buf in  // [2 blocks, 16 rows] raw scale dwords
            guard let scratch = buf.baseAddress else { return }
            var start = r0
            while start < r1 {
                let count = min(tileRows, r1 - start)
                // The tile after next goes to L2 a slice per block pair while this one is
                // multiplied, as in VNNIKQuantMatVec: 16 rows read side by side are a pattern
                // the hardware prefetcher follows poorly.
                let dist = prefetchTiles
                let next = start + dist * count < r1 ? w + (start + dist * count) * rowBytes : nil
                let ahead = next == nil ? 0 : min(tileRows, r1 - start - dist * count) * rowBytes
                for t in 0..<act.nTokens {
                    tile(B.self, w + start * rowBytes, rowBytes, count, act, asum, t, y + t * ldy + start, scratch,
                         t == 0 ? next : nil, ahead)
                }
                start += count
            }
        }
    }

    /// How many tiles ahead the prefetch asks for.
    static let prefetchTiles = 2

    /// One token against a tile of up to 16 rows (lanes past `count` repeat the last row, never stored).
    @inline(__always)
    static func tile<B: VNNIVecBlock>(_: B.Type, _ w: UnsafeRawPointer, _ rowBytes: Int, _ count: Int,
                                      _ act: Q8ActivationsView, _ asum: UnsafePointer<Int32>, _ t: Int,
                                      _ y: UnsafeMutablePointer<Float>, _ scratch: UnsafeMutablePointer<UInt32>,
                                      _ next: UnsafeRawPointer?, _ ahead: Int) {
        let nb = act.blocks, last = count - 1
        let a = UnsafeRawPointer(act.qs + t * nb * 32), ad = act.d + t * nb, asm = act.s + t * nb, sums = asum + t * nb
        let pairs = (nb + 1) / 2, step = (ahead + pairs - 1) / pairs
        var c = _mm512_setzero_ps()
        var b = 0
        while b < nb {
            if let next, (b / 2) * step < ahead {
                // One token reads the tile once: a stream (as `VNNIKQuantPacked.Ahead.stream`).
                if act.nTokens == 1 {
                    jeton_prefetch_stream(next + (b / 2) * step, min(step, ahead - (b / 2) * step))
                } else {
                    jeton_prefetch_range_l2(next + (b / 2) * step, min(step, ahead - (b / 2) * step))
                }
            }
            let two = b + 1 < nb
            // Activations of blocks b, b+1 (a lone last block: zeros above, so its partner's lanes sum to 0).
            let av = two ? _mm512_loadu_si512(a + 32 * b) : _mm512_maskz_loadu_epi8(0xFFFF_FFFF, a + 32 * b)
            let zero = _mm512_setzero_si512()
            @inline(__always) func row(_ lane: Int) -> __m512i {
                let x = w + min(lane, last) * rowBytes + b * B.blockBytes
                // Each row's scale dword goes through memory as raw bits, converted 16 at once.
                scratch[lane] = x.loadUnaligned(as: UInt32.self)
                if two { scratch[16 + lane] = x.loadUnaligned(fromByteOffset: B.blockBytes, as: UInt32.self) }
                return _mm512_dpbusd_epi32(zero, two ? B.pair(x) : B.single(x), av)
            }
            let (i0, i1) = reduce(row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7),
                                  row(8), row(9), row(10), row(11), row(12), row(13), row(14), row(15))
            @inline(__always) func apply(_ i: __m512i, _ raw: __m512i, _ k: Int) {
                // Σ(u - offset)·a = Σu·a - offset·Σa, exactly as VNNIMatMul's accumulator.
                let dot = B.offset == 0 ? i : _mm512_sub_epi32(i, _mm512_set1_epi32(B.offset &* sums[k]))
                c = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(halfsLow(raw), _mm512_set1_ps(ad[k])), c)
                if B.hasMin { c = _mm512_fmadd_ps(halfsHigh(raw), _mm512_set1_ps(asm[k]), c) }
            }
            apply(i0, _mm512_loadu_si512(UnsafeRawPointer(scratch)), b)
            if two { apply(i1, _mm512_loadu_si512(UnsafeRawPointer(scratch + 16)), b + 1) }
            b += 2
        }
        _mm512_mask_storeu_ps(y, __mmask16(truncatingIfNeeded: (1 << count) - 1), c)
    }

    /// p_r: row r's partial sums, lanes 0..<8 for the first block, 8..<16 for the second.
    /// Returns the two blocks' exact dots, lane r = row r: pairs of vectors are interleaved
    /// and added, halving the lanes per row at each level (as `VNNIQ8x16MatMul.reduce16`,
    /// stopping one level early, then splitting the blocks).
    @inline(__always)
    static func reduce(_ p0: __m512i, _ p1: __m512i, _ p2: __m512i, _ p3: __m512i, _ p4: __m512i, _ p5: __m512i,
                       _ p6: __m512i, _ p7: __m512i, _ p8: __m512i, _ p9: __m512i, _ p10: __m512i, _ p11: __m512i,
                       _ p12: __m512i, _ p13: __m512i, _ p14: __m512i, _ p15: __m512i) -> (__m512i, __m512i) {
        // Per 128-bit lane: rows (r, r+1, r, r+1).
        @inline(__always) func two(_ a: __m512i, _ b: __m512i) -> __m512i {
            _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b))
        }
        // Per 128-bit lane k: rows (r, r+1, r+2, r+3), each the sum of its dwords of lane k.
        @inline(__always) func four(_ a: __m512i, _ b: __m512i) -> __m512i {
            _mm512_add_epi32(_mm512_unpacklo_epi64(a, b), _mm512_unpackhi_epi64(a, b))
        }
        let even: __m512i = SIMD8<Int64>(0, 1, 4, 5, 8, 9, 12, 13)
        let odd: __m512i = SIMD8<Int64>(2, 3, 6, 7, 10, 11, 14, 15)
        // 128-bit lanes (a0+a1, a2+a3, b0+b1, b2+b3): block 1 rows of a, block 2 rows of a, then b's.
        @inline(__always) func lanes(_ a: __m512i, _ b: __m512i) -> __m512i {
            _mm512_add_epi32(_mm512_permutex2var_epi64(a, even, b), _mm512_permutex2var_epi64(a, odd, b))
        }
        let q0 = four(two(p0, p1), two(p2, p3)), q1 = four(two(p4, p5), two(p6, p7))
        let q2 = four(two(p8, p9), two(p10, p11)), q3 = four(two(p12, p13), two(p14, p15))
        let u = lanes(q0, q1), v = lanes(q2, q3)  // (rows 0-3 | 8-11: block 1, block 2, rows 4-7 | 12-15: block 1, block 2)
        return (_mm512_permutex2var_epi64(u, even, v), _mm512_permutex2var_epi64(u, odd, v))
    }
}

/// A 32-element format as 64 unsigned bytes of two consecutive blocks (elements in order),
/// weight = d · (u - offset) (+ m with `hasMin`); the block's first dword holds f16 d (and f16 m).
protocol VNNIVecBlock {
    static var blockBytes: Int { get }
    static var offset: Int32 { get }
    static var hasMin: Bool { get }
    /// Blocks at x and x + blockBytes: bytes 0..<32 the first block's elements, 32..<64 the second's.
    static func pair(_ x: UnsafeRawPointer) -> __m512i
    /// The block at x alone in bytes 0..<32 (the rest anything finite: it meets zero activations).
    static func single(_ x: UnsafeRawPointer) -> __m512i
}

/// 16 nibble bytes at q (and q2) → elements 0..<16 (low nibbles) then 16..<32 (high), per block.
@inline(__always) func vecNibbles(_ q: UnsafeRawPointer, _ q2: UnsafeRawPointer?) -> __m512i {
    var z = _mm512_broadcast_i32x4(load128(q))
    if let q2 { z = _mm512_mask_broadcast_i32x4(z, 0xFF00, load128(q2)) }
    // 128-bit lanes 1 and 3 take the high nibbles: shift their words by 4.
    z = _mm512_mask_srli_epi16(z, 0xFF00_FF00, z, 4)
    return _mm512_and_si512(z, _mm512_set1_epi8(0x0F))
}

// [32]: f16 d, 16 nibble bytes; w = d·(n - 8).
struct VecQ4_0: VNNIVecBlock {
    static var blockBytes: Int { 18 }
    static var offset: Int32 { 8 }
    static var hasMin: Bool { false }
    @inline(__always) static func pair(_ x: UnsafeRawPointer) -> __m512i { vecNibbles(x + 2, x + 20) }
    @inline(__always) static func single(_ x: UnsafeRawPointer) -> __m512i { vecNibbles(x + 2, nil) }
}

// [32]: f16 d, f16 m, 16 nibble bytes; w = d·n + m.
struct VecQ4_1: VNNIVecBlock {
    static var blockBytes: Int { 20 }
    static var offset: Int32 { 0 }
    static var hasMin: Bool { true }
    @inline(__always) static func pair(_ x: UnsafeRawPointer) -> __m512i { vecNibbles(x + 4, x + 24) }
    @inline(__always) static func single(_ x: UnsafeRawPointer) -> __m512i { vecNibbles(x + 4, nil) }
}

// [32]: f16 d, u32 qh (bit i: fifth bit of element i), 16 nibble bytes; w = d·(n | h<<4 - 16).
struct VecQ5_0: VNNIVecBlock {
    static var blockBytes: Int { 22 }
    static var offset: Int32 { 16 }
    static var hasMin: Bool { false }
    @inline(__always) static func pair(_ x: UnsafeRawPointer) -> __m512i {
        // The 64 fifth bits are a byte mask: add 16 where set.
        let h = UInt64(x.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
            | UInt64(x.loadUnaligned(fromByteOffset: 24, as: UInt32.self)) << 32
        let n = vecNibbles(x + 6, x + 28)
        return _mm512_mask_add_epi8(n, __mmask64(h), n, _mm512_set1_epi8(16))
    }
    @inline(__always) static func single(_ x: UnsafeRawPointer) -> __m512i {
        let h = UInt64(x.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
        let n = vecNibbles(x + 6, nil)
        return _mm512_mask_add_epi8(n, __mmask64(h), n, _mm512_set1_epi8(16))
    }
}

// [32]: f16 d, 32 int8; w = d·q = d·(u - 128) with u = q ^ 0x80 as a byte.
struct VecQ8_0: VNNIVecBlock {
    static var blockBytes: Int { 34 }
    static var offset: Int32 { 128 }
    static var hasMin: Bool { false }
    @inline(__always) static func pair(_ x: UnsafeRawPointer) -> __m512i {
        let lo = _mm256_loadu_si256((x + 2).assumingMemoryBound(to: __m256i.self))
        let hi = _mm256_loadu_si256((x + 36).assumingMemoryBound(to: __m256i.self))
        return _mm512_xor_si512(_mm512_mask_broadcast_i64x4(_mm512_broadcast_i64x4(lo), 0xF0, hi), _mm512_set1_epi8(-128))
    }
    @inline(__always) static func single(_ x: UnsafeRawPointer) -> __m512i {
        let lo = _mm256_loadu_si256((x + 2).assumingMemoryBound(to: __m256i.self))
        return _mm512_xor_si512(_mm512_broadcast_i64x4(lo), _mm512_set1_epi8(-128))
    }
}
#endif
