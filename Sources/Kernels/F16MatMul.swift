#if arch(x86_64)
import KernelsAVX2
import KernelsAVX512
#endif

/// y = x · Wᵀ for F16 weights and float activations (x: [nTokens, cols], y: [nTokens, rows]),
/// the embedding models' matmul and a generation model's F16 matrices. Activations stay float
/// (no 8-bit rounding): F16 weights are already as exact as the reference engines use them.
/// Parallel over tiles of rows, each widened to float once and used for every token (with
/// AVX-512, transposed into a panel for the register-blocked GEMM `AVX512F16Gemm`). A copy packed
/// at load (`AVX2F16Packed`'s layout) is streamed as it is: on AVX-512 by up to 32 tokens
/// (`AVX512F16Packed`, more fill the GEMM's panel from it), on AVX2 by any count; without one, a
/// few tokens on AVX-512 read the rows in place (`AVX512F16MatVec`). Every AVX-512 path and the
/// packed AVX2 one give the GEMM's bits.
public enum F16MatMul {
    /// Rows per parallel tile: 64 rows of up to 4096 floats stay in L2 while all tokens pass.
    static let tileRows = 64

    public static func supports(_ w: WeightMatrix) -> Bool { w.type == .f16 && w.cols % 16 == 0 }

    public static func multiply(_ w: WeightMatrix, _ x: UnsafePointer<Float>, nTokens: Int,
                                _ y: UnsafeMutablePointer<Float>, pool: ThreadPool,
                                backend: MatMul.Backend = MatMul.defaultBackend) {
        precondition(supports(w), "F16MatMul needs F16 weights with a multiple of 16 columns")
        guard nTokens > 0 else { return }
        let tiles = (w.rows + tileRows - 1) / tileRows
        #if arch(x86_64)
        if backend == .avx512 && CPUFeatures.hasAVX512VNNI, let packed = w.packed {
            // The copy packed at load, every token count: the same bits as the file-layout kernels below. Long runs per thread for a few tokens, as the quantized ones.
            let end = packed + AVX2F16Packed.packedBytes(rows: w.rows, cols: w.cols)
            if nTokens <= AVX512F16Packed.streamTokens {
                pool.parallelFor(tiles, minChunk: nTokens <= 8 ? max(1, tiles / (2 * pool.threads)) : 1) { range in
                    AVX512F16Packed.rows(packed: packed, end: end, cols: w.cols, r0: range.lowerBound * tileRows,
                                         r1: min(w.rows, range.upperBound * tileRows), x: x, ldx: w.cols, nTokens: nTokens,
                                         y: y, ldy: w.rows)
                }
                return
            }
            pool.parallelFor(tiles) { range in
                let panel = UnsafeMutablePointer<Float>.allocate(capacity: tileRows * w.cols)
                defer { panel.deallocate() }
                for tile in range {
                    let r0 = tile * tileRows, n = min(w.rows, r0 + tileRows) - r0
                    AVX512F16Packed.panel(packed: packed, cols: w.cols, r0: r0, n: n, panel: panel)
                    AVX512F16Gemm.multiply(panel: panel, cols: w.cols, n: n, x: x, ldx: w.cols, nTokens: nTokens, y: y + r0, ldy: w.rows)
                }
            }
            return
        }
        if (backend == .avx2 || backend == .avx512) && CPUFeatures.hasAVX2, let packed = w.packed {
            // AVX2 on the packed copy, every token count (the same bits as the AVX-512 paths).
            let end = packed + AVX2F16Packed.packedBytes(rows: w.rows, cols: w.cols)
            pool.parallelFor(tiles, minChunk: nTokens <= 4 ? max(1, tiles / (2 * pool.threads)) : 1) { range in
                AVX2F16Packed.rows(packed: packed, end: end, cols: w.cols, r0: range.lowerBound * tileRows,
                                   r1: min(w.rows, range.upperBound * tileRows), x: x, ldx: w.cols, nTokens: nTokens,
                                   y: y, ldy: w.rows)
            }
            return
        }
        if backend == .avx512 && CPUFeatures.hasAVX512VNNI && nTokens <= AVX512F16MatVec.maxTokens {
            // A few tokens (generation): the rows streamed once, the GEMM's bits without its panel.
            pool.parallelFor(tiles, minChunk: max(1, tiles / (2 * pool.threads))) { range in
                let r0 = range.lowerBound * tileRows, r1 = min(w.rows, range.upperBound * tileRows)
                AVX512F16MatVec.rows(w: w.data, cols: w.cols, r0: r0, n: r1 - r0, x: x, ldx: w.cols, nTokens: nTokens,
                                     y: y + r0, ldy: w.rows)
            }
            return
        }
        #endif
        pool.parallelFor(tiles) { range in
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: tileRows * w.cols)  // [tileRows, cols]
            defer { scratch.deallocate() }
            for tile in range {
                let r0 = tile * tileRows, r1 = min(w.rows, r0 + tileRows)
                #if arch(x86_64)
                if backend == .avx512 && CPUFeatures.hasAVX512VNNI {
                    AVX512F16Gemm.pack(w: w.data, cols: w.cols, r0: r0, n: r1 - r0, panel: scratch)
                    AVX512F16Gemm.multiply(panel: scratch, cols: w.cols, n: r1 - r0, x: x, ldx: w.cols, nTokens: nTokens,
                                           y: y + r0, ldy: w.rows)
                    continue
                }
                if (backend == .avx2 || backend == .avx512) && CPUFeatures.hasAVX2 {
                    AVX2F16MatMul.rows(w: w.data, cols: w.cols, r0: r0, r1: r1, x: x, nTokens: nTokens,
                                       y: y, ldy: w.rows, scratch: scratch)
                    continue
                }
                #endif
                portableRows(w, r0: r0, r1: r1, x: x, nTokens: nTokens, y: y, scratch: scratch)
            }
        }
    }

    /// Widen the tile, then one SIMD dot per output.
    static func portableRows(_ w: WeightMatrix, r0: Int, r1: Int, x: UnsafePointer<Float>, nTokens: Int,
                             y: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>) {
        for r in r0..<r1 { w.dequantizeRow(r, into: scratch + (r - r0) * w.cols) }
        for t in 0..<nTokens {
            for r in r0..<r1 { y[t * w.rows + r] = VectorOps.dot(scratch + (r - r0) * w.cols, x + t * w.cols, w.cols) }
        }
    }
}
