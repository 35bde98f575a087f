#if arch(x86_64)
import _Builtin_intrinsics.intel

/// Integer matmul of quantized weight rows with Q8 activations on AVX2:
/// per block of 32, `vpmaddubsw` (u8 × s8 → pairs of i16), `vpmaddwd` (→ i32),
/// convert, and one FMA by weight scale × activation scale. A tile of rows has its
/// block scales decoded once, then every token is multiplied against it four at a
/// time, so each weight block is read from memory once per call, not once per token.
public enum AVX2MatMul {
    /// ggml type ids this path multiplies: Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q6_K.
    public static func supports(typeID: UInt32) -> Bool {
        switch typeID {
        case 2, 3, 6, 8, 12, 14: return true
        default: return false
        }
    }

    /// y[t·ldy + r] = Σ_c w[r, c] · x[t, c] for r in r0..<r1 and every token of `act`.
    /// `scratch` holds ≥ scratchFloats(rows: r1 - r0, blocks: act.blocks) floats. Returns false for an unsupported type.
    @discardableResult
    public static func rows(typeID: UInt32, w: UnsafeRawPointer, rowBytes: Int, r0: Int, r1: Int,
                            act: Q8ActivationsView, y: UnsafeMutablePointer<Float>, ldy: Int,
                            scratch: UnsafeMutablePointer<Float>) -> Bool {
        switch typeID {
        case 2: tile(Q4_0Block.self, w, rowBytes, r0, r1, act, y, ldy, scratch)
        case 3: tile(Q4_1Block.self, w, rowBytes, r0, r1, act, y, ldy, scratch)
        case 6: tile(Q5_0Block.self, w, rowBytes, r0, r1, act, y, ldy, scratch)
        case 8: tile(Q8_0Block.self, w, rowBytes, r0, r1, act, y, ldy, scratch)
        case 12: tile(Q4_KBlock.self, w, rowBytes, r0, r1, act, y, ldy, scratch)
        case 14: tile(Q6_KBlock.self, w, rowBytes, r0, r1, act, y, ldy, scratch)
        default: return false
        }
        return true
    }

    public static func scratchFloats(rows: Int, blocks: Int) -> Int { 2 * rows * blocks + 8 * blocks }

    static func tile<B: AVX2Block>(_: B.Type, _ w: UnsafeRawPointer, _ rowBytes: Int, _ r0: Int, _ r1: Int,
                                   _ act: Q8ActivationsView, _ y: UnsafeMutablePointer<Float>, _ ldy: Int,
                                   _ scratch: UnsafeMutablePointer<Float>) {
        let nb = act.blocks, n = act.nTokens, count = r1 - r0
        let dR = scratch                 // [count, nb] weight block scales
        let mR = scratch + count * nb    // [count, nb] weight block mins
        let dq = mR + count * nb         // [nb, 4] scales of the 4 tokens of a group, interleaved
        let prod = dq + 4 * nb           // [nb, 4] weight scale × token scale, for one row
        if n < 4 && B.perBlockScales {
            // Generation: one pass over each row, scales decoded in the dot loop.
            for t in 0..<n {
                for i in 0..<count { micro1Fused(B.self, w + (r0 + i) * rowBytes, mR, act, t, y + t * ldy + r0 + i) }
            }
            return
        }
        for i in 0..<count { B.scales(w + (r0 + i) * rowBytes, nb, dR + i * nb, mR + i * nb) }
        var t = 0
        while t + 4 <= n {
            for b in 0..<nb {
                for k in 0..<4 { dq[4 * b + k] = act.d[(t + k) * nb + b] }
            }
            for i in 0..<count {
                micro4(B.self, w + (r0 + i) * rowBytes, dR + i * nb, mR + i * nb, dq, prod, act, t, y + t * ldy + r0 + i, ldy)
            }
            t += 4
        }
        while t < n {
            var i = 0
            while i + 2 <= count {
                micro2x1(B.self, w + (r0 + i) * rowBytes, rowBytes, dR + i * nb, mR + i * nb, act, t, y + t * ldy + r0 + i)
                i += 2
            }
            if i < count {
                micro1(B.self, w + (r0 + i) * rowBytes, dR + i * nb, mR + i * nb, act, t, y + t * ldy + r0 + i)
            }
            t += 1
        }
    }

