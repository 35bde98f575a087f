#if arch(x86_64)
import _Builtin_intrinsics.intel
import CPrefetch

/// F16 weights repacked at load for AVX-512: tiles of 16 rows, and per tile blocks of 16
/// columns, each block column-major (512 bytes: column j of the block's 16 rows at byte 32j, row
/// i at 32j + 2i; rows past the matrix zero). Column j of a tile is then one 32-byte load and one
/// widen, in lanes by row, so a few tokens stream a tile as one contiguous read with no
/// transposes (`rows`), and the GEMM's panel is filled with no transposes either (`panel`).
/// Each output is the FMA chain over the columns in order from zero, as in `AVX512F16Gemm` and
/// `AVX512F16MatVec`: the same bits from each, at any token count.
public enum AVX512F16Packed {
    static let blockBytes = 512

    public static func packedBytes(rows: Int, cols: Int) -> Int { (rows + 15) / 16 * cols * 32 }

    /// Writes tiles `tiles` of the F16 matrix `w` (rows of `cols`, a multiple of 16) into `out`.
    public static func pack(w: UnsafeRawPointer, rows: Int, cols: Int, tiles: Range<Int>, out: UnsafeMutableRawPointer) {
        let src = w.assumingMemoryBound(to: UInt16.self)
        let blocks = cols / 16
        for t in tiles {
            let o = (out + t * blocks * blockBytes).assumingMemoryBound(to: UInt16.self)
            for i in 0..<16 {
                let r = 16 * t + i
                for k in 0..<blocks {
                    let b = o + k * 256
                    if r < rows {
                        let row = src + r * cols + 16 * k
                        for j in 0..<16 { b[16 * j + i] = row[j] }
                    } else {
                        for j in 0..<16 { b[16 * j + i] = 0 }
                    }
                }
            }
        }
    }

    /// How far ahead of the block being read lines are asked for (one token's stream, non-temporal).
    static let streamAhead = 4096

    /// y[t·ldy + r] = Σ_k w[r, k] · x[t·ldx + k] for r in r0..<r1 (r0 a multiple of 16) and
    /// t < nTokens (≤ `AVX512F16MatVec.maxTokens`), from the packed copy; `end`: its end.
    public static func rows(packed: UnsafeRawPointer, end: UnsafeRawPointer, cols: Int, r0: Int, r1: Int,
                            x: UnsafePointer<Float>, ldx: Int, nTokens: Int, y: UnsafeMutablePointer<Float>, ldy: Int) {
        precondition(r0 % 16 == 0 && nTokens >= 1 && nTokens <= AVX512F16MatVec.maxTokens)
        switch nTokens {
        case 1: rows(AVX512F16MatVec.One.self, packed, end, cols, r0, r1, x, ldx, y, ldy)
        case 2: rows(AVX512F16MatVec.Two.self, packed, end, cols, r0, r1, x, ldx, y, ldy)
        case 3: rows(AVX512F16MatVec.Three.self, packed, end, cols, r0, r1, x, ldx, y, ldy)
        case 4: rows(AVX512F16MatVec.Four.self, packed, end, cols, r0, r1, x, ldx, y, ldy)
        case 5: rows(AVX512F16MatVec.Five.self, packed, end, cols, r0, r1, x, ldx, y, ldy)
        default: rows(AVX512F16MatVec.Six.self, packed, end, cols, r0, r1, x, ldx, y, ldy)
        }
    }

    typealias Sums = AVX512F16MatVec.Sums

    static func rows<T: AVX512F16MatVec.Tokens>(_: T.Type, _ packed: UnsafeRawPointer, _ end: UnsafeRawPointer, _ cols: Int,
                                                _ r0: Int, _ r1: Int, _ x: UnsafePointer<Float>, _ ldx: Int,
                                                _ y: UnsafeMutablePointer<Float>, _ ldy: Int) {
        let kt = T.count, tileBytes = cols * 32
        let xs = (x, x + min(1, kt - 1) * ldx, x + min(2, kt - 1) * ldx, x + min(3, kt - 1) * ldx,
                  x + min(4, kt - 1) * ldx, x + min(5, kt - 1) * ldx)
        let zero = _mm512_setzero_ps()
        var r = r0
        while r < r1 {
            // Two tiles at a time where there are two: each output is one FMA chain, and one token
            // would otherwise leave its latency exposed.
            let two = r1 - r > 16
            let a = packed + (r / 16) * tileBytes, b = a + tileBytes
            var sa: Sums = (zero, zero, zero, zero, zero, zero), sb = sa
            var k0 = 0
            while k0 < cols {
                let off = 2 * 16 * k0
                @inline(__always) func block(_ tile: UnsafeRawPointer, _ s: inout Sums) {
                    let p = tile + off
                    let q = p + streamAhead
                    if q < end { jeton_prefetch_range_nta(q, min(blockBytes, end - q)) }
                    @inline(__always) func column(_ j: Int) {
                        let wc = _mm512_cvtph_ps(_mm256_loadu_si256((p + 32 * j).assumingMemoryBound(to: __m256i.self)))
                        let c = k0 + j
                        s.0 = _mm512_fmadd_ps(wc, _mm512_set1_ps(xs.0[c]), s.0)
                        if kt > 1 { s.1 = _mm512_fmadd_ps(wc, _mm512_set1_ps(xs.1[c]), s.1) }
                        if kt > 2 { s.2 = _mm512_fmadd_ps(wc, _mm512_set1_ps(xs.2[c]), s.2) }
                        if kt > 3 { s.3 = _mm512_fmadd_ps(wc, _mm512_set1_ps(xs.3[c]), s.3) }
                        if kt > 4 { s.4 = _mm512_fmadd_ps(wc, _mm512_set1_ps(xs.4[c]), s.4) }
                        if kt > 5 { s.5 = _mm512_fmadd_ps(wc, _mm512_set1_ps(xs.5[c]), s.5) }
                    }
                    column(0); column(1); column(2); column(3); column(4); column(5); column(6); column(7)
                    column(8); column(9); column(10); column(11); column(12); column(13); column(14); column(15)
                }
                block(a, &sa)
                if two { block(b, &sb) }
                k0 += 16
            }
            AVX512F16MatVec.store(y + r, ldy, kt, sa, min(16, r1 - r))
            if two { AVX512F16MatVec.store(y + r + 16, ldy, kt, sb, min(16, r1 - r - 16)) }
            r += two ? 32 : 16
        }
    }

    /// The GEMM's panel (`AVX512F16Gemm.pack`'s layout, [cols][64] floats) of the packed rows
    /// r0..<r0 + n (r0 a multiple of 16, n ≤ 64; rows past n zero).
    public static func panel(packed: UnsafeRawPointer, cols: Int, r0: Int, n: Int, panel: UnsafeMutablePointer<Float>) {
        let tileBytes = cols * 32
        for g in 0..<(AVX512F16Gemm.panelRows / 16) {
            let out = panel + 16 * g
            guard 16 * g < n else {
                for k in 0..<cols { _mm512_storeu_ps(out + k * AVX512F16Gemm.panelRows, _mm512_setzero_ps()) }
                continue
            }
            let tile = packed + (r0 / 16 + g) * tileBytes
            let live = __mmask16(truncatingIfNeeded: (1 << min(16, n - 16 * g)) - 1)
            for k in 0..<cols {
                let wc = _mm512_cvtph_ps(_mm256_loadu_si256((tile + 32 * k).assumingMemoryBound(to: __m256i.self)))
                _mm512_storeu_ps(out + k * AVX512F16Gemm.panelRows, _mm512_maskz_mov_ps(live, wc))
            }
        }
    }
}
#endif
