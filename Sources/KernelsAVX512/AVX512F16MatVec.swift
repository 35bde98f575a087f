#if arch(x86_64)
import _Builtin_intrinsics.intel
import CPrefetch
import KernelsAVX2

/// F16 weights against a few tokens of float activations on AVX-512 (generation with an F16
/// model): the rows are read straight from the file's layout, 16 at a time, and each 16 × 16
/// block is widened and transposed in registers (as `AVX512F16Gemm.pack` does) and multiplied
/// at once, so nothing is written to a panel and read back. Each output is the GEMM's FMA chain
/// over the columns in order, from zero: the same bits as `AVX512F16Gemm` for any token, so a
/// token's result does not depend on the batch or on which of the two ran. Through the GEMM's
/// panel an F16 Qwen2.5-Coder-1.5B generated at 42% of the read bandwidth.
public enum AVX512F16MatVec {
    /// Tokens per pass over the rows (the GEMM's micro-kernel width).
    public static let maxTokens = 6

    /// How far ahead of the columns being read each row's lines are asked for: 16 rows are 16
    /// streams, more than the hardware prefetchers follow.
    static let aheadBytes = 512

    /// y[t·ldy + i] = Σ_k w[r0 + i, k] · x[t·ldx + k] for i < n and t < nTokens (≤ `maxTokens`).
    /// w: F16 rows of `cols` (a multiple of 16).
    public static func rows(w: UnsafeRawPointer, cols: Int, r0: Int, n: Int, x: UnsafePointer<Float>, ldx: Int,
                            nTokens: Int, y: UnsafeMutablePointer<Float>, ldy: Int) {
        precondition(nTokens >= 1 && nTokens <= maxTokens && cols % 16 == 0)
        // One specialization per token count (`TokenCount`).
        switch nTokens {
        case 1: rows(Tokens1.self, w, cols, r0, n, x, ldx, y, ldy)
        case 2: rows(Tokens2.self, w, cols, r0, n, x, ldx, y, ldy)
        case 3: rows(Tokens3.self, w, cols, r0, n, x, ldx, y, ldy)
        case 4: rows(Tokens4.self, w, cols, r0, n, x, ldx, y, ldy)
        case 5: rows(Tokens5.self, w, cols, r0, n, x, ldx, y, ldy)
        default: rows(Tokens6.self, w, cols, r0, n, x, ldx, y, ldy)
        }
    }


    static func rows<T: TokenCount>(_: T.Type, _ w: UnsafeRawPointer, _ cols: Int, _ r0: Int, _ n: Int, _ x: UnsafePointer<Float>,
                                _ ldx: Int, _ y: UnsafeMutablePointer<Float>, _ ldy: Int) {
        let rowBytes = cols * 2
        let end = w + (r0 + n) * rowBytes
        var i0 = 0
        while i0 < n {
            group(T.self, w + (r0 + i0) * rowBytes, rowBytes, min(32, n - i0), cols, end, x, ldx, y + i0, ldy)
            i0 += 32
        }
    }

    typealias Rows = (UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer,
                      UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer,
                      UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer,
                      UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer, UnsafeRawPointer)
    /// Up to 8 tokens' sums (this kernel uses 6, `AVX512F16Packed` 8).
    typealias Sums = (__m512, __m512, __m512, __m512, __m512, __m512, __m512, __m512)

