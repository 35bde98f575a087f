#if arch(x86_64)
import _Builtin_intrinsics.intel
import CPrefetch

/// F16 weights repacked at load (a generation model's F16 matrices): tiles of 16 rows, and per
/// tile blocks of 16 columns, each block column-major (512 bytes: column j of the block's 16 rows
/// at byte 32j, row i at 32j + 2i; rows past the matrix zero). Column j of a tile is then one
/// contiguous load and widen with the rows in lanes, so the weights stream as one read with no
/// transposes. This type packs the layout and reads it with AVX2 + F16C, 8 rows a vector, for
/// every token count; `AVX512F16Packed` (16 rows a vector) and the AVX-512 GEMM's panel read it
/// too. Each output is one FMA chain over the columns in order from zero, `fma(w, x[c], acc)`,
/// on every one of these paths: the same bits on both backends, at any token count.
public enum AVX2F16Packed {
    public static let blockBytes = 512

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

    /// How far ahead lines are asked for: as a stream for a tile read once (up to 4 tokens),
    /// into L2 for one the next tokens read again.
    static let streamAhead = 4096
    static let reuseAhead = 16384

    /// Asks for the block a fixed distance past `p` (not past `end`): as a stream
    /// (`jeton_prefetch_stream`) when the tile is read once, else into L2.
    @inline(__always)
    public static func ask(_ p: UnsafeRawPointer, _ end: UnsafeRawPointer, stream: Bool) {
        if stream {
            let q = p + streamAhead
            if q < end { jeton_prefetch_stream(q, min(blockBytes, end - q)) }
        } else {
            let q = p + reuseAhead
            if q < end { jeton_prefetch_range_l2(q, min(blockBytes, end - q)) }
        }
    }


    /// y[t·ldy + r] = Σ_k w[r, k] · x[t·ldx + k] for r in r0..<r1 (r0 a multiple of 16) and
    /// t < nTokens, from the packed copy; `end`: its end. A tile against 4 tokens a pass (8
    /// accumulators of AVX2's 16 registers), read from memory once and from L2 for more tokens.
    public static func rows(packed: UnsafeRawPointer, end: UnsafeRawPointer, cols: Int, r0: Int, r1: Int,
                            x: UnsafePointer<Float>, ldx: Int, nTokens: Int, y: UnsafeMutablePointer<Float>, ldy: Int) {
        precondition(r0 % 16 == 0 && nTokens >= 1 && cols % 16 == 0)
        let stream = nTokens <= 4
        var r = r0
        while r < r1 {
            let tile = packed + (r / 16) * cols * 32, live = min(16, r1 - r)
            var t = 0
            while t < nTokens {
                let kt = min(4, nTokens - t)
                let xt = x + t * ldx, yt = y + t * ldy + r
                switch kt {
                case 1: pass(Tokens1.self, tile, live, end, cols, xt, ldx, yt, ldy, stream)
                case 2: pass(Tokens2.self, tile, live, end, cols, xt, ldx, yt, ldy, stream)
                case 3: pass(Tokens3.self, tile, live, end, cols, xt, ldx, yt, ldy, stream)
                default: pass(Tokens4.self, tile, live, end, cols, xt, ldx, yt, ldy, stream)
                }
                t += kt
            }
            r += 16
        }
    }

    /// The tile at `tile` against W.tokens tokens; its first `live` rows are stored.
    static func pass<W: TokenCount>(_: W.Type, _ tile: UnsafeRawPointer, _ live: Int, _ end: UnsafeRawPointer, _ cols: Int,
                               _ x: UnsafePointer<Float>, _ ldx: Int, _ y: UnsafeMutablePointer<Float>, _ ldy: Int,
                               _ stream: Bool) {
        let kt = W.tokens
        let x0 = x, x1 = x + min(1, kt - 1) * ldx, x2 = x + min(2, kt - 1) * ldx, x3 = x + min(3, kt - 1) * ldx
        let z = _mm256_setzero_ps()
        // Rows 0-7 (lo) and 8-15 (hi) of the tile for each token.
        var lo0 = z, hi0 = z, lo1 = z, hi1 = z, lo2 = z, hi2 = z, lo3 = z, hi3 = z
        var k0 = 0
        while k0 < cols {
            let p = tile + 32 * k0
            ask(p, end, stream: stream)
            var j = 0
            while j < 16 {
                let w0 = _mm256_cvtph_ps(_mm_loadu_si128((p + 32 * j).assumingMemoryBound(to: __m128i.self)))
                let w1 = _mm256_cvtph_ps(_mm_loadu_si128((p + 32 * j + 16).assumingMemoryBound(to: __m128i.self)))
                let c = k0 + j
                @inline(__always) func token(_ xk: UnsafePointer<Float>, _ lo: inout __m256, _ hi: inout __m256) {
                    let v = _mm256_set1_ps(xk[c])
                    lo = _mm256_fmadd_ps(w0, v, lo)
                    hi = _mm256_fmadd_ps(w1, v, hi)
                }
                token(x0, &lo0, &hi0)
                if kt > 1 { token(x1, &lo1, &hi1) }
                if kt > 2 { token(x2, &lo2, &hi2) }
                if kt > 3 { token(x3, &lo3, &hi3) }
                j += 1
            }
            k0 += 16
        }
        @inline(__always) func store(_ yk: UnsafeMutablePointer<Float>, _ lo: __m256, _ hi: __m256) {
            if live == 16 {
                _mm256_storeu_ps(yk, lo)
                _mm256_storeu_ps(yk + 8, hi)
                return
            }
            let l = lo, h = hi  // (__m256 is SIMD8<Float>)
            for i in 0..<min(8, live) { yk[i] = l[i] }
            for i in 8..<max(8, live) { yk[i] = h[i - 8] }
        }
        store(y, lo0, hi0)
        if kt > 1 { store(y + ldy, lo1, hi1) }
        if kt > 2 { store(y + 2 * ldy, lo2, hi2) }
        if kt > 3 { store(y + 3 * ldy, lo3, hi3) }
    }
}
#endif
