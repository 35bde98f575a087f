import GGUF
import KernelsAVX2
#if arch(x86_64)
import KernelsAVX512
#endif

/// Matmul of K-quant weights (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS) with activations quantized per
/// super-block of 256 (Q8_K), the arithmetic of `KQuantDot`: x is quantized once per
/// call, then threads take tiles of 16 rows of any of the matrices. Each row is read
/// front to back once per call (the AVX2 packed kernel: once per 64 tokens) and every token
/// is multiplied against it while it is in cache, so one sequence streams the weights at
/// memory speed. The avx512 backend
/// takes the VNNI kernels; avx2 the packed AVX2 kernel (16-row tiles, one stream up to 8
/// tokens), or the AVX2 matrix-vector kernel without a packed copy. All give the bits of `KQuantDot`.
/// Q2_K, Q3_K and IQ4_XS have only the packed kernels: a few rows without a packed copy (a draft's gathered
/// output rows) are packed for the call, a larger matrix without one (repacking off) takes the
/// float path.
enum KQuantMatMul {
    static let tileRows = 16

    static func supports(_ w: WeightMatrix, backend: MatMul.Backend) -> Bool {
        guard w.cols % 256 == 0, w.cols > 0, KQuantDot.supports(w.type),
              w.packed != nil || w.rows <= transientPackRows || !onlyPackedKernels(w.type) else { return false }
        #if arch(x86_64)
        switch backend {
        case .avx512: return CPUFeatures.hasAVX512VNNI
        case .avx2: return CPUFeatures.hasAVX2
        default: return false
        }
        #else
        return false
        #endif
    }