    /// The int32 lanes of Σ w·a for one block, as floats (8 partial sums).
    @inline(__always)
    static func block<B: AVX2Block>(_: B.Type, _ q: __m256i, _ qa: __m256i, _ sc: __m256i, _ a: UnsafeRawPointer) -> __m256 {
        let av = load256(a)
        let ones = _mm256_set1_epi16(1)
        let i32: __m256i
        switch B.kind {
        case .unsignedWithMin:
            i32 = _mm256_madd_epi16(_mm256_maddubs_epi16(q, av), ones)
        case .signed:
            i32 = _mm256_madd_epi16(_mm256_maddubs_epi16(qa, _mm256_sign_epi8(av, q)), ones)
        case .q6:
            // (q - 32)·a = q·a - 32·a, both within i16; then scales per 16 in vpmaddwd.
            let p = _mm256_sub_epi16(_mm256_maddubs_epi16(q, av), _mm256_maddubs_epi16(_mm256_set1_epi8(32), av))
            i32 = _mm256_madd_epi16(p, sc)
        }
        return _mm256_cvtepi32_ps(i32)
    }

    @inline(__always)
    static func prep<B: AVX2Block>(_: B.Type, _ row: UnsafeRawPointer, _ b: Int) -> (__m256i, __m256i, __m256i) {
        let q = B.quants(row, b)
        let qa = B.kind == .signed ? _mm256_sign_epi8(q, q) : q
        let sc = B.kind == .q6 ? B.scale16(row, b) : q
        return (q, qa, sc)
    }

    /// One weight row against tokens t..<t+4; y[k·ldy] for token t+k.
    @inline(__always)
    static func micro4<B: AVX2Block>(_: B.Type, _ row: UnsafeRawPointer, _ dR: UnsafePointer<Float>, _ mR: UnsafePointer<Float>,
                                     _ dq: UnsafePointer<Float>, _ prod: UnsafeMutablePointer<Float>,
                                     _ act: Q8ActivationsView, _ t: Int, _ y: UnsafeMutablePointer<Float>, _ ldy: Int) {
        let nb = act.blocks
        let a0 = UnsafeRawPointer(act.qs + t * nb * 32), a1 = a0 + nb * 32, a2 = a1 + nb * 32, a3 = a2 + nb * 32
        // Scale products first, in their own loop, so the main loop takes them with
        // broadcast loads (load ports) instead of a multiply and a shuffle per pair.
        for b in 0..<nb { _mm_storeu_ps(prod + 4 * b, _mm_mul_ps(_mm_set1_ps(dR[b]), _mm_loadu_ps(dq + 4 * b))) }
        var c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps(), c2 = _mm256_setzero_ps(), c3 = _mm256_setzero_ps()
        for b in 0..<nb {
            let (q, qa, sc) = prep(B.self, row, b)
            let o = 32 * b, p = prod + 4 * b
            c0 = _mm256_fmadd_ps(block(B.self, q, qa, sc, a0 + o), _mm256_broadcast_ss(p), c0)
            c1 = _mm256_fmadd_ps(block(B.self, q, qa, sc, a1 + o), _mm256_broadcast_ss(p + 1), c1)
            c2 = _mm256_fmadd_ps(block(B.self, q, qa, sc, a2 + o), _mm256_broadcast_ss(p + 2), c2)
            c3 = _mm256_fmadd_ps(block(B.self, q, qa, sc, a3 + o), _mm256_broadcast_ss(p + 3), c3)
        }
        let sums = hsum4(c0, c1, c2, c3)
        var r0 = sums[0], r1 = sums[1], r2 = sums[2], r3 = sums[3]
        if B.kind == .unsignedWithMin {
            let s0 = act.s + t * nb
            r0 += mdot(mR, s0, nb)
            r1 += mdot(mR, s0 + nb, nb)
            r2 += mdot(mR, s0 + 2 * nb, nb)
            r3 += mdot(mR, s0 + 3 * nb, nb)
        }
        y[0] = r0
        y[ldy] = r1
        y[2 * ldy] = r2
        y[3 * ldy] = r3
    }

