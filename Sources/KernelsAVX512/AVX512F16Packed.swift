#if arch(x86_64)
import _Builtin_intrinsics.intel
import KernelsAVX2

/// F16 weights packed at load in `AVX2F16Packed`'s layout (16-row tiles of column-major 16 × 16
/// blocks), read on AVX-512 16 rows a vector: up to `streamTokens` tokens stream the tiles two at
/// a time (`rows`), more fill the GEMM's panel from them with no transposes (`panel`). Each output
/// is the FMA chain over the columns in order from zero, as in `AVX512F16Gemm`, `AVX512F16MatVec`
/// and `AVX2F16Packed`: the same bits from each, at any token count.
public enum AVX512F16Packed {
    /// Lines are asked for ahead as `AVX2F16Packed.ask` does: as a stream for a tile read once
    /// (up to 8 tokens), into L2 for one the next 8 tokens read again.

    /// Up to this many tokens `rows` runs (past it the GEMM's panel, whose register blocking
    /// does more products per load: Qwen2.5-Coder-1.5B in F16, 16 sequences tg 56 → 111 t/s
    /// through `rows`, a 512-token prompt 163 → 94; 32 sequences even).
    public static let streamTokens = 32

    /// y[t·ldy + r] = Σ_k w[r, k] · x[t·ldx + k] for r in r0..<r1 (r0 a multiple of 16) and
    /// t < nTokens, from the packed copy; `end`: its end. Two tiles at a time (where there are
    /// two: each output is one FMA chain, and few tokens would otherwise leave its latency
    /// exposed) against 8 tokens at a time, so a pair of tiles is read from memory once and,
    /// for more tokens, again from L2 (the GEMM's panel of widened floats, twice the bytes,
    /// is the slower for up to `streamTokens`).
    public static func rows(packed: UnsafeRawPointer, end: UnsafeRawPointer, cols: Int, r0: Int, r1: Int,
                            x: UnsafePointer<Float>, ldx: Int, nTokens: Int, y: UnsafeMutablePointer<Float>, ldy: Int) {
        precondition(r0 % 16 == 0 && nTokens >= 1)
        let tileBytes = cols * 32, stream = nTokens <= 8
        var r = r0
        while r < r1 {
            let tiles = min(2, (r1 - r + 15) / 16)
            let a = packed + (r / 16) * tileBytes
            var t = 0
            while t < nTokens {
                let kt = min(8, nTokens - t)
                let xt = x + t * ldx, yt = y + t * ldy + r
                let live = min(32, r1 - r)
                switch kt {
                case 1: pass(Tokens1.self, a, tiles, live, end, cols, xt, ldx, yt, ldy, stream)
                case 2: pass(Tokens2.self, a, tiles, live, end, cols, xt, ldx, yt, ldy, stream)
                case 3: pass(Tokens3.self, a, tiles, live, end, cols, xt, ldx, yt, ldy, stream)
                case 4: pass(Tokens4.self, a, tiles, live, end, cols, xt, ldx, yt, ldy, stream)
                case 5: pass(Tokens5.self, a, tiles, live, end, cols, xt, ldx, yt, ldy, stream)
                case 6: pass(Tokens6.self, a, tiles, live, end, cols, xt, ldx, yt, ldy, stream)
                case 7: pass(Tokens7.self, a, tiles, live, end, cols, xt, ldx, yt, ldy, stream)
                default: pass(Tokens8.self, a, tiles, live, end, cols, xt, ldx, yt, ldy, stream)
                }
                t += kt
            }
            r += 16 * tiles
        }
    }

    typealias Sums = AVX512F16MatVec.Sums

    /// `tiles` (1 or 2) tiles from `a` against T.tokens tokens; `live` rows of them are stored.
    static func pass<T: TokenCount>(_: T.Type, _ a: UnsafeRawPointer, _ tiles: Int, _ live: Int,
                                                _ end: UnsafeRawPointer, _ cols: Int, _ x: UnsafePointer<Float>, _ ldx: Int,
                                                _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ stream: Bool) {
        let kt = T.tokens, tileBytes = cols * 32
        let xs = (x, x + min(1, kt - 1) * ldx, x + min(2, kt - 1) * ldx, x + min(3, kt - 1) * ldx,
                  x + min(4, kt - 1) * ldx, x + min(5, kt - 1) * ldx, x + min(6, kt - 1) * ldx, x + min(7, kt - 1) * ldx)
        let zero = _mm512_setzero_ps()
        let b = a + tileBytes
        var sa: Sums = (zero, zero, zero, zero, zero, zero, zero, zero), sb = sa
        let two = tiles > 1
        var k0 = 0
        while k0 < cols {
            let pa = a + 32 * k0, pb = b + 32 * k0
            AVX2F16Packed.ask(pa, end, stream: stream)
            if two { AVX2F16Packed.ask(pb, end, stream: stream) }
            // Column k0 + j of both tiles against each token's broadcast activation (one
            // broadcast for both tiles; the column loop left rolled, as unrolled the compiler
            // hoisted the broadcasts of all 16 columns and spilled).
            var j = 0
            while j < 16 {
                let wa = _mm512_cvtph_ps(_mm256_loadu_si256((pa + 32 * j).assumingMemoryBound(to: __m256i.self)))
                let wb = two ? _mm512_cvtph_ps(_mm256_loadu_si256((pb + 32 * j).assumingMemoryBound(to: __m256i.self))) : wa
                let c = k0 + j
                @inline(__always) func token(_ xk: UnsafePointer<Float>, _ ak: inout __m512, _ bk: inout __m512) {
                    let v = _mm512_set1_ps(xk[c])
                    ak = _mm512_fmadd_ps(wa, v, ak)
                    if two { bk = _mm512_fmadd_ps(wb, v, bk) }
                }
                token(xs.0, &sa.0, &sb.0)
                if kt > 1 { token(xs.1, &sa.1, &sb.1) }
                if kt > 2 { token(xs.2, &sa.2, &sb.2) }
                if kt > 3 { token(xs.3, &sa.3, &sb.3) }
                if kt > 4 { token(xs.4, &sa.4, &sb.4) }
                if kt > 5 { token(xs.5, &sa.5, &sb.5) }
                if kt > 6 { token(xs.6, &sa.6, &sb.6) }
                if kt > 7 { token(xs.7, &sa.7, &sb.7) }
                j += 1
            }
            k0 += 16
        }
        AVX512F16MatVec.store(y, ldy, kt, sa, min(16, live))
        if two { AVX512F16MatVec.store(y + 16, ldy, kt, sb, live - 16) }
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
