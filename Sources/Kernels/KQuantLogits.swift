import KernelsAVX2

/// The logits matmul for K-quant weights with activations carried to about 15 bits where it
/// matters. The K-quant kernels take activations rounded to 8 bits per 256 elements (Q8_K); on
/// the final hidden state, with its few large components, that alone added ~5% to the mean KL
/// divergence from the float model (Qwen2.5-Coder-1.5B; benchmarks/kernels/README.md). So a
/// second pass multiplies what the rounding left out (x − x̂, quantized with its own scales) and
/// adds it, but only to the rows that can win: the tiles of 16 rows holding a logit within
/// `margin` of the token's best after the first pass (at most `maxTiles` of them, the highest).
/// The correction is small (at most 0.47 over the vocabulary on Qwen2.5-Coder-1.5B, code and
/// prose), so the top of the distribution gets the two-pass values bit for bit and the rest
/// keeps one pass's rounding, as llama.cpp's logits do (mean KL divergence from the F32 twin
/// 0.004008, against 0.004003 with the second pass on every row and 0.004199 without it). A
/// margin of 4 gave 0.004026, and top-5 log-probabilities up to 0.08 off the every-row pass's
/// (the tail's rounding moves the normalizer); 8 keeps those within 0.005 at the same speed. The
/// second pass on every row cost 12% of a 16-sequence step: the output matrix is 15% of the
/// model's products. Every choice depends on the token's own values only, so a sequence's
/// logits never depend on its batch.
enum KQuantLogits {
    /// Logits further than this below the token's best after the first pass keep one pass (e⁻⁸:
    /// under 0.04% of the best token's probability each).
    static let margin: Float = 8
    /// Tiles corrected per token at most (8,192 rows: 5% of the products of a 152K vocabulary).
    static let maxTiles = 512

    /// `allRows`: the second pass on every row (a matrix of some of the vocabulary's rows: its best
    /// is not the vocabulary's, so the choice of rows would not be the whole matrix's).
    static func multiply(_ w: WeightMatrix, _ x: UnsafePointer<Float>, nTokens: Int, _ y: UnsafeMutablePointer<Float>,
                         pool: ThreadPool, backend: MatMul.Backend, allRows: Bool = false) {
        let cols = w.cols, rows = w.rows, nsb = cols / 256
        guard nTokens > 0, rows > 0 else { return }
        // A type with only packed kernels and no packed copy (a few rows: `KQuantMatMul.supports`) is
        // packed once here for both passes: the second pass's row ranges have no other kernel.
        let transient = KQuantMatMul.needsPackingForCall(w) ? KQuantMatMul.packedForCall(w) : nil
        defer { transient?.deallocate() }
        let w = transient.map { WeightMatrix(type: w.type, data: w.data, rows: w.rows, cols: w.cols, packed: UnsafeRawPointer($0)) } ?? w
        if allRows {
            everyRow(w, x, nTokens: nTokens, y, pool: pool, backend: backend)
            return
        }
        KQuantMatMul.multiply([(w, y)], x, nTokens: nTokens, pool: pool, backend: backend)
        let rounded = Q8KBuffer(nTokens: nTokens, superBlocks: nsb), rest = Q8KBuffer(nTokens: nTokens, superBlocks: nsb)
        let residual = UnsafeMutablePointer<Float>.allocate(capacity: nTokens * cols)
        defer { rounded.free(); rest.free(); residual.deallocate() }
        let tiles = (rows + 15) / 16
        pool.parallelFor(nTokens) { range in
            leftOver(x, range, cols: cols, rounded: rounded, into: residual)
            rest.quantize(residual, tokens: range)
            let chosen = UnsafeMutablePointer<Int>.allocate(capacity: tiles)
            let part = UnsafeMutablePointer<Float>.allocate(capacity: min(maxTiles, tiles) * 16)
            defer { chosen.deallocate(); part.deallocate() }
            for t in range {
                let yt = y + t * rows
                let count = candidates(yt, rows: rows, into: chosen)
                // Runs of consecutive tiles go as one call.
                var i = 0
                while i < count {
                    var j = i + 1
                    while j < count && chosen[j] == chosen[j - 1] + 1 { j += 1 }
                    let r0 = 16 * chosen[i], r1 = min(rows, 16 * (chosen[j - 1] + 1))
                    KQuantMatMul.rowRange(w, r0, r1, rest.view, token: t, part, backend: backend)
                    for k in 0..<(r1 - r0) { yt[r0 + k] += part[k] }
                    i = j
                }
            }
        }
    }