    /// Two adjacent weight rows against token t (generation); y[0], y[1].
    @inline(__always)
    static func micro2x1<B: AVX2Block>(_: B.Type, _ row: UnsafeRawPointer, _ rowBytes: Int, _ dR: UnsafePointer<Float>,
                                       _ mR: UnsafePointer<Float>, _ act: Q8ActivationsView, _ t: Int, _ y: UnsafeMutablePointer<Float>) {
        let nb = act.blocks
        let a = UnsafeRawPointer(act.qs + t * nb * 32)
        let d = act.d + t * nb
        let rowB = row + rowBytes, dRB = dR + nb
        var c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps()
        for b in 0..<nb {
            let da = _mm256_set1_ps(d[b])
            let (q, qa, sc) = prep(B.self, row, b)
            c0 = _mm256_fmadd_ps(block(B.self, q, qa, sc, a + 32 * b), _mm256_mul_ps(_mm256_set1_ps(dR[b]), da), c0)
            let (qB, qaB, scB) = prep(B.self, rowB, b)
            c1 = _mm256_fmadd_ps(block(B.self, qB, qaB, scB, a + 32 * b), _mm256_mul_ps(_mm256_set1_ps(dRB[b]), da), c1)
        }
        // The same reduction tree as micro4: a token's result must not depend on how
        // many tokens share the call (greedy output must not change with batching).
        let sums = hsum4(c0, c1, c0, c1)
        var r0 = sums[0], r1 = sums[1]
        if B.kind == .unsignedWithMin {
            r0 += mdot(mR, act.s + t * nb, nb)
            r1 += mdot(mR + nb, act.s + t * nb, nb)
        }
        y[0] = r0
        y[1] = r1
    }

    @inline(__always)
    static func micro1<B: AVX2Block>(_: B.Type, _ row: UnsafeRawPointer, _ dR: UnsafePointer<Float>, _ mR: UnsafePointer<Float>,
                                     _ act: Q8ActivationsView, _ t: Int, _ y: UnsafeMutablePointer<Float>) {
        let nb = act.blocks
        let a = UnsafeRawPointer(act.qs + t * nb * 32)
        let d = act.d + t * nb
        var c0 = _mm256_setzero_ps()
        for b in 0..<nb {
            let (q, qa, sc) = prep(B.self, row, b)
            c0 = _mm256_fmadd_ps(block(B.self, q, qa, sc, a + 32 * b), _mm256_set1_ps(dR[b] * d[b]), c0)
        }
        var r = hsum4(c0, c0, c0, c0)[0]  // same tree as micro4
        if B.kind == .unsignedWithMin { r += mdot(mR, act.s + t * nb, nb) }
        y[0] = r
    }

    /// The lane sums of four vectors (an hadd tree instead of four serial reductions).
    @inline(__always)
    static func hsum4(_ a: __m256, _ b: __m256, _ c: __m256, _ d: __m256) -> SIMD4<Float> {
        let u = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d))  // [a b c d | a b c d] partial
        return _mm_add_ps(_mm256_castps256_ps128(u), _mm256_castps256_ps128(_mm256_permutevar8x32_ps(u, _mm256_setr_epi32(4, 5, 6, 7, 0, 1, 2, 3))))
    }

    /// micro1 with the block scales read inside the loop (mins kept in `mbuf` [nb] for
    /// the same mdot as the other kernels: results stay bit-identical to micro4's).
    @inline(__always)
    static func micro1Fused<B: AVX2Block>(_: B.Type, _ row: UnsafeRawPointer, _ mbuf: UnsafeMutablePointer<Float>,
                                          _ act: Q8ActivationsView, _ t: Int, _ y: UnsafeMutablePointer<Float>) {
        let nb = act.blocks
        let a = UnsafeRawPointer(act.qs + t * nb * 32)
        let d = act.d + t * nb
        var c0 = _mm256_setzero_ps()
        for b in 0..<nb {
            let (dw, mw) = B.blockScale(row, b)
            mbuf[b] = mw
            let (q, qa, sc) = prep(B.self, row, b)
            c0 = _mm256_fmadd_ps(block(B.self, q, qa, sc, a + 32 * b), _mm256_set1_ps(dw * d[b]), c0)
        }
        var r = hsum4(c0, c0, c0, c0)[0]
        if B.kind == .unsignedWithMin { r += mdot(mbuf, act.s + t * nb, nb) }
        y[0] = r
    }

    /// Σ m[i]·s[i]: the per-block mins against the activation block sums.
    @inline(__always)
    static func mdot(_ m: UnsafePointer<Float>, _ s: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc = _mm256_setzero_ps()
        var i = 0
        while i + 8 <= n {
            acc = _mm256_fmadd_ps(_mm256_loadu_ps(m + i), _mm256_loadu_ps(s + i), acc)
            i += 8
        }
        var r = acc.sum()
        while i < n { r += m[i] * s[i]; i += 1 }
        return r
    }
}

