#if arch(x86_64)
import _Builtin_intrinsics.intel
import KernelsAVX2
import CPrefetch

/// K-quant weights (Q4_K, Q5_K, Q6_K) against a few tokens of Q8_K activations on
/// AVX-512 VNNI, reading each weight row once, front to back: the path for
/// generation, where the weights stream from memory once per step. Per super-block,
/// each of 16 rows gives 16 int32 lanes (`VNNIKRow.dot`), a tree of shuffles and adds
/// turns the 16 vectors into one with lane r = row r's exact integer sum, and one
/// FMA per lane applies the float scales. The float arithmetic per (row, token) is
/// `KQuantDot`'s, in the same order, so results are bit for bit those of the
/// reference and of the batched kernel.
public enum VNNIKQuantMatVec {
    public static let tileRows = 16

    /// ggml type ids: Q4_K, Q5_K, Q6_K.
    public static func supports(typeID: UInt32) -> Bool { typeID == 12 || typeID == 13 || typeID == 14 }

    /// y[t·ldy + r] = Σ_c w[r, c] · x[t, c] for r in r0..<r1 and every token of `act`.
    @discardableResult
    public static func rows(typeID: UInt32, w: UnsafeRawPointer, rowBytes: Int, r0: Int, r1: Int,
                            act: Q8KActivationsView, y: UnsafeMutablePointer<Float>, ldy: Int) -> Bool {
        switch typeID {
        case 12: run(VNNIKRowQ4_K.self, w, rowBytes, r0, r1, act, y, ldy)
        case 13: run(VNNIKRowQ5_K.self, w, rowBytes, r0, r1, act, y, ldy)
        case 14: run(VNNIKRowQ6_K.self, w, rowBytes, r0, r1, act, y, ldy)
        default: return false
        }
        return true
    }

