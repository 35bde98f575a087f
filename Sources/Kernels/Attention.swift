#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
#if arch(x86_64)
import KernelsAVX2
import KernelsAVX512
#endif

/// One sequence's consecutive tokens in a batch: rows row..<row+count of the query and
/// output matrices, at positions startPosition..., whose block table starts at
/// `tableOffset` in the batch's flattened tables.
public struct AttentionRun: Sendable {
    public var row: Int
    public var count: Int
    public var startPosition: Int
    public var tableOffset: Int

    public init(row: Int, count: Int, startPosition: Int, tableOffset: Int) {
        self.row = row
        self.count = count
        self.startPosition = startPosition
        self.tableOffset = tableOffset
    }
}

/// Causal grouped-query attention over a paged KV cache, with an online softmax: keys
/// are scored a chunk of cache at a time and the running output is rescaled when the
/// maximum grows, so no score matrix is materialised.
public enum Attention {
    /// Query tokens per tile of the tiled kernel: each chunk of the cache read serves this
    /// many tokens (times the heads of a kv head's group).
    public static let tileTokens = 16

    /// Which tiled kernel runs: the one of the matmul backend (JETON_KERNELS, else the
    /// best the CPU has); tests pick each in turn. `avx512BF16` is the AVX-512 kernel with its
    /// value sums in bf16 pairs and its scores in int16 products (`AVX512Attention.attendTileBF16`,
    /// `int16Scores`) over an f16 cache, where the CPU has AVX-512 BF16; `avx512Int16` the same
    /// scores with the value sums in int16 products too (`AVX512Attention.attendTile`'s
    /// `int16Scores` and `int16Sums`), on Intel and on AVX-512 without BF16. Both for quantized
    /// models (`backend(floatWeights:)`).
    /// `JETON_BF16=0` in the environment keeps f32 scores and sums, `JETON_BF16=1` asks for bf16
    /// sums where Intel would not take them, to compare.
    public enum TileBackend: Sendable, CaseIterable { case avx512BF16, avx512Int16, avx512, avx2, portable }

    /// The backend for a model: f32 sums where its layer matrices are mostly float (F32, F16,
    /// BF16). Its user asked for full precision, and there the bf16 sums would be most of the
    /// distance to the reference (a tiny F32 model's log-probabilities lay 0.004 nats from
    /// llama.cpp's with them, under 0.001 without); next to a quantized model's own error they
    /// are noise.
    public static func backend(floatWeights: Bool) -> TileBackend {
        floatWeights && (bestBackend == .avx512BF16 || bestBackend == .avx512Int16) ? .avx512 : bestBackend
    }

    /// Whether `avx512BF16` and `avx512Int16` score in 16-bit integer products (`Int16Scores`);
    /// `JETON_INT16_SCORES=0` keeps f32 scores there (and f32 value sums on `avx512Int16`), to compare.
    public static let int16Scores = getenv("JETON_INT16_SCORES").map { String(cString: $0) != "0" } ?? true

    /// Whether `avx512Int16` sums its values in int16 products (`Int16Values`) beside its int16
    /// scores; `JETON_INT16_SUMS=0` keeps f32 sums there, to compare.
    public static let int16Sums = getenv("JETON_INT16_SUMS").map { String(cString: $0) != "0" } ?? true

    /// bf16 value sums where the CPU has them, except on Intel, where the bf16 dot product issues
    /// on one port and measured slower (Emerald Rapids, Qwen 1.5B pp4096 alternated: int16 scores
    /// with f32 sums 169-173 t/s, with bf16 sums 161-162, f32 scores and sums 141-166), and the
    /// int16 sums (`Int16Values`) faster still (the prompt in 96-token chunks, as beside streaming
    /// requests: 163 t/s against 150 with f32 sums, the attention's time a fifth less); on Zen 4
    /// the bf16 sums gained 5-9%.
    public static let bestBackend: TileBackend = tileBackend(
        kernels: MatMul.defaultBackend, avx512: CPUFeatures.hasAVX512VNNI, avx2: CPUFeatures.hasAVX2,
        bf16: CPUFeatures.hasAVX512BF16, vendor: CPUFeatures.vendor, setting: getenv("JETON_BF16").map { String(cString: $0) })