// MARK: - Weight formats

// The formats live in this file with the integer kernels: a debug build (the test
// suite's) compiles each file on its own, and a generic kernel is specialized, its steps
// inlined, only against conformances it can see. From another file each step was a call
// through a witness table: the debug server took 48 s for 16 streams of 100 tokens of
// SmolLM2, 13 s with the formats here (8 s, as the release build, with the loads copied into
// the other hot files). AVX2FloatMatMul's tile (float logits of non-Q8_0 weights, last
// tokens only) still takes them across files.

/// How a weight format's 32 quants meet the int8 activations in `vpmaddubsw`
/// (unsigned × signed bytes): unsigned quants with a float min per block, signed
/// quants through the sign trick, or Q6_K's unsigned quants with int16 scales per 16.
enum BlockKind { case unsignedWithMin, signed, q6 }

/// One ggml weight format seen as a row of 32-element blocks. Generic kernels are
/// specialized per format, so these calls inline into the inner loop.
protocol AVX2Block {
    static var kind: BlockKind { get }
    /// Float scale and min of each of the row's `nb` 32-blocks: w = dR · q + mR.
    static func scales(_ row: UnsafeRawPointer, _ nb: Int, _ dR: UnsafeMutablePointer<Float>, _ mR: UnsafeMutablePointer<Float>)
    /// The 32 quants of block b as bytes, in element order.
    static func quants(_ row: UnsafeRawPointer, _ b: Int) -> __m256i
    /// Q6_K only: int16 scales, the first 8 lanes for elements 0..15, the last 8 for 16..31.
    static func scale16(_ row: UnsafeRawPointer, _ b: Int) -> __m256i
    /// Q6_K only: the int8 scales of elements 0..15 and 16..31 of block b.
    static func subScales(_ row: UnsafeRawPointer, _ b: Int) -> (Float, Float)
    /// Whether block b's scale and min can be read on their own (32-element formats):
    /// generation then decodes them inside the dot loop instead of in a separate pass.
    static var perBlockScales: Bool { get }
    static func blockScale(_ row: UnsafeRawPointer, _ b: Int) -> (Float, Float)
}

extension AVX2Block {
    @inline(__always) static func scale16(_ row: UnsafeRawPointer, _ b: Int) -> __m256i { _mm256_setzero_si256() }
    @inline(__always) static func subScales(_ row: UnsafeRawPointer, _ b: Int) -> (Float, Float) { (1, 1) }
    static var perBlockScales: Bool { false }
    @inline(__always) static func blockScale(_ row: UnsafeRawPointer, _ b: Int) -> (Float, Float) { (0, 0) }
}

@inline(__always) func half(_ p: UnsafeRawPointer, _ off: Int) -> Float {
    Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: off, as: UInt16.self)))  // vcvtph2ps
}

@inline(__always) func load128(_ p: UnsafeRawPointer) -> __m128i { _mm_loadu_si128(p.assumingMemoryBound(to: __m128i.self)) }
@inline(__always) func load256(_ p: UnsafeRawPointer) -> __m256i { _mm256_loadu_si256(p.assumingMemoryBound(to: __m256i.self)) }

/// 16 bytes of nibbles → 32 bytes: low nibbles are elements 0..15, high ones 16..31.
@inline(__always) func nibbles16(_ p: UnsafeRawPointer) -> __m256i {
    let lo = load128(p)
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(lo, 4), lo), _mm256_set1_epi8(0x0F))
}