    /// Rows base..<base + live (≤ 32) against the tokens, as two halves of 16 (lane i = row i of
    /// the half): each output is one FMA chain, so two halves keep two chains in flight where one
    /// token would leave the FMA latency exposed. Lanes past the last row read it again (in
    /// bounds) and are not stored.
    @inline(__always)
    static func group<T: TokenCount>(_: T.Type, _ base: UnsafeRawPointer, _ rowBytes: Int, _ live: Int, _ cols: Int,
                                 _ end: UnsafeRawPointer, _ x: UnsafePointer<Float>, _ ldx: Int,
                                 _ y: UnsafeMutablePointer<Float>, _ ldy: Int) {
        let kt = T.tokens
        let zero = _mm512_setzero_ps()
        let xs = (x, x + min(1, kt - 1) * ldx, x + min(2, kt - 1) * ldx, x + min(3, kt - 1) * ldx,
                  x + min(4, kt - 1) * ldx, x + min(5, kt - 1) * ldx)
        @inline(__always) func rows(_ h: Int) -> Rows {
            @inline(__always) func p(_ i: Int) -> UnsafeRawPointer { base + min(16 * h + i, live - 1) * rowBytes }
            return (p(0), p(1), p(2), p(3), p(4), p(5), p(6), p(7), p(8), p(9), p(10), p(11), p(12), p(13), p(14), p(15))
        }
        let lo = rows(0), hi = rows(1)
        var a: Sums = (zero, zero, zero, zero, zero, zero, zero, zero), b = a
        var k0 = 0
        while k0 < cols {
            let off = 2 * k0
            /// Half `r`'s 16 × 16 block at column k0 into `s`.
            @inline(__always) func block(_ r: Rows, _ s: inout Sums) {
                if k0 % 32 == 0 {
                    // A line of each row every 32 columns, `aheadBytes` ahead.
                    @inline(__always) func ask(_ p: UnsafeRawPointer) {
                        let q = p + off + aheadBytes
                        if q < end { jeton_prefetch_l2(q) }
                    }
                    ask(r.0); ask(r.1); ask(r.2); ask(r.3); ask(r.4); ask(r.5); ask(r.6); ask(r.7)
                    ask(r.8); ask(r.9); ask(r.10); ask(r.11); ask(r.12); ask(r.13); ask(r.14); ask(r.15)
                }
                @inline(__always) func row(_ p: UnsafeRawPointer) -> __m512 {
                    _mm512_cvtph_ps(_mm256_loadu_si256((p + off).assumingMemoryBound(to: __m256i.self)))
                }
                var w = (row(r.0), row(r.1), row(r.2), row(r.3), row(r.4), row(r.5), row(r.6), row(r.7),
                         row(r.8), row(r.9), row(r.10), row(r.11), row(r.12), row(r.13), row(r.14), row(r.15))
                AVX512F16Gemm.transpose16(&w)
                // Column k0 + j of the 16 rows is w.j: one FMA per token and column, in column order.
                @inline(__always) func column(_ wc: __m512, _ j: Int) {
                    let c = k0 + j
                    s.0 = _mm512_fmadd_ps(wc, _mm512_set1_ps(xs.0[c]), s.0)
                    if kt > 1 { s.1 = _mm512_fmadd_ps(wc, _mm512_set1_ps(xs.1[c]), s.1) }
                    if kt > 2 { s.2 = _mm512_fmadd_ps(wc, _mm512_set1_ps(xs.2[c]), s.2) }
                    if kt > 3 { s.3 = _mm512_fmadd_ps(wc, _mm512_set1_ps(xs.3[c]), s.3) }
                    if kt > 4 { s.4 = _mm512_fmadd_ps(wc, _mm512_set1_ps(xs.4[c]), s.4) }
                    if kt > 5 { s.5 = _mm512_fmadd_ps(wc, _mm512_set1_ps(xs.5[c]), s.5) }
                }
                column(w.0, 0); column(w.1, 1); column(w.2, 2); column(w.3, 3)
                column(w.4, 4); column(w.5, 5); column(w.6, 6); column(w.7, 7)
                column(w.8, 8); column(w.9, 9); column(w.10, 10); column(w.11, 11)
                column(w.12, 12); column(w.13, 13); column(w.14, 14); column(w.15, 15)
            }
            block(lo, &a)
            if live > 16 { block(hi, &b) }
            k0 += 16
        }
        store(y, ldy, kt, a, min(16, live))
        if live > 16 { store(y + 16, ldy, kt, b, live - 16) }
    }

    /// The first `count` lanes of each token's sums: y[t·ldy + lane].
    @inline(__always)
    static func store(_ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ kt: Int, _ s: Sums, _ count: Int) {
        storeTokenRows(y, ldy, __mmask16(truncatingIfNeeded: (1 << count) - 1), kt, s)
    }
}
#endif
