import GGUF
import KernelsAVX2
#if arch(x86_64)
import KernelsAVX512
#endif

/// Matmul with activations quantized per block of 32 to int8 (as llama.cpp's
/// vec_dot_q4_1_q8_1 / q8_0_q8_0): x is quantized once per call, then threads take
/// tiles of 16 weight rows and multiply each tile against all tokens. Q4_0/Q4_1/Q5_0/Q8_0/IQ4_NL matrices
/// packed at load (`AVX2Packed32`'s layout) go through `VNNIPacked32` on the avx512 backend and
/// `AVX2Packed32` on the avx2 one; the
/// avx512 backend takes other Q4_0/Q4_1/Q8_0 tiles through the
/// VNNI kernels on the file's layout and other formats through the AVX2 ones (each kernel is
/// batch-invariant on its own matrices).
enum QuantizedMatMul {
    static let tileRows = 16
    /// Up to this many tokens the avx512 backend streams the rows of a matrix not packed at load
    /// with the matrix-vector kernel (`VNNIMatVec`); past it, tiles are copied and transposed once
    /// and reused across tokens.
    static let matVecTokens = 4

    static func supports(_ w: WeightMatrix, backend: MatMul.Backend) -> Bool {
        guard w.cols % 32 == 0, w.cols > 0 else { return false }
        switch backend {
        case .float: return false
        case .portable: return PortableQ8MatMul.supports(w.type)
        case .avx2:
            #if arch(x86_64)
            return CPUFeatures.hasAVX2 && (AVX2MatMul.supports(typeID: w.type.rawValue) || packedOnlyKernels(w))
            #else
            return false
            #endif
        case .avx512:
            #if arch(x86_64)
            return CPUFeatures.hasAVX512VNNI
                && (VNNIMatMul.supports(typeID: w.type.rawValue) || AVX2MatMul.supports(typeID: w.type.rawValue) || packedOnlyKernels(w))
            #else
            return false
            #endif
        }
    }

    /// IQ4_NL has only the packed kernels (`AVX2Packed32`, `VNNIPacked32`): without a packed copy
    /// (repacking off) its matrices take the float path.
    static func packedOnlyKernels(_ w: WeightMatrix) -> Bool {
        #if arch(x86_64)
        return w.type == .iq4_nl && w.packed != nil
        #else
        return false
        #endif
    }