    /// y_i = x · W_iᵀ for each (W_i, y_i): all W_i have the same cols; x [nTokens, cols],
    /// y_i [nTokens, W_i.rows]. Callers check `supports(_:backend:)` for every W_i with the same backend.
    /// `amx`: Q4_K against more than 8 tokens on AMX tiles where the CPU has them (same bits).
    /// `twoScaleProducts`: the AVX-512 Q4_K groups' scale step for CPUs whose vector operations
    /// share the multiply ports (`CPUFeatures.q4KTwoScaleProducts`; same bits).
    static func multiply(_ outputs: [(WeightMatrix, UnsafeMutablePointer<Float>)], _ x: UnsafePointer<Float>,
                         nTokens: Int, pool: ThreadPool, backend: MatMul.Backend, amx: Bool = CPUFeatures.hasAMX,
                         twoScaleProducts: Bool = CPUFeatures.q4KTwoScaleProducts) {
        guard let cols = outputs.first?.0.cols, nTokens > 0 else { return }
        // Q2_K, Q3_K and IQ4_XS rows without a packed copy (a few: `supports`) are packed for this call only;
        // the common case, every matrix packed at load, takes the outputs as they are.
        var transient: [UnsafeMutableRawPointer] = []
        defer { for b in transient { b.deallocate() } }
        let outputs = !outputs.contains(where: { needsPackingForCall($0.0) }) ? outputs : outputs.map { w, y in
            guard needsPackingForCall(w) else { return (w, y) }
            let packed = packedForCall(w)
            transient.append(packed)
            return (WeightMatrix(type: w.type, data: w.data, rows: w.rows, cols: w.cols, packed: UnsafeRawPointer(packed)), y)
        }
        let act = Q8KBuffer(nTokens: nTokens, superBlocks: cols / 256)
        defer { act.free() }
        if nTokens >= 8 {
            pool.parallelFor(nTokens) { act.quantize(x, tokens: $0) }
        } else {
            act.quantize(x, tokens: 0..<nTokens)
        }
        let view = act.view
        var firstTile = [Int](), total = 0
        for (w, _) in outputs {
            firstTile.append(total)
            total += (w.rows + tileRows - 1) / tileRows
        }
        firstTile.append(total)
        #if arch(x86_64)
        // Few tokens: stream each row once (generation). More (AVX-512): repack tiles and reuse
        // them across tokens. Both give the same bits (KQuantDot), so the choice never shows;
        // AVX2 takes the packed tile kernel at any token count, or without a packed copy the
        // matrix-vector kernel (both batch-invariant too).
        let batched = backend == .avx512 && nTokens > matVecTokens
        let maxRowBytes = outputs.map { $0.0.rowBytes }.max() ?? 0
        // Scratch: for the tile kernel on matrices without a packed copy, for AMX (packed Q4_K
        // past 8 tokens) and for packed Q5_K against a prompt (decoded once per tile); the other
        // packed kernels need none.
        let amx = amx && backend == .avx512 && CPUFeatures.hasAMX
        let needsScratch = batched && outputs.contains { $0.0.packed == nil }
            || amx && nTokens > 8 && outputs.contains { $0.0.packed != nil }
            || backend == .avx512 && nTokens > 8 * TileShare.maxGroups && outputs.contains { $0.0.packed != nil && $0.0.type == .q5_K }
        let scratchBytes = max(VNNIKQuantBatch.scratchBytes(superBlocks: cols / 256, rowBytes: maxRowBytes),
                               amx ? AMXKQuantPacked.scratchBytes : 0)
        // Runs of consecutive tiles of one matrix go as one call, so the kernel can read ahead
        // (to `streamEnd`, the tile where the thread's stream of tiles ends).
        func run(_ range: Range<Int>, streamEnd: Int) {
            let scratch = needsScratch
                ? UnsafeMutableRawPointer.allocate(byteCount: scratchBytes, alignment: 64)
                : nil
            defer { scratch?.deallocate() }
            var tile = range.lowerBound, m = 0
            while tile < range.upperBound {
                while tile >= firstTile[m + 1] { m += 1 }
                let end = min(range.upperBound, firstTile[m + 1])
                let (w, y) = outputs[m]
                let r0 = (tile - firstTile[m]) * tileRows, r1 = min(w.rows, (end - firstTile[m]) * tileRows)
                let ahead = min(w.rows, (min(streamEnd, firstTile[m + 1]) - firstTile[m]) * tileRows)
                rows(w, r0, r1, view, y, ldy: w.rows, backend: backend, scratch: scratch, amx: amx,
                     twoScaleProducts: twoScaleProducts, aheadRows: ahead)
                tile = end
            }
        }
        let bytes = outputs.reduce(0) { $0 + $1.0.rows * $1.0.rowBytes }
        if nTokens <= 8 && ThreadPool.worthStreams(bytes: bytes) {
            // Generation (up to 8 tokens, one group a tile): one long stream per thread (each run's
            // first lines wait on memory until its read-ahead starts: 8 runs per thread took
            // 36.0-40.5 t/s of Qwen2.5-Coder-1.5B tg128 against 42.1-42.9 with 2, probe 52-57 GB/s),
            // and the pool's taking from the back of a part keeps both threads busy to the region's
            // end (the caller waited 2.1-2.4 ms of a 31 ms token for the other thread; 0.13-0.20 now).
            pool.parallelStreams(total, piece: ThreadPool.streamPiece(count: total, bytes: bytes)) { run($0, streamEnd: $1) }
        } else if nTokens <= 8 {
            // A small region: two runs a thread, as QuantizedMatMul's small ones.
            pool.parallelFor(total, minChunk: max(1, total / (2 * pool.threads))) { run($0, streamEnd: $0.upperBound) }
        } else {
            pool.parallelFor(total) { run($0, streamEnd: $0.upperBound) }
        }
        #endif
    }

    /// Q2_K, Q3_K and IQ4_XS matrices of at most this many rows without a packed copy are packed for the call.
    static let transientPackRows = 512

    @inline(__always) static func needsPackingForCall(_ w: WeightMatrix) -> Bool {
        onlyPackedKernels(w.type) && w.packed == nil
    }

    /// Types whose only kernels read the packed tiles (Q2_K, Q3_K, IQ4_XS).
    @inline(__always) static func onlyPackedKernels(_ type: GGMLType) -> Bool {
        type == .q2_K || type == .q3_K || type == .iq4_xs
    }

    /// A packed copy of `w` (the caller deallocates it).
    static func packedForCall(_ w: WeightMatrix) -> UnsafeMutableRawPointer {
        let nsb = w.cols / 256, tiles = (w.rows + tileRows - 1) / tileRows
        let out = UnsafeMutableRawPointer.allocate(byteCount: max(1, KQuantPacker.packedBytes(typeID: w.type.rawValue, rows: w.rows, superBlocks: nsb)),
                                                   alignment: 64)
        KQuantPacker.pack(typeID: w.type.rawValue, w: w.data, rowBytes: w.rowBytes, rows: w.rows, superBlocks: nsb,
                          tiles: 0..<tiles, out: out)
        return out
    }

