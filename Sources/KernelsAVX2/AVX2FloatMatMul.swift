#if arch(x86_64)
import _Builtin_intrinsics.intel
import CPrefetch

/// Quantized weights against float activations on AVX2 (no activation rounding):
/// for the logits matmul, where 8-bit activations cost the most perplexity, and
/// where only the last token of each sequence is multiplied, so speed matters less.
public enum AVX2FloatMatMul {
    /// y[t·ldy + r] = Σ_c w[r, c] · x[t·cols + c] for r in r0..<r1, t in 0..<nTokens.
    /// `scratch` holds ≥ 2 · (r1 - r0) · cols / 32 floats. Returns false for an unsupported type.
    @discardableResult
    public static func rows(typeID: UInt32, w: UnsafeRawPointer, rowBytes: Int, r0: Int, r1: Int,
                            x: UnsafePointer<Float>, nTokens: Int, cols: Int, y: UnsafeMutablePointer<Float>, ldy: Int,
                            scratch: UnsafeMutablePointer<Float>) -> Bool {
        switch typeID {
        case 2: tile(Q4_0Block.self, w, rowBytes, r0, r1, x, nTokens, cols, y, ldy, scratch)
        case 3: tile(Q4_1Block.self, w, rowBytes, r0, r1, x, nTokens, cols, y, ldy, scratch)
        case 6: tile(Q5_0Block.self, w, rowBytes, r0, r1, x, nTokens, cols, y, ldy, scratch)
        case 8: tile(Q8_0Block.self, w, rowBytes, r0, r1, x, nTokens, cols, y, ldy, scratch)
        case 12: tile(Q4_KBlock.self, w, rowBytes, r0, r1, x, nTokens, cols, y, ldy, scratch)
        case 14: tile(Q6_KBlock.self, w, rowBytes, r0, r1, x, nTokens, cols, y, ldy, scratch)
        default: return false
        }
        return true
    }

    static func tile<B: AVX2Block>(_: B.Type, _ w: UnsafeRawPointer, _ rowBytes: Int, _ r0: Int, _ r1: Int,
                                   _ x: UnsafePointer<Float>, _ n: Int, _ cols: Int, _ y: UnsafeMutablePointer<Float>,
                                   _ ldy: Int, _ scratch: UnsafeMutablePointer<Float>) {
        let nb = cols / 32
        for r in r0..<r1 {
            let row = w + r * rowBytes
            let dR = scratch, mR = scratch + nb  // [nb] each
            B.scales(row, nb, dR, mR)
            var t = 0
            while t < n {
                let k = min(4, n - t)  // tokens in this group; unused accumulators stay zero
                let x0 = x + t * cols, x1 = x0 + (k > 1 ? cols : 0), x2 = x0 + (k > 2 ? 2 * cols : 0), x3 = x0 + (k > 3 ? 3 * cols : 0)
                var c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps(), c2 = _mm256_setzero_ps(), c3 = _mm256_setzero_ps()
                for b in 0..<nb {
                    var q = B.quants(row, b)
                    let (s0, s1) = B.subScales(row, b)
                    let lo = _mm256_set1_ps(dR[b] * s0), hi = _mm256_set1_ps(dR[b] * s1)
                    let bias: Float = B.kind == .unsignedWithMin ? mR[b] : 0
                    let blo = B.kind == .q6 ? _mm256_mul_ps(lo, _mm256_set1_ps(-32)) : _mm256_set1_ps(bias)
                    let bhi = B.kind == .q6 ? _mm256_mul_ps(hi, _mm256_set1_ps(-32)) : _mm256_set1_ps(bias)
                    withUnsafeBytes(of: &q) { qb in
                        guard let qbase = qb.baseAddress else { return }
                        for g in 0..<4 {
                            let bytes = _mm_loadl_epi64((qbase + 8 * g).assumingMemoryBound(to: __m128i.self))
                            let i32 = B.kind == .signed ? _mm256_cvtepi8_epi32(bytes) : _mm256_cvtepu8_epi32(bytes)
                            let wf = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i32), g < 2 ? lo : hi, g < 2 ? blo : bhi)
                            let o = 32 * b + 8 * g
                            c0 = _mm256_fmadd_ps(wf, _mm256_loadu_ps(x0 + o), c0)
                            c1 = _mm256_fmadd_ps(wf, _mm256_loadu_ps(x1 + o), c1)
                            c2 = _mm256_fmadd_ps(wf, _mm256_loadu_ps(x2 + o), c2)
                            c3 = _mm256_fmadd_ps(wf, _mm256_loadu_ps(x3 + o), c3)
                        }
                    }
                }
                let sums = (c0.sum(), c1.sum(), c2.sum(), c3.sum())
                y[t * ldy + r] = sums.0
                if k > 1 { y[(t + 1) * ldy + r] = sums.1 }
                if k > 2 { y[(t + 2) * ldy + r] = sums.2 }
                if k > 3 { y[(t + 3) * ldy + r] = sums.3 }
                t += k
            }
        }
    }
}
#endif