/// Bit j of x → byte j of the result, as 0xFF or 0 (ggml's bytes_from_bits_32).
@inline(__always) func bytesFromBits32(_ x: UInt32) -> __m256i {
    let shuf = _mm256_setr_epi64x(0, 0x0101_0101_0101_0101, 0x0202_0202_0202_0202, 0x0303_0303_0303_0303)
    let bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(Int32(bitPattern: x)), shuf)
    let bit = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7FBF_DFEF_F7FB_FDFE))
    return _mm256_cmpeq_epi8(bit, _mm256_set1_epi64x(-1))
}

// [32]: f16 d, 16 nibble bytes; w = d·(n - 8).
struct Q4_0Block: AVX2Block {
    static var kind: BlockKind { .unsignedWithMin }
    @inline(__always) static func scales(_ row: UnsafeRawPointer, _ nb: Int, _ dR: UnsafeMutablePointer<Float>, _ mR: UnsafeMutablePointer<Float>) {
        for b in 0..<nb { let d = half(row, b * 18); dR[b] = d; mR[b] = -8 * d }
    }
    @inline(__always) static func quants(_ row: UnsafeRawPointer, _ b: Int) -> __m256i { nibbles16(row + b * 18 + 2) }
    static var perBlockScales: Bool { true }
    @inline(__always) static func blockScale(_ row: UnsafeRawPointer, _ b: Int) -> (Float, Float) { let d = half(row, b * 18); return (d, -8 * d) }
}

// [32]: f16 d, f16 m, 16 nibble bytes; w = d·n + m.
struct Q4_1Block: AVX2Block {
    static var kind: BlockKind { .unsignedWithMin }
    @inline(__always) static func scales(_ row: UnsafeRawPointer, _ nb: Int, _ dR: UnsafeMutablePointer<Float>, _ mR: UnsafeMutablePointer<Float>) {
        for b in 0..<nb { dR[b] = half(row, b * 20); mR[b] = half(row, b * 20 + 2) }
    }
    @inline(__always) static func quants(_ row: UnsafeRawPointer, _ b: Int) -> __m256i { nibbles16(row + b * 20 + 4) }
    static var perBlockScales: Bool { true }
    @inline(__always) static func blockScale(_ row: UnsafeRawPointer, _ b: Int) -> (Float, Float) { (half(row, b * 20), half(row, b * 20 + 2)) }
}

// [32]: f16 d, u32 fifth bits, 16 nibble bytes; w = d·(n | h<<4 - 16).
struct Q5_0Block: AVX2Block {
    static var kind: BlockKind { .unsignedWithMin }
    @inline(__always) static func scales(_ row: UnsafeRawPointer, _ nb: Int, _ dR: UnsafeMutablePointer<Float>, _ mR: UnsafeMutablePointer<Float>) {
        for b in 0..<nb { let d = half(row, b * 22); dR[b] = d; mR[b] = -16 * d }
    }
    @inline(__always) static func quants(_ row: UnsafeRawPointer, _ b: Int) -> __m256i {
        let p = row + b * 22
        let hi = _mm256_and_si256(bytesFromBits32(p.loadUnaligned(fromByteOffset: 2, as: UInt32.self)), _mm256_set1_epi8(0x10))
        return _mm256_or_si256(nibbles16(p + 6), hi)
    }
    static var perBlockScales: Bool { true }
    @inline(__always) static func blockScale(_ row: UnsafeRawPointer, _ b: Int) -> (Float, Float) { let d = half(row, b * 22); return (d, -16 * d) }
}

// [32]: f16 d, 32 int8; w = d·q.
struct Q8_0Block: AVX2Block {
    static var kind: BlockKind { .signed }
    @inline(__always) static func scales(_ row: UnsafeRawPointer, _ nb: Int, _ dR: UnsafeMutablePointer<Float>, _ mR: UnsafeMutablePointer<Float>) {
        for b in 0..<nb { dR[b] = half(row, b * 34) }
    }
    @inline(__always) static func quants(_ row: UnsafeRawPointer, _ b: Int) -> __m256i { load256(row + b * 34 + 2) }
    static var perBlockScales: Bool { true }
    @inline(__always) static func blockScale(_ row: UnsafeRawPointer, _ b: Int) -> (Float, Float) { (half(row, b * 34), 0) }
}