    /// `bestBackend`'s choice for a matrix backend, a CPU (its AVX-512 VNNI, AVX2 and AVX-512 BF16,
    /// its cpuid vendor) and `JETON_BF16` ("1": bf16 sums where the CPU has them, "0": f32 scores
    /// and sums, anything else: the default). Apart so tests can feed it CPUs this is not.
    public static func tileBackend(kernels: MatMul.Backend, avx512: Bool, avx2: Bool, bf16: Bool, vendor: String,
                                   setting: String?) -> TileBackend {
        let sums = setting == "1" ? bf16 : setting == "0" ? false : bf16 && !CPUFeatures.isIntel(vendor)
        switch kernels {
        case .avx512: return sums ? .avx512BF16 : setting == "0" ? .avx512 : .avx512Int16
        case .avx2: return .avx2
        case .portable: return .portable
        // The float path is the one closest to the float64 reference: f32 sums.
        case .float: return avx512 ? .avx512 : avx2 ? .avx2 : .portable
        }
    }

    /// Attention of every token of a batch: q, out [tokens, nHead·headSize]. Tiles of
    /// consecutive tokens × one kv head are the units of work (longest first, so the causal
    /// triangle's unequal tiles balance across threads); the portable path goes token by token.
    public static func attend(runs: [AttentionRun], tables: UnsafePointer<Int32>, q: UnsafePointer<Float>,
                              out: UnsafeMutablePointer<Float>, window: Int?, storage: KVCacheStorage, layer: Int,
                              nHead: Int, nKVHead: Int, headSize hs: Int, scale: Float, pool: ThreadPool,
                              backend: TileBackend = bestBackend, int16Scores: Bool = int16Scores) {
        let qDim = nHead * hs, bs = storage.blockSize
        #if arch(x86_64)
        let plan = Self.plan(backend: backend, headSize: hs, blockSize: bs, f16: storage.type == .f16, int16Scores: int16Scores)
        if plan.kernel != .tokenByToken {
            var items: [(run: Int, offset: Int, count: Int, kvh: Int)] = []
            for (r, run) in runs.enumerated() {
                var o = 0
                while o < run.count {
                    let n = min(tileTokens, run.count - o)
                    for kvh in 0..<nKVHead { items.append((r, o, n, kvh)) }
                    o += n
                }
            }
            items.sort { runs[$0.run].startPosition + $0.offset + $0.count > runs[$1.run].startPosition + $1.offset + $1.count }
            let keys = storage.keys(layer: layer), values = storage.values(layer: layer)
            let group = nHead / nKVHead, f16 = storage.type == .f16, kvDim = storage.kvDim, w = window ?? 0
            let avx512 = plan.kernel == .avx512
            let scratchCount = avx512 ? AVX512Attention.scratchCount(headSize: hs, rows: tileTokens * group)
                                      : AVX2Attention.tileScratchCount(headSize: hs, rows: tileTokens * group)
            pool.parallelFor(items.count) { range in
                let scratch = UnsafeMutablePointer<Float>.allocate(capacity: scratchCount)
                defer { scratch.deallocate() }
                for it in items[range] {
                    let run = runs[it.run], row = run.row + it.offset
                    let tile = AttentionTile(q: q + row * qDim, out: out + row * qDim, rowStride: qDim, tokens: it.count,
                                             p0: run.startPosition + it.offset, window: w, kvHead: it.kvh, group: group, headSize: hs)
                    if plan.bf16Sums {
                        AVX512Attention.attendTileBF16(tile, blockTable: tables + run.tableOffset, keys: keys, values: values, f16: f16,
                                                       blockSize: bs, kvDim: kvDim, scale: scale, int16Scores: plan.int16Scores,
                                                       scratch: scratch)
                    } else if avx512 {
                        AVX512Attention.attendTile(tile, blockTable: tables + run.tableOffset, keys: keys, values: values, f16: f16,
                                                   blockSize: bs, kvDim: kvDim, scale: scale, int16Scores: plan.int16Scores,
                                                   int16Sums: plan.int16Sums, scratch: scratch)
                    } else {
                        AVX2Attention.attendTile(tile, blockTable: tables + run.tableOffset, keys: keys, values: values, f16: f16,
                                                 blockSize: bs, kvDim: kvDim, scale: scale, scratch: scratch)
                    }
                }
            }
            return
        }
        #endif
        var rowRun = [Int](repeating: 0, count: runs.reduce(0) { max($0, $1.row + $1.count) })
        for (r, run) in runs.enumerated() { for i in 0..<run.count { rowRun[run.row + i] = r } }
        pool.parallelFor(rowRun.count) { range in
            for i in range {
                let run = runs[rowRun[i]], pos = run.startPosition + i - run.row
                portable(q: q + i * qDim, first: window.map { max(0, pos - $0 + 1) } ?? 0, last: pos, blockTable: tables + run.tableOffset,
                         keys: storage.keys(layer: layer), values: storage.values(layer: layer), type: storage.type,
                         blockSize: bs, kvDim: storage.kvDim, nHead: nHead, nKVHead: nKVHead, headSize: hs, scale: scale, out: out + i * qDim)
            }
        }
    }

