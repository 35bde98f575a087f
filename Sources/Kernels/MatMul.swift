#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if arch(x86_64)
import KernelsAVX2
import KernelsAVX512
#endif

/// y = x · Wᵀ for a batch of tokens: x is [nTokens, cols], y is [nTokens, rows].
/// The default path quantizes x per block of 32 to int8 once per call and does
/// integer dot products (`QuantizedMatMul`; K-quants `KQuantMatMul`); F16 weights meet float
/// activations (`F16MatMul`); the float path dequantizes weight tiles and stays available for
/// comparisons (JETON_KERNELS=float).
public enum MatMul {
    public enum Backend: String, Sendable, CaseIterable {
        case float      // dequantize to float, float dots: closest to the float64 reference
        case portable   // int8 activations, plain Swift SIMD integer dots
        case avx2       // int8 activations, AVX2 vpmaddubsw kernels
        case avx512     // int8 activations, AVX-512 VNNI vpdpbusd kernels (AVX2 for the formats they lack)
    }

    /// JETON_KERNELS=float|portable|avx2|avx512 chooses; otherwise the best the CPU has.
    /// Asking for a path the CPU lacks gives the next one down (avx512 → avx2 → portable).
    public static let defaultBackend: Backend = {
        _ = CPUFeatures.streamPrefetch  // the kernels' stream hint, set before any of them runs
        let env = getenv("JETON_KERNELS").map { String(cString: $0) } ?? ""
        var wanted = Backend(rawValue: env.lowercased()) ?? .avx512
        if wanted == .avx512 && !CPUFeatures.hasAVX512VNNI { wanted = .avx2 }
        return wanted == .avx2 && !CPUFeatures.hasAVX2 ? .portable : wanted
    }()

    /// The kernels this process runs, for the start-up log: an operator whose VM hides AVX2 (or
    /// the OS's YMM state) sees why the server is several times slower than expected.
    public static var kernelDescription: String {
        // How generation streams the weights: a host where it reads far below the probe shows why.
        let stream = CPUFeatures.streamPrefetch == .intoL2 ? " (weights streamed into L2)" : " (weights streamed non-temporally)"
        switch defaultBackend {
        case .avx512: return (CPUFeatures.hasAMX ? "AVX-512 VNNI and AMX kernels" : "AVX-512 VNNI kernels") + stream
        case .avx2: return "AVX2 kernels" + stream
        case .portable: return CPUFeatures.hasAVX2 ? "portable kernels" : "portable kernels (the CPU or the OS offers no AVX2)"
        case .float: return "float kernels"
        }
    }

    static let tileRows = 16

    public static func multiply(_ w: WeightMatrix, _ x: UnsafePointer<Float>, nTokens: Int,
                                _ y: UnsafeMutablePointer<Float>, pool: ThreadPool, backend: Backend = defaultBackend) {
        if KQuantMatMul.supports(w, backend: backend) {
            KQuantMatMul.multiply([(w, y)], x, nTokens: nTokens, pool: pool, backend: backend)
        } else if backend != .float, QuantizedMatMul.supports(w, backend: backend) {
            QuantizedMatMul.multiply([(w, y)], x, nTokens: nTokens, pool: pool, backend: backend)
        } else if backend != .float, F16MatMul.supports(w) {
            // Float activations against F16 weights widened in registers (the float path widened
            // each weight with a library call: an F16 Qwen2.5-Coder-1.5B generated 0.4 t/s).
            F16MatMul.multiply(w, x, nTokens: nTokens, y, pool: pool, backend: backend)
        } else {
            multiplyFloat(w, x, nTokens: nTokens, y, pool: pool)
        }
    }