// [256]: f16 d, f16 dmin, 12 bytes of 6-bit scales/mins, 128 nibble bytes. Sub-block j
// (32 elements) is the low (j even) or high (j odd) nibbles of bytes 32·(j/2)..<32·(j/2)+32.
struct Q4_KBlock: AVX2Block {
    static var kind: BlockKind { .unsignedWithMin }
    @inline(__always) static func scales(_ row: UnsafeRawPointer, _ nb: Int, _ dR: UnsafeMutablePointer<Float>, _ mR: UnsafeMutablePointer<Float>) {
        for sb in 0..<nb / 8 {
            let p = row + sb * 144
            let d = half(p, 0), dmin = half(p, 2)
            let q = (p + 4).assumingMemoryBound(to: UInt8.self)
            for j in 0..<8 {
                let sc: UInt8, m: UInt8
                if j < 4 {
                    sc = q[j] & 63; m = q[j + 4] & 63
                } else {
                    sc = (q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4)
                    m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4)
                }
                dR[sb * 8 + j] = d * Float(sc)
                mR[sb * 8 + j] = -dmin * Float(m)
            }
        }
    }
    @inline(__always) static func quants(_ row: UnsafeRawPointer, _ b: Int) -> __m256i {
        let j = b & 7
        let q = load256(row + (b >> 3) * 144 + 16 + (j >> 1) * 32)
        return _mm256_and_si256(_mm256_srli_epi16(q, Int32((j & 1) * 4)), _mm256_set1_epi8(0x0F))
    }
}

// [256]: 128 low-nibble bytes, 64 bytes of 2 high bits, 16 int8 scales (one per 16), f16 d.
// Block b = 4h + g of a super-block: ql at 64h + 32(g & 1) (high nibble when g ≥ 2),
// high bits at 128 + 32h shifted by 2g; w = d · sc · (q - 32).
struct Q6_KBlock: AVX2Block {
    static var kind: BlockKind { .q6 }
    @inline(__always) static func scales(_ row: UnsafeRawPointer, _ nb: Int, _ dR: UnsafeMutablePointer<Float>, _ mR: UnsafeMutablePointer<Float>) {
        for sb in 0..<nb / 8 {
            let d = half(row + sb * 210, 208)
            for j in 0..<8 { dR[sb * 8 + j] = d }
        }
    }
    @inline(__always) static func quants(_ row: UnsafeRawPointer, _ b: Int) -> __m256i {
        let p = row + (b >> 3) * 210
        let h = (b >> 2) & 1, g = b & 3
        let ql = load256(p + 64 * h + 32 * (g & 1))
        let lo = _mm256_and_si256(_mm256_srli_epi16(ql, Int32((g >> 1) * 4)), _mm256_set1_epi8(0x0F))
        let qh = _mm256_and_si256(_mm256_srli_epi16(load256(p + 128 + 32 * h), Int32(2 * g)), _mm256_set1_epi8(3))
        return _mm256_or_si256(lo, _mm256_slli_epi16(qh, 4))
    }
    @inline(__always) static func scale16(_ row: UnsafeRawPointer, _ b: Int) -> __m256i {
        let p = row + (b >> 3) * 210 + 192
        let i = 8 * ((b >> 2) & 1) + 2 * (b & 3)
        let s0 = Int16(p.load(fromByteOffset: i, as: Int8.self)), s1 = Int16(p.load(fromByteOffset: i + 1, as: Int8.self))
        return _mm256_set_m128i(_mm_set1_epi16(s1), _mm_set1_epi16(s0))
    }
    @inline(__always) static func subScales(_ row: UnsafeRawPointer, _ b: Int) -> (Float, Float) {
        let p = row + (b >> 3) * 210 + 192
        let i = 8 * ((b >> 2) & 1) + 2 * (b & 3)
        return (Float(p.load(fromByteOffset: i, as: Int8.self)), Float(p.load(fromByteOffset: i + 1, as: Int8.self)))
    }
}
#endif