    /// One token's attention in Swift SIMD, token by token: the path for CPUs without AVX2
    /// and head sizes the tiled kernels don't take. keys/values: the layer's [blocks, blockSize, kvDim] elements of `type`.
    static func portable(q: UnsafePointer<Float>, first: Int, last: Int, blockTable: UnsafePointer<Int32>,
                         keys: UnsafeRawPointer, values: UnsafeRawPointer, type: KVCacheType, blockSize bs: Int, kvDim: Int,
                         nHead: Int, nKVHead: Int, headSize hs: Int, scale: Float, out: UnsafeMutablePointer<Float>) {
        let group = nHead / nKVHead
        let sc = UnsafeMutablePointer<Float>.allocate(capacity: (bs + 7) / 8 * 8)  // [blockSize] scores of one block
        let kv = UnsafeMutablePointer<Float>.allocate(capacity: 2 * hs)           // one key and one value as floats
        defer { sc.deallocate(); kv.deallocate() }
        let eb = type.elementBytes
        for h in 0..<nHead {
            let kvh = h / group
            let qh = q + h * hs, oh = out + h * hs
            oh.update(repeating: 0, count: hs)
            var m = -Float.infinity, l: Float = 0
            var p = first
            while p <= last {
                let s0 = p % bs, cnt = min(bs - s0, last - p + 1)
                let blk = Int(blockTable[p / bs])
                let off = (blk * bs + s0) * kvDim + kvh * hs
                var mx = -Float.infinity
                for i in 0..<cnt {
                    KVCacheStorage.decodeKey(keys, block: blk, slot: s0 + i, blockSize: bs, kvDim: kvDim, from: kvh * hs, count: hs,
                                             type: type, into: kv)
                    sc[i] = VectorOps.dot(qh, kv, hs) * scale
                    mx = max(mx, sc[i])
                }
                let mNew = max(m, mx)
                let corr = m == -.infinity ? 0 : expf(m - mNew)
                if corr != 1 { for j in 0..<hs { oh[j] *= corr } }
                l *= corr
                for i in 0..<cnt {
                    let e = expf(sc[i] - mNew)
                    l += e
                    KVCacheStorage.decode(values + (off + i * kvDim) * eb, into: kv + hs, hs, type)
                    VectorOps.axpy(e, kv + hs, oh, hs)
                }
                m = mNew
                p += cnt
            }
            let inv = 1 / l
            for j in 0..<hs { oh[j] *= inv }
        }
    }
}