    static func run<F: VNNIKRow>(_: F.Type, _ w: UnsafeRawPointer, _ rowBytes: Int, _ r0: Int, _ r1: Int,
                                 _ act: Q8KActivationsView, _ y: UnsafeMutablePointer<Float>, _ ldy: Int) {
        let k = VNNIKConstants()
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 16) { buf in  // [16] raw scales, see tile
            guard let scratch = buf.baseAddress else { return }
            var start = r0
            while start < r1 {
                let count = min(tileRows, r1 - start)
                // The tile after next is asked for into L2 while this one is multiplied: its rows
                // are read side by side, a pattern the hardware prefetcher follows poorly, and L2's
                // miss queue keeps more lines in flight than L1's (measured: +5-10% generation).
                let dist = 2
                let next = start + dist * count < r1 ? w + (start + dist * count) * rowBytes : nil
                let ahead = min(tileRows, r1 - start - dist * count) * rowBytes
                for t in 0..<act.nTokens {
                    tile(F.self, w + start * rowBytes, rowBytes, count, act, t, y + t * ldy + start, k, scratch,
                         t == 0 ? next : nil, ahead)
                }
                start += count
            }
        }
    }

    /// One token against a tile of up to 16 rows, super-block by super-block: each row
    /// gives 16 partial lanes (and 4 mins lanes), a tree of shuffles and adds turns them
    /// into lane r = row r's exact sums, and the float steps of `KQuantDot` follow for
    /// all 16 rows at once.
    @inline(__always)
    static func tile<F: VNNIKRow>(_: F.Type, _ w: UnsafeRawPointer, _ rowBytes: Int, _ count: Int,
                                  _ act: Q8KActivationsView, _ t: Int, _ y: UnsafeMutablePointer<Float>,
                                  _ k: VNNIKConstants, _ scratch: UnsafeMutablePointer<UInt32>,
                                  _ next: UnsafeRawPointer?, _ ahead: Int) {
        let nsb = act.superBlocks
        let a = UnsafeRawPointer(act.qs + t * nsb * 256), a4 = UnsafeRawPointer(act.qsK4 + t * nsb * 256)
        let ad = act.d + t * nsb, bs = act.bsums + t * nsb * 16
        var acc = _mm512_setzero_ps()
        let last = count - 1
        let idxA = _mm512_set_epi64(11, 10, 9, 8, 3, 2, 1, 0), idxB = _mm512_set_epi64(15, 14, 13, 12, 7, 6, 5, 4)
        let idxC = _mm512_set_epi64(13, 12, 9, 8, 5, 4, 1, 0), idxD = _mm512_set_epi64(15, 14, 11, 10, 7, 6, 3, 2)
        let ones = _mm256_set1_epi16(1)
        let step = (ahead + nsb - 1) / nsb
        for s in 0..<nsb {
            if let next, s * step < ahead {
                jeton_prefetch_range_l2(next + s * step, min(step, ahead - s * step))
            }
            let xa = a + 256 * s, xa4 = a4 + 256 * s, xb = bs + 16 * s, ws = w + s * F.blockBytes
            // The 8 sums per 32 elements as int16 (each |Σ| ≤ 32 · 127), shared by the 16 rows.
            let bs32 = F.hasMin
                ? _mm256_cvtepi32_epi16(_mm256_madd_epi16(_mm256_loadu_si256(UnsafeRawPointer(xb).assumingMemoryBound(to: __m256i.self)), ones))
                : _mm_setzero_si128()
            // Each row's f16 d (and dmin) go through memory as raw bits, converted 16 at once.
            var m0 = _mm_setzero_si128(), m1 = m0, m2 = m0, m3 = m0, m4 = m0, m5 = m0, m6 = m0, m7 = m0
            var m8 = m0, m9 = m0, m10 = m0, m11 = m0, m12 = m0, m13 = m0, m14 = m0, m15 = m0
            @inline(__always) func row(_ lane: Int, _ mins: inout __m128i) -> __m512i {
                let x = ws + min(lane, last) * rowBytes  // lanes past `count` repeat the last row, never stored
                // (Q6_K's d is the last 2 bytes of its block: read no further.)
                scratch[lane] = F.hasMin ? x.loadUnaligned(fromByteOffset: F.scaleOffset, as: UInt32.self)
                                         : UInt32(x.loadUnaligned(fromByteOffset: F.scaleOffset, as: UInt16.self))
                let (v, m) = F.dot(x, xa, xa4, xb, bs32, k)
                mins = m
                return v
            }
            // Level 1: slots i and i+8 → [i: halves summed | i+8: halves summed]. Slot i holds
            // row σ(i), σ = (0 2 1 3 8 10 9 11 4 6 5 7 12 14 13 15), its own inverse, so that
            // lane r of the tree's result is row r.
            @inline(__always) func l1(_ u: __m512i, _ v: __m512i) -> __m512i {
                _mm512_add_epi32(_mm512_permutex2var_epi64(u, idxA, v), _mm512_permutex2var_epi64(u, idxB, v))
            }
            let x0 = l1(row(0, &m0), row(4, &m4)), x1 = l1(row(2, &m2), row(6, &m6))
            let x2 = l1(row(1, &m1), row(5, &m5)), x3 = l1(row(3, &m3), row(7, &m7))
            let x4 = l1(row(8, &m8), row(12, &m12)), x5 = l1(row(10, &m10), row(14, &m14))
            let x6 = l1(row(9, &m9), row(13, &m13)), x7 = l1(row(11, &m11), row(15, &m15))
            // Level 2: quarters of x_i and x_{i+4}; y_i's quarters hold slots i, i+8, i+4, i+12.
            @inline(__always) func l2(_ u: __m512i, _ v: __m512i) -> __m512i {
                _mm512_add_epi32(_mm512_permutex2var_epi64(u, idxC, v), _mm512_permutex2var_epi64(u, idxD, v))
            }
            let isum = sum4(l2(x0, x4), l2(x2, x6), l2(x1, x5), l2(x3, x7))
            let raw = _mm512_loadu_si512(UnsafeRawPointer(scratch))
            let da = _mm512_set1_ps(ad[s])
            acc = _mm512_fmadd_ps(_mm512_mul_ps(halfsLow(raw), da), _mm512_cvtepi32_ps(isum), acc)
            if F.hasMin {
                // Rows 4k + i in quarter k of vector i, so the same two levels put row r in lane r.
                @inline(__always) func quarters(_ a: __m128i, _ b: __m128i, _ c: __m128i, _ d: __m128i) -> __m512i {
                    var z = _mm512_castsi128_si512(a)
                    z = _mm512_mask_broadcast_i32x4(z, 0x00F0, b)
                    z = _mm512_mask_broadcast_i32x4(z, 0x0F00, c)
                    return _mm512_mask_broadcast_i32x4(z, 0xF000, d)
                }
                let imin = sum4(quarters(m0, m4, m8, m12), quarters(m1, m5, m9, m13),
                                quarters(m2, m6, m10, m14), quarters(m3, m7, m11, m15))
                acc = _mm512_fnmadd_ps(_mm512_mul_ps(halfsHigh(raw), da), _mm512_cvtepi32_ps(imin), acc)
            }
        }
        _mm512_mask_storeu_ps(y, __mmask16(truncatingIfNeeded: (1 << count) - 1), acc)
    }

    /// Lane 4k + i = the sum of the 4 lanes of quarter k of input i: two levels of
    /// adds within 128-bit lanes.
    @inline(__always)
    static func sum4(_ a: __m512i, _ b: __m512i, _ c: __m512i, _ d: __m512i) -> __m512i {
        let z0 = _mm512_add_epi32(_mm512_unpacklo_epi32(a, b), _mm512_unpackhi_epi32(a, b))  // [a02 b02 a13 b13]
        let z1 = _mm512_add_epi32(_mm512_unpacklo_epi32(c, d), _mm512_unpackhi_epi32(c, d))
        return _mm512_add_epi32(_mm512_unpacklo_epi64(z0, z1), _mm512_unpackhi_epi64(z0, z1))
    }
}
#endif