    /// Several matrices of the same input width on the same x (q/k/v, gate/up):
    /// x is quantized once and all rows go through one parallel region.
    public static func multiply(_ outputs: [(WeightMatrix, UnsafeMutablePointer<Float>)], _ x: UnsafePointer<Float>,
                                nTokens: Int, pool: ThreadPool, backend: Backend = defaultBackend) {
        // K-quants take their own path (one Q8_K quantization of x for all of them); the rest go on together.
        var kQuants: [(WeightMatrix, UnsafeMutablePointer<Float>)] = [], rest = kQuants
        for o in outputs {
            if KQuantMatMul.supports(o.0, backend: backend) { kQuants.append(o) } else { rest.append(o) }
        }
        if let c = kQuants.first?.0.cols {
            if kQuants.allSatisfy({ $0.0.cols == c }) {
                KQuantMatMul.multiply(kQuants, x, nTokens: nTokens, pool: pool, backend: backend)
            } else {
                for o in kQuants { KQuantMatMul.multiply([o], x, nTokens: nTokens, pool: pool, backend: backend) }
            }
        }
        guard let first = rest.first else { return }
        let together = backend != .float && rest.allSatisfy {
            $0.0.cols == first.0.cols && QuantizedMatMul.supports($0.0, backend: backend)
        }
        if together {
            QuantizedMatMul.multiply(rest, x, nTokens: nTokens, pool: pool, backend: backend)
        } else {
            for (w, y) in rest { multiply(w, x, nTokens: nTokens, y, pool: pool, backend: backend) }
        }
    }