    /// What the Q8_K rounding of x leaves out, for tokens `range`: x − x̂, with x̂ from the quantizer
    /// the kernels use (so the same x̂), into residual[t·cols...].
    static func leftOver(_ x: UnsafePointer<Float>, _ range: Range<Int>, cols: Int, rounded: Q8KBuffer,
                         into residual: UnsafeMutablePointer<Float>) {
        let nsb = cols / 256
        rounded.quantize(x, tokens: range)
        for t in range {
            let xt = x + t * cols, r = residual + t * cols
            for s in 0..<nsb {
                let d = rounded.d[t * nsb + s], qs = rounded.qs + t * cols + 256 * s
                for i in 0..<256 { r[256 * s + i] = xt[256 * s + i] - Float(qs[i]) * d }
            }
        }
    }

    /// The second pass on every row: x and its residual side by side in one call (one read of the
    /// matrix), in chunks of 16 tokens (bounding the doubled activations and outputs).
    static func everyRow(_ w: WeightMatrix, _ x: UnsafePointer<Float>, nTokens: Int, _ y: UnsafeMutablePointer<Float>,
                         pool: ThreadPool, backend: MatMul.Backend) {
        let cols = w.cols, rows = w.rows, m = min(16, nTokens)
        let x2 = UnsafeMutablePointer<Float>.allocate(capacity: 2 * m * cols)  // [2m, cols]: x, residual, x, …
        let y2 = UnsafeMutablePointer<Float>.allocate(capacity: 2 * m * rows)
        let r = UnsafeMutablePointer<Float>.allocate(capacity: m * cols)
        let q = Q8KBuffer(nTokens: m, superBlocks: cols / 256)
        defer { x2.deallocate(); y2.deallocate(); r.deallocate(); q.free() }
        var t0 = 0
        while t0 < nTokens {
            let n = min(m, nTokens - t0)
            leftOver(x + t0 * cols, 0..<n, cols: cols, rounded: q, into: r)
            for t in 0..<n {
                (x2 + 2 * t * cols).update(from: x + (t0 + t) * cols, count: cols)
                (x2 + (2 * t + 1) * cols).update(from: r + t * cols, count: cols)
            }
            KQuantMatMul.multiply([(w, y2)], x2, nTokens: 2 * n, pool: pool, backend: backend)
            for t in 0..<n {
                let out = y + (t0 + t) * rows, a = y2 + 2 * t * rows, b = a + rows
                for i in 0..<rows { out[i] = a[i] + b[i] }
            }
            t0 += n
        }
    }

    /// The tiles (ascending) holding a value within `margin` of the row's maximum, the
    /// `maxTiles` with the highest values when more do; returns how many were written.
    static func candidates(_ y: UnsafePointer<Float>, rows: Int, into chosen: UnsafeMutablePointer<Int>) -> Int {
        #if arch(x86_64)
        let best = AVX2LogitScan.maximum(y, rows)
        guard best.isFinite else { return 0 }
        let count = AVX2LogitScan.tilesAtLeast(y, rows, best - margin, chosen)
        #else
        let count = 0  // no K-quant kernel without x86 (KQuantMatMul.supports)
        #endif
        guard count > maxTiles else { return count }
        // Rare (a flat distribution): keep the tiles with the highest values.
        var ranked = (0..<count).map { i -> (Float, Int) in
            let t = chosen[i]
            var m = -Float.infinity
            for k in (16 * t)..<min(rows, 16 * t + 16) where y[k] > m { m = y[k] }
            return (m, t)
        }
        ranked.sort { $0.0 > $1.0 || $0.0 == $1.0 && $0.1 < $1.1 }
        let kept = ranked.prefix(maxTiles).map(\.1).sorted()
        for (i, t) in kept.enumerated() { chosen[i] = t }
        return kept.count
    }
}
