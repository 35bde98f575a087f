/// The logits matmul for K-quant weights with activations carried to about 15 bits by two
/// 8-bit passes. The K-quant kernels take activations rounded to 8 bits per 256 elements
/// (Q8_K); on the final hidden state, with its few large components, that alone added ~5% to
/// the mean KL divergence from the float model (Qwen2.5-Coder-1.5B; benchmarks/kernels/README.md). So each token
/// goes in twice: x, then what its Q8_K rounding left out (x − x̂), quantized with its own
/// scales; the two results are added. Both rows meet the weights in the same call (one read
/// of the matrix, which is what one token's logits cost: the compute is under the memory
/// time), and since each row's result never depends on its batch, neither does the sum.
enum KQuantLogits {
    /// Tokens per call: bounds the doubled activations and outputs (a 152K vocabulary
    /// makes 1.2 MB of outputs per row).
    static let chunk = 16

    static func multiply(_ w: WeightMatrix, _ x: UnsafePointer<Float>, nTokens: Int, _ y: UnsafeMutablePointer<Float>,
                         pool: ThreadPool, backend: MatMul.Backend) {
        let cols = w.cols, rows = w.rows, nsb = cols / 256
        let m = min(chunk, nTokens)
        guard m > 0 else { return }
        let x2 = UnsafeMutablePointer<Float>.allocate(capacity: 2 * m * cols)  // [2m, cols]: x, residual, x, …
        let y2 = UnsafeMutablePointer<Float>.allocate(capacity: 2 * m * rows)
        let q = Q8KBuffer(nTokens: m, superBlocks: nsb)
        defer { x2.deallocate(); y2.deallocate(); q.free() }
        var t0 = 0
        while t0 < nTokens {
            let n = min(m, nTokens - t0)
            // The rounding the kernel will apply to x (the same quantizer, so the same x̂).
            q.quantize(x + t0 * cols, tokens: 0..<n)
            for t in 0..<n {
                let xt = x + (t0 + t) * cols, r = x2 + (2 * t + 1) * cols
                (x2 + 2 * t * cols).update(from: xt, count: cols)
                for s in 0..<nsb {
                    let d = q.d[t * nsb + s], qs = q.qs + t * cols + 256 * s
                    for i in 0..<256 { r[256 * s + i] = xt[256 * s + i] - Float(qs[i]) * d }
                }
            }
            KQuantMatMul.multiply([(w, y2)], x2, nTokens: 2 * n, pool: pool, backend: backend)
            for t in 0..<n {
                let out = y + (t0 + t) * rows, a = y2 + 2 * t * rows, b = a + rows
                for i in 0..<rows { out[i] = a[i] + b[i] }
            }
            t0 += n
        }
    }
}