#if arch(x86_64)
/// Q8_0 weights against activations rounded to int16 per block of 32 (relative
/// error ~1.5e-5, float-like): `vpmovsxbw` + `vpmaddwd` per 16 elements. The logits
/// matmul of the default model (tied Q8_0 embedding) goes here.
public enum AVX2Q8x16MatMul {
    // Copies of the loads of AVX2MatMul.swift: a debug build calls a function of another file
    // (no inlining across files), once per 16 bytes here.
    @inline(__always) private static func load128(_ p: UnsafeRawPointer) -> __m128i { _mm_loadu_si128(p.assumingMemoryBound(to: __m128i.self)) }
    @inline(__always) private static func load256(_ p: UnsafeRawPointer) -> __m256i { _mm256_loadu_si256(p.assumingMemoryBound(to: __m256i.self)) }
    @inline(__always) private static func half(_ p: UnsafeRawPointer, _ off: Int) -> Float {
        Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: off, as: UInt16.self)))
    }

    /// How far ahead of the block being read one token's pass asks for lines.
    static let streamDistance = 4096

    /// a16: [nTokens, nb·32] int16, ad: [nTokens, nb] scales. y[t·ldy + r] for r in r0..<r1.
    /// Tokens go two at a time (an odd last one alone) so each weight block is sign-extended once per pair;
    /// per token the operations and their order are the same either way (batch invariance).
    public static func rows(w: UnsafeRawPointer, rowBytes: Int, r0: Int, r1: Int, a16: UnsafePointer<Int16>,
                            ad: UnsafePointer<Float>, nb: Int, nTokens: Int, y: UnsafeMutablePointer<Float>, ldy: Int) {
        for r in r0..<r1 {
            let row = w + r * rowBytes
            var t = 0
            while t < nTokens {
                let a = UnsafeRawPointer(a16 + t * nb * 32), d = ad + t * nb
                if t + 1 == nTokens {
                    // One token (generation's logits): the pair's second half was computed and
                    // dropped here, twice the work (SmolLM2's and the 0.5B's Q8_0 output).
                    var c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps()
                    // The matrix is one stream (rows r0..<r1 back to back): a line a fixed
                    // distance ahead asked for per block, within this call's rows.
                    // (Offsets compared, not pointers: one past the matrix is not formed.)
                    let ahead = r * rowBytes + Self.streamDistance, stop = r1 * rowBytes
                    var b = 0
                    while b < nb {
                        let p = row + b * 34
                        if ahead + b * 34 < stop { jeton_prefetch_range(w + ahead + b * 34, 1) }
                        let wlo = _mm256_cvtepi8_epi16(load128(p + 2)), whi = _mm256_cvtepi8_epi16(load128(p + 18))
                        let o = 64 * b
                        let s = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_madd_epi16(wlo, load256(a + o)), _mm256_madd_epi16(whi, load256(a + o + 32))))
                        if b & 1 == 0 {
                            c0 = _mm256_fmadd_ps(s, _mm256_set1_ps(half(p, 0) * d[b]), c0)
                        } else {
                            c1 = _mm256_fmadd_ps(s, _mm256_set1_ps(half(p, 0) * d[b]), c1)
                        }
                        b += 1
                    }
                    y[t * ldy + r] = _mm256_add_ps(c0, c1).sum()
                    break
                }
                let aB = a + nb * 64, dB = d + nb
                var c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps(), e0 = _mm256_setzero_ps(), e1 = _mm256_setzero_ps()
                var b = 0
                while b < nb {  // blocks alternate between two accumulators: independent FMA chains
                    let p = row + b * 34
                    let wlo = _mm256_cvtepi8_epi16(load128(p + 2)), whi = _mm256_cvtepi8_epi16(load128(p + 18))
                    let dw = half(p, 0)
                    let o = 64 * b
                    let s = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_madd_epi16(wlo, load256(a + o)), _mm256_madd_epi16(whi, load256(a + o + 32))))
                    let sB = _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_madd_epi16(wlo, load256(aB + o)), _mm256_madd_epi16(whi, load256(aB + o + 32))))
                    if b & 1 == 0 {
                        c0 = _mm256_fmadd_ps(s, _mm256_set1_ps(dw * d[b]), c0)
                        e0 = _mm256_fmadd_ps(sB, _mm256_set1_ps(dw * dB[b]), e0)
                    } else {
                        c1 = _mm256_fmadd_ps(s, _mm256_set1_ps(dw * d[b]), c1)
                        e1 = _mm256_fmadd_ps(sB, _mm256_set1_ps(dw * dB[b]), e1)
                    }
                    b += 1
                }
                y[t * ldy + r] = _mm256_add_ps(c0, c1).sum()
                y[(t + 1) * ldy + r] = _mm256_add_ps(e0, e1).sum()
                t += 2
            }
        }
    }
}
#endif
