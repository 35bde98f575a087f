#if arch(x86_64)
import _Builtin_intrinsics.intel
import KernelsAVX2
import CPrefetch

/// The logits matmul of a Q8_0 output matrix packed at load in `AVX2Packed32`'s layout (16 rows side
/// by side, a row per int32 lane, bytes stored q + 128) against activations rounded to int16 per block
/// of 32, as `VNNIQ8x16MatMul` takes them from the file's layout. Each activation a is split into its
/// high byte h = a >> 8 (signed) and low byte l = a & 255 (unsigned), a = 256·h + l, so both halves
/// meet the weights in `vpdpbusd`: Σ (q + 128)·h − 128·Σh = Σ q·h with the stored bytes, and
/// Σ l·q with the bytes turned back into q (one xor per vector, shared by the tokens). Then
/// 256·Σ q·h + Σ l·q is the exact int32 block dot (|Σ| ≤ 32·128·32767 < 2³¹), and the float steps
/// (one convert, one FMA by d·da, blocks in order) are `VNNIQ8x16MatMul`'s: the same bits, in any
/// batch. Per block and 16 rows: 16 `vpdpbusd` and 8 xors, against 16 sign extensions, 16
/// `vpmaddwd` and a 45-operation transposing sum in the file-layout kernel, which was compute
/// bound at about 20 GB/s (SmolLM2-135M's output projection, 27% of a generated token).
public enum VNNIPacked32Logits {
    typealias Q8_0 = AVX2Packed32.Q8_0

    /// Bytes of split activations per token and block: 32 high bytes, then 32 low bytes.
    public static let splitBytes = 64

    /// a16 [count blocks of 32] → hl [count, 64] (h as int8, then l as uint8) and hsum [count] = Σh.
    public static func split(_ a16: UnsafePointer<Int16>, blocks count: Int, into hl: UnsafeMutablePointer<UInt8>,
                             sums hsum: UnsafeMutablePointer<Int32>) {
        for i in 0..<count {
            let a = a16 + 32 * i, o = hl + splitBytes * i
            var s: Int32 = 0
            for j in 0..<32 {
                let h = a[j] >> 8  // arithmetic: a = 256·h + (a & 255) for every int16
                o[j] = UInt8(truncatingIfNeeded: h)
                o[32 + j] = UInt8(truncatingIfNeeded: a[j])
                s += Int32(h)
            }
            hsum[i] = s
        }
    }

    /// y[t·ldy + r] = Σ_c w[r, c] · x[t, c] for r in r0..<r1 (r0 a multiple of 16) and tokens
    /// 0..<nTokens, from the matrix packed by `AVX2Packed32.pack` (type Q8_0) at `packed`, ending
    /// at `end`; `hl` and `hsum` from `split`, `ad` [nTokens, nb] the int16 scales.
    public static func rows(packed: UnsafeRawPointer, end: UnsafeRawPointer, r0: Int, r1: Int,
                            hl: UnsafePointer<UInt8>, hsum: UnsafePointer<Int32>, ad: UnsafePointer<Float>,
                            nb: Int, nTokens: Int, y: UnsafeMutablePointer<Float>, ldy: Int) {
        precondition(r0 % 16 == 0, "rows start on a tile")
        let stride = nb * 2 * Q8_0.halfBytes
        // One group of tokens (generation) reads each tile once; more groups read it again from L1/L2.
        let stream = nTokens <= 8
        var r = r0
        while r < r1 {
            let tile = packed + (r / 16) * stride, count = min(16, r1 - r)
            let mask = __mmask16(truncatingIfNeeded: (1 << count) - 1)
            var t = 0
            while t < nTokens {
                let nt = min(8, nTokens - t)
                group(tile, t == 0 ? end : tile, hl, hsum, ad, nb, t, nt, y + t * ldy + r, ldy, mask, stream: stream)
                t += nt
            }
            r += 16
        }
    }

    /// A tile against tokens t0..<t0+nt (nt ≤ 8), each block's weights loaded once for them all;
    /// lines are asked for ahead up to `end` (the tile itself for later groups: nothing).
    @inline(__always)
    static func group(_ tile: UnsafeRawPointer, _ end: UnsafeRawPointer, _ hl: UnsafePointer<UInt8>,
                      _ hsum: UnsafePointer<Int32>, _ ad: UnsafePointer<Float>, _ nb: Int, _ t0: Int, _ nt: Int,
                      _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ mask: __mmask16, stream: Bool) {
        let hb = Q8_0.halfBytes
        let flip = _mm512_set1_epi8(-128), z = _mm512_setzero_si512()
        var c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0
        let rule = stream ? StreamAhead(tokens: nt) : nil
        for b in 0..<nb {
            let p = tile + 2 * b * hb
            if let rule {
                rule.ask(p, 2 * hb, end)
            } else {
                let q = p + VNNIPacked32.reuseAhead
                if q < end { jeton_prefetch_range_l2(q, min(2 * hb, end - q)) }
            }
            let u = VNNIPacked32.decode(Q8_0.self, p)  // q + 128, unsigned
            let s = (_mm512_xor_si512(u.0, flip), _mm512_xor_si512(u.1, flip), _mm512_xor_si512(u.2, flip),
                     _mm512_xor_si512(u.3, flip), _mm512_xor_si512(u.4, flip), _mm512_xor_si512(u.5, flip),
                     _mm512_xor_si512(u.6, flip), _mm512_xor_si512(u.7, flip))  // q, signed
            let d = VNNIPacked32.halfs16(p, hb, 0)
            @inline(__always) func token(_ k: Int, _ c: inout __m512) {
                let tb = (t0 + k) * nb + b
                let a = UnsafeRawPointer(hl + splitBytes * tb)
                @inline(__always) func low(_ j: Int) -> __m512i { _mm512_set1_epi32(a.loadUnaligned(fromByteOffset: 32 + 4 * j, as: Int32.self)) }
                let i = blockDot(_mm512_set1_epi32(-128 &* hsum[tb]), u, a)  // Σ q·h (the high bytes, signed)
                // The low bytes are the unsigned side here, the weights' q the signed one.
                var j = _mm512_dpbusd_epi32(z, low(0), s.0)
                j = _mm512_dpbusd_epi32(j, low(1), s.1)
                j = _mm512_dpbusd_epi32(j, low(2), s.2)
                j = _mm512_dpbusd_epi32(j, low(3), s.3)
                j = _mm512_dpbusd_epi32(j, low(4), s.4)
                j = _mm512_dpbusd_epi32(j, low(5), s.5)
                j = _mm512_dpbusd_epi32(j, low(6), s.6)
                j = _mm512_dpbusd_epi32(j, low(7), s.7)
                let dot = _mm512_add_epi32(_mm512_slli_epi32(i, 8), j)
                c = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(d, _mm512_set1_ps(ad[tb])), c)
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