    /// Rows r0..<r1 of `w` (r0 a multiple of the tile) against every token of `act`: y[t·ldy + r].
    /// `scratch`: as `multiply` allocates it (nil when neither the per-call repacking kernel nor AMX runs).
    /// `aheadRows`: where the read-ahead of the packed kernels stops (r1 when nil).
    static func rows(_ w: WeightMatrix, _ r0: Int, _ r1: Int, _ act: Q8KActivationsView, _ y: UnsafeMutablePointer<Float>,
                     ldy: Int, backend: MatMul.Backend, scratch: UnsafeMutableRawPointer?, amx: Bool,
                     twoScaleProducts: Bool = false, aheadRows: Int? = nil) {
        #if arch(x86_64)
        if backend == .avx512, let packed = w.packed {
            VNNIKQuantPacked.rows(typeID: w.type.rawValue, packed: packed, r0: r0, r1: r1, act: act, y: y, ldy: ldy,
                                  scratch: scratch, amx: amx, twoScaleProducts: twoScaleProducts, aheadRows: aheadRows)
        } else if backend == .avx2, let packed = w.packed, AVX2KQuantPacked.supports(typeID: w.type.rawValue) {
            AVX2KQuantPacked.rows(typeID: w.type.rawValue, packed: packed, r0: r0, r1: r1, act: act, y: y, ldy: ldy,
                                  aheadRows: aheadRows)
        } else if backend == .avx2 {
            AVX2KQuantMatVec.rows(typeID: w.type.rawValue, w: w.data, rowBytes: w.rowBytes, r0: r0, r1: r1,
                                  act: act, y: y, ldy: ldy)
        } else if let scratch, VNNIKQuantBatch.supports(typeID: w.type.rawValue) {
            var r = r0
            while r < r1 {
                VNNIKQuantBatch.rows(typeID: w.type.rawValue, w: w.data, rowBytes: w.rowBytes, r0: r,
                                     r1: min(r1, r + tileRows), act: act, y: y, ldy: ldy, scratch: scratch)
                r += tileRows
            }
        } else {
            VNNIKQuantMatVec.rows(typeID: w.type.rawValue, w: w.data, rowBytes: w.rowBytes, r0: r0, r1: r1,
                                  act: act, y: y, ldy: ldy)
        }
        #endif
    }

    /// Rows r0..<r1 (r0 a multiple of the tile) against token `t` of `act` alone, into
    /// out[0..<r1 - r0]: a view of those rows (and of their packed tiles) through `rows`, with
    /// the kernels `multiply` takes for one token, so the same bits as a whole-matrix call.
    static func rowRange(_ w: WeightMatrix, _ r0: Int, _ r1: Int, _ act: Q8KActivationsView, token t: Int,
                         _ out: UnsafeMutablePointer<Float>, backend: MatMul.Backend) {
        precondition(r0 % tileRows == 0 && r0 < r1 && r1 <= w.rows)
        let nsb = act.superBlocks
        let sub = w.suffix(fromRow: r0).prefix(rows: r1 - r0)
        let one = Q8KActivationsView(qs: act.qs + t * nsb * 256, qsK4: act.qsK4 + t * nsb * 256, d: act.d + t * nsb,
                                     bsums: act.bsums + t * nsb * 16, pairSums: act.pairSums + t * nsb * 4,
                                     superBlocks: nsb, nTokens: 1)
        rows(sub, 0, r1 - r0, one, out, ldy: r1 - r0, backend: backend, scratch: nil, amx: false)
    }

    /// Up to this many tokens, rows are streamed once per call and each token multiplied
    /// against them in turn (the matrix-vector kernel); past it, the repacked tile kernel.
    static let matVecTokens = 4

    /// The reference twin: `KQuantDot` row by row on the same quantized activations.
    static func reference(_ w: WeightMatrix, _ x: UnsafePointer<Float>, nTokens: Int, _ y: UnsafeMutablePointer<Float>) {
        let act = Q8KBuffer(nTokens: nTokens, superBlocks: w.cols / 256)
        defer { act.free() }
        act.quantize(x, tokens: 0..<nTokens)
        for t in 0..<nTokens {
            for r in 0..<w.rows { y[t * w.rows + r] = KQuantDot.dot(w.type, w.row(r), act.view, token: t) }
        }
    }
}