    /// y_i = x · W_iᵀ for each (W_i, y_i): all W_i have the same cols; x [nTokens, cols],
    /// y_i [nTokens, W_i.rows]. Callers check `supports` for every W_i.
    static func multiply(_ outputs: [(WeightMatrix, UnsafeMutablePointer<Float>)], _ x: UnsafePointer<Float>,
                         nTokens: Int, pool: ThreadPool, backend: MatMul.Backend) {
        guard let cols = outputs.first?.0.cols, nTokens > 0 else { return }
        // A packed-only matrix exists only where AVX2 runs (`WeightMatrix.init(onlyPacked:)`), and
        // only the kernels of that layout read it (AVX2's, and AVX-512 VNNI's where the CPU has it):
        // a call naming another backend sends it to AVX2's.
        let useVNNI = backend == .avx512 && CPUFeatures.hasAVX512VNNI
        if backend != .avx2 && !useVNNI && outputs.contains(where: { $0.0.onlyPacked }) {
            multiply(outputs.filter { $0.0.onlyPacked }, x, nTokens: nTokens, pool: pool, backend: .avx2)
            let rest = outputs.filter { !$0.0.onlyPacked }
            if !rest.isEmpty { multiply(rest, x, nTokens: nTokens, pool: pool, backend: backend) }
            return
        }
        let nb = cols / 32
        let act = Q8Buffer(nTokens: nTokens, blocks: nb)
        // Q4_0/Q4_1/Q5_0/IQ4_NL packed at load (`PackedWeights`, AVX2's layout, which the AVX-512 VNNI kernel
        // reads too, with Q8_0): every token count takes the packed kernel, so a token's result is the same alone
        // and in any batch.
        #if arch(x86_64)
        let packed32 = (backend == .avx2 || useVNNI)
            && outputs.contains { $0.0.packed != nil && AVX2Packed32.supports(typeID: $0.0.type.rawValue) }
        #else
        let packed32 = false
        #endif
        // [nTokens, nb] Σq per activation block, for the formats with an offset (VNNI, packed AVX2).
        let asum = UnsafeMutablePointer<Int32>.allocate(capacity: useVNNI || packed32 ? nTokens * nb : 1)
        defer { act.free(); asum.deallocate() }
        let view = act.view
        let quantize = { (tokens: Range<Int>) in
            act.quantize(x, tokens: tokens)
            #if arch(x86_64)
            if useVNNI { VNNIMatMul.blockSums(view, tokens: tokens, asum) }
            if packed32 && !useVNNI { AVX2Packed32.blockSums(view, tokens: tokens, asum) }
            #endif
        }
        if nTokens >= 8 {
            pool.parallelFor(nTokens) { quantize($0) }
        } else {
            quantize(0..<nTokens)
        }

        // Tiles of all matrices in one index space: [matrix, tile].
        var firstTile = [Int](), total = 0
        for (w, _) in outputs {
            firstTile.append(total)
            total += (w.rows + tileRows - 1) / tileRows
        }
        firstTile.append(total)

        let useAVX2 = backend == .avx2 || backend == .avx512
        #if arch(x86_64)
        // Matrices packed for the AVX-512 VNNI kernel (any token count) and, in generation, the
        // others' rows streamed from the file's layout.
        let packedVNNI = { (w: WeightMatrix) in useVNNI && w.packed != nil && VNNIPacked32.supports(typeID: w.type.rawValue) }
        // Per thread range: Q5_0 and Q8_0 past 8 tokens decode each tile once into it.
        let packedScratch = outputs.contains { packedVNNI($0.0) && VNNIPacked32.needsScratch(typeID: $0.0.type.rawValue, tokens: nTokens) }
            ? VNNIPacked32.scratchBytes(blocks: nb) : 0
        if useVNNI, outputs.allSatisfy({ packedVNNI($0.0) || nTokens <= matVecTokens && VNNIMatVec.supports(typeID: $0.0.type.rawValue) }) {
            // Rows streamed once (no per-call copy, same bits as VNNIMatMul). Long runs per thread
            // in generation: the kernels read ahead within a run, so the first tiles of each run
            // wait on memory (the default grain made runs of 3-4 tiles here).
            func run(_ range: Range<Int>) {
                let scratch = packedScratch > 0 ? UnsafeMutableRawPointer.allocate(byteCount: packedScratch, alignment: 64) : nil
                defer { scratch?.deallocate() }
                // Runs of consecutive tiles of one matrix go as one call, so the kernel can read ahead.
                var tile = range.lowerBound, m = 0
                while tile < range.upperBound {
                    while tile >= firstTile[m + 1] { m += 1 }
                    let end = min(range.upperBound, firstTile[m + 1])
                    let (w, y) = outputs[m]
                    let r0 = (tile - firstTile[m]) * tileRows, r1 = min(w.rows, (end - firstTile[m]) * tileRows)
                    if packedVNNI(w), let packed = w.packed {
                        let matrixEnd = packed + AVX2Packed32.packedBytes(typeID: w.type.rawValue, rows: w.rows, blocks: nb)
                        VNNIPacked32.rows(typeID: w.type.rawValue, packed: packed, end: matrixEnd, r0: r0, r1: r1, act: view,
                                          asum: asum, y: y, ldy: w.rows, scratch: scratch)
                    } else {
                        VNNIMatVec.rows(typeID: w.type.rawValue, w: w.data, rowBytes: w.rowBytes, r0: r0, r1: r1, act: view,
                                        asum: asum, y: y, ldy: w.rows)
                    }
                    tile = end
                }
            }
            let bytes = outputs.reduce(0) { $0 + $1.0.rows * $1.0.rowBytes }
            if nTokens <= 8 && ThreadPool.worthStreams(bytes: bytes) {
                // Generation: one stream a thread (the packed kernels read ahead to the matrix's end;
                // `VNNIMatVec` within its call), the pool's taking from the back of a part keeping
                // both threads busy to the end.
                pool.parallelStreams(total, piece: ThreadPool.streamPiece(count: total, bytes: bytes)) { range, _ in run(range) }
            } else {
                pool.parallelFor(total, minChunk: nTokens <= 8 ? max(1, total / (2 * pool.threads)) : 1) { run($0) }
            }
            return
        }
        #endif
        pool.parallelFor(total) { range in
            let floats = 2 * tileRows * nb + 8 * nb  // AVX2MatMul.scratchFloats, portable needs less
            let scratch = UnsafeMutablePointer<Float>.allocate(capacity: floats)
            let wq = UnsafeMutablePointer<Int16>.allocate(capacity: useAVX2 ? 1 : cols)  // [cols] decoded row
            #if arch(x86_64)
            // [VNNIMatMul.scratchBytes]: one tile's repacked weights and scales.
            let vscratch = UnsafeMutableRawPointer.allocate(byteCount: useVNNI ? VNNIMatMul.scratchBytes(blocks: nb) : 1,
                                                            alignment: 64)
            let pscratch = packedScratch > 0 ? UnsafeMutableRawPointer.allocate(byteCount: packedScratch, alignment: 64) : nil
            defer { vscratch.deallocate(); pscratch?.deallocate() }
            #endif
            defer { scratch.deallocate(); wq.deallocate() }
            var m = 0
            for tile in range {
                while tile >= firstTile[m + 1] { m += 1 }
                let (w, y) = outputs[m]
                let r0 = (tile - firstTile[m]) * tileRows, r1 = min(w.rows, r0 + tileRows)
                #if arch(x86_64)
                if packedVNNI(w), let packed = w.packed {
                    let end = packed + AVX2Packed32.packedBytes(typeID: w.type.rawValue, rows: w.rows, blocks: nb)
                    VNNIPacked32.rows(typeID: w.type.rawValue, packed: packed, end: end, r0: r0, r1: r1, act: view, asum: asum,
                                      y: y, ldy: w.rows, scratch: pscratch)
                    continue
                }
                if useVNNI, VNNIMatMul.supports(typeID: w.type.rawValue) {
                    // Generation streams the weights: the tile after next (this thread's, same
                    // matrix) goes to L2 while this one is multiplied.
                    var ahead: UnsafeRawPointer?, aheadBytes = 0
                    if nTokens <= 8, tile + 2 < range.upperBound, tile + 2 < firstTile[m + 1] {
                        let a0 = r0 + 2 * tileRows
                        ahead = UnsafeRawPointer(w.data + a0 * w.rowBytes)
                        aheadBytes = (min(w.rows, a0 + tileRows) - a0) * w.rowBytes
                    }
                    VNNIMatMul.rows(typeID: w.type.rawValue, w: w.data, rowBytes: w.rowBytes, r0: r0, r1: r1,
                                    act: view, asum: asum, y: y, ldy: w.rows, scratch: vscratch,
                                    prefetch: ahead, prefetchBytes: aheadBytes)
                    continue
                }
                if packed32, let packed = w.packed, AVX2Packed32.supports(typeID: w.type.rawValue) {
                    let end = packed + AVX2Packed32.packedBytes(typeID: w.type.rawValue, rows: w.rows, blocks: nb)
                    AVX2Packed32.rows(typeID: w.type.rawValue, packed: packed, end: end, r0: r0, r1: r1, act: view, asum: asum,
                                      y: y, ldy: w.rows)
                    continue
                }
                if useAVX2 {
                    AVX2MatMul.rows(typeID: w.type.rawValue, w: w.data, rowBytes: w.rowBytes, r0: r0, r1: r1,
                                    act: view, y: y, ldy: w.rows, scratch: scratch)
                    continue
                }
                #endif
                PortableQ8MatMul.rows(w, r0: r0, r1: r1, act: view, y: y, ldy: w.rows, wq: wq, scratch: scratch)
            }
        }
    }
}