    /// Weights against float activations, without rounding x to 8 bits: for the logits
    /// matmul, where that rounding costs the most perplexity and only a few rows
    /// (the last token of each sequence) are usually multiplied. `allRows`: K-quant weights give
    /// every row their finer second pass, not only the rows near each token's best (`KQuantLogits`),
    /// so a matrix of some of the vocabulary's rows gives those rows what the whole one would.
    public static func multiplyUnquantizedActivations(_ w: WeightMatrix, _ x: UnsafePointer<Float>, nTokens: Int,
                                                      _ y: UnsafeMutablePointer<Float>, pool: ThreadPool,
                                                      backend: Backend = defaultBackend, allRows: Bool = false) {
        // These kernels read the file's row layout (but the K-quant ones and, on AVX-512 VNNI, Q8_0's packed
        // copy); a packed-only matrix's rows come unpacked.
        if w.onlyPacked { return multiplyFloat(w, x, nTokens: nTokens, y, pool: pool) }
        if KQuantMatMul.supports(w, backend: backend) {
            KQuantLogits.multiply(w, x, nTokens: nTokens, y, pool: pool, backend: backend, allRows: allRows)
            return
        }
        #if arch(x86_64)
        if backend == .avx2 || backend == .avx512, CPUFeatures.hasAVX2, w.type == .q8_0, w.cols % 32 == 0 {
            // int16 activations: as exact as floats here, and an integer multiply-add.
            let nb = w.cols / 32
            let a16 = UnsafeMutablePointer<Int16>.allocate(capacity: nTokens * w.cols)  // [nTokens, cols]
            let ad = UnsafeMutablePointer<Float>.allocate(capacity: nTokens * nb)        // [nTokens, nb]
            defer { a16.deallocate(); ad.deallocate() }
            for i in 0..<(nTokens * nb) {
                let xb = x + 32 * i
                var amax: Float = 0
                for j in 0..<32 { amax = max(amax, abs(xb[j])) }
                let inv: Float = amax > 0 && amax.isFinite ? 32767 / amax : 0
                ad[i] = amax / 32767
                // A broken model's activations must not trap the conversion: a NaN one counts as zero
                // (max skips it), an infinite one zeroes its block with an infinite scale (NaN logits).
                for j in 0..<32 {
                    let v = (xb[j] * inv).rounded()
                    a16[32 * i + j] = v.isNaN ? 0 : Int16(max(-32767, min(32767, v)))
                }
            }
            let tiles = (w.rows + tileRows - 1) / tileRows
            if backend == .avx512, CPUFeatures.hasAVX512VNNI, let packed = w.packed {
                // Packed at load (`PackedWeights.pack`, `AVX2Packed32`'s layout): each int16 split into
                // two bytes for `vpdpbusd` (VNNIPacked32Logits), the same bits as the kernel below.
                // Two long runs per thread in generation, as the other streamed matrices.
                let hl = UnsafeMutablePointer<UInt8>.allocate(capacity: nTokens * nb * VNNIPacked32Logits.splitBytes)
                let hsum = UnsafeMutablePointer<Int32>.allocate(capacity: nTokens * nb)
                defer { hl.deallocate(); hsum.deallocate() }
                VNNIPacked32Logits.split(a16, blocks: nTokens * nb, into: hl, sums: hsum)
                let end = packed + AVX2Packed32.packedBytes(typeID: w.type.rawValue, rows: w.rows, blocks: nb)
                pool.parallelFor(tiles, minChunk: nTokens <= 8 ? max(1, tiles / (2 * pool.threads)) : 1) { range in
                    VNNIPacked32Logits.rows(packed: packed, end: end, r0: range.lowerBound * tileRows,
                                            r1: min(w.rows, range.upperBound * tileRows), hl: hl, hsum: hsum, ad: ad, nb: nb,
                                            nTokens: nTokens, y: y, ldy: w.rows)
                }
                return
            }
            if backend == .avx512, CPUFeatures.hasAVX512VNNI {
                // 16 rows side by side, vpdpwssd: ~3× the AVX2 row-by-row kernel at 32 tokens, 1.2-1.7× at one.
                pool.parallelFor(tiles) { range in
                    let scratch = UnsafeMutableRawPointer.allocate(byteCount: VNNIQ8x16MatMul.scratchBytes(blocks: nb), alignment: 64)
                    defer { scratch.deallocate() }
                    VNNIQ8x16MatMul.rows(w: w.data, rowBytes: w.rowBytes, r0: range.lowerBound * tileRows,
                                         r1: min(w.rows, range.upperBound * tileRows), a16: a16, ad: ad, nb: nb,
                                         nTokens: nTokens, y: y, ldy: w.rows, scratch: scratch)
                }
                return
            }
            pool.parallelFor(tiles) { range in
                AVX2Q8x16MatMul.rows(w: w.data, rowBytes: w.rowBytes, r0: range.lowerBound * tileRows,
                                     r1: min(w.rows, range.upperBound * tileRows), a16: a16, ad: ad, nb: nb,
                                     nTokens: nTokens, y: y, ldy: w.rows)
            }
            return
        }
        if backend == .avx2 || backend == .avx512, CPUFeatures.hasAVX2, w.cols % 256 == 0 || w.type.blockSize == 32,
           w.cols % 32 == 0, AVX2MatMul.supports(typeID: w.type.rawValue) {
            let tiles = (w.rows + tileRows - 1) / tileRows
            pool.parallelFor(tiles) { range in
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: 2 * w.cols / 32)
                defer { scratch.deallocate() }
                for t in range {
                    AVX2FloatMatMul.rows(typeID: w.type.rawValue, w: w.data, rowBytes: w.rowBytes, r0: t * tileRows,
                                         r1: min(w.rows, (t + 1) * tileRows), x: x, nTokens: nTokens, cols: w.cols,
                                         y: y, ldy: w.rows, scratch: scratch)
                }
            }
            return
        }
        #endif
        if backend != .float, F16MatMul.supports(w) {
            F16MatMul.multiply(w, x, nTokens: nTokens, y, pool: pool, backend: backend)
            return
        }
        multiplyFloat(w, x, nTokens: nTokens, y, pool: pool)
    }

    /// Float path: each thread dequantizes a tile of weight rows once and reuses it
    /// for every token, so weights are read once per call whatever the batch size.
    public static func multiplyFloat(_ w: WeightMatrix, _ x: UnsafePointer<Float>, nTokens: Int,
                                     _ y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        let cols = w.cols, rows = w.rows
        let tiles = (rows + tileRows - 1) / tileRows
        pool.parallelFor(tiles) { range in
            let tile = UnsafeMutablePointer<Float>.allocate(capacity: tileRows * cols)  // [tileRows, cols]
            defer { tile.deallocate() }
            for t in range {
                let r0 = t * tileRows, r1 = min(rows, r0 + tileRows)
                for r in r0..<r1 { w.dequantizeRow(r, into: tile + (r - r0) * cols) }
                for tok in 0..<nTokens {
                    let xt = x + tok * cols
                    let yt = y + tok * rows
                    for r in r0..<r1 {
                        yt[r] = VectorOps.dot(tile + (r - r0) * cols, xt, cols)
                    }
                }
            }
        }
    }

    /// Plain reference: dequantize a row, dot in Double. The oracle for fast paths.
    public static func reference(_ w: WeightMatrix, _ x: UnsafePointer<Float>, nTokens: Int, _ y: UnsafeMutablePointer<Float>) {
        let row = UnsafeMutablePointer<Float>.allocate(capacity: w.cols)
        defer { row.deallocate() }
        for r in 0..<w.rows {
            w.dequantizeRow(r, into: row)
            for tok in 0..<nTokens {
                var s = 0.0
                for c in 0..<w.cols { s += Double(row[c]) * Double(x[tok * w.cols + c]) }
                y[tok * w.rows + r] = Float(s)
            }
        }
    }
}
