import GGUF
import Kernels

/// The llama forward pass over a batch of token runs from many sequences at once,
/// with the optional steps of the other families (`ModelArchitecture`, LlamaModel+Steps).
/// All tokens of a step go through each weight matrix together ([nTokens, dim]
/// activations), so weights are read once per step; attention reads each
/// sequence's own blocks of the shared paged cache.
public final class LlamaModel: Sendable {
    public let config: ModelConfig
    public let weights: ModelWeights
    public let pool: ThreadPool
    let rope: Rope       // global layers
    let localRope: Rope  // sliding-window layers

    /// Tokens 0..<logitRows get logits; the others -infinity (a draft model proposing from the
    /// first, most frequent, tokens of a BPE vocabulary skips most of its output matrix).
    public let logitRows: Int

    /// The attention path (`Attention.backend(floatWeights:)`): bf16 or int16 value sums only for quantized layers.
    public let attentionBackend: Attention.TileBackend

    public init(config: ModelConfig, weights: ModelWeights, threads: Int, logitRows: Int? = nil) {
        self.config = config
        self.weights = weights
        self.attentionBackend = Attention.backend(floatWeights: weights.mostlyFloat)
        self.pool = ThreadPool(threads: threads)
        self.logitRows = min(config.vocabSize, max(1, logitRows ?? config.vocabSize))
        (self.rope, self.localRope) = Self.ropes(for: config)
    }

    /// Makes KV storage for `tokens` token slots in blocks of `blockSize`, every layer alike
    /// (sliding-window layers keep every position: the unbounded layout).
    public func makeCacheStorage(tokens: Int, blockSize: Int = 16, type: KVCacheType = .f16) -> KVCacheStorage {
        KVCacheStorage(layers: config.layers, kvDim: config.kvDim, blockSize: blockSize,
                       blockCount: (tokens + blockSize - 1) / blockSize, type: type)
    }

    /// Widest sliding window of the model's layers; nil when every layer is global.
    public var slidingWindow: Int? { config.slidingLayers.contains(true) ? config.slidingWindow : nil }

    /// Makes KV storage whose sliding-window layers have a pool of their own of `localTokens`
    /// slots, addressed through each sequence's `localRing`; the same as the unbounded layout
    /// when the model has no sliding layers.
    public func makeCacheStorage(tokens: Int, localTokens: Int, blockSize: Int = 16, type: KVCacheType = .f16) -> KVCacheStorage {
        guard slidingWindow != nil else { return makeCacheStorage(tokens: tokens, blockSize: blockSize, type: type) }
        return KVCacheStorage(layers: config.layers, kvDim: config.kvDim, blockSize: blockSize,
                              blockCount: (tokens + blockSize - 1) / blockSize, type: type,
                              localLayers: config.slidingLayers, localBlockCount: (localTokens + blockSize - 1) / blockSize)
    }

    /// Runs the batch, writing keys/values into `cache`, and returns logits
    /// [Σ logit rows, vocab] in batch order (per sequence: none, its last token, or all).
    public func forward(_ batch: [BatchSequence], cache: KVCacheStorage) throws -> [Float] {
        var logits: [Float] = []
        try forward(batch, cache: cache, into: &logits)
        return logits
    }

    /// `forward`, its logits into `logits` (resized to them, its storage kept when large enough:
    /// a fresh array of a step's logits, up to ~10 MB at 16 sequences of a 152K vocabulary, cost
    /// 20-30 ms of page faults in the server whenever it outgrew the last one).
    public func forward(_ batch: [BatchSequence], cache: KVCacheStorage, into logits: inout [Float]) throws {
        let c = config
        let n = batch.reduce(0) { $0 + $1.tokens.count }
        guard n > 0 else { logits.removeAll(keepingCapacity: true); return }

        // Where each flattened token comes from: sequence index and position.
        var seqOf = [Int](repeating: 0, count: n)
        var posOf = [Int](repeating: 0, count: n)
        var t = 0
        for (s, seq) in batch.enumerated() {
            let end = seq.startPosition + seq.tokens.count
            guard end <= c.contextLength else { throw ModelError.contextOverflow(needed: end, limit: c.contextLength) }
            precondition(seq.blockTable.count * cache.blockSize >= end, "block table does not cover the sequence")
            for (i, tok) in seq.tokens.enumerated() {
                guard tok >= 0, Int(tok) < c.vocabSize else { throw ModelError.invalidToken(tok, vocabularySize: c.vocabSize) }
                seqOf[t] = s
                posOf[t] = seq.startPosition + i
                t += 1
            }
        }

        let x = Buffer(n * c.dim)        // [n, dim] residual stream
        let xb = Buffer(n * c.dim)       // [n, dim] normed input
        let q = Buffer(n * c.qDim)       // [n, qDim]
        let k = Buffer(n * c.kvDim)      // [n, kvDim]
        let v = Buffer(n * c.kvDim)      // [n, kvDim]
        let att = Buffer(n * c.qDim)     // [n, qDim]
        let proj = Buffer(n * c.dim)     // [n, dim]
        let gate = Buffer(n * c.ffnDim)  // [n, ffnDim]
        let up = Buffer(n * c.ffnDim)    // [n, ffnDim]
        defer { [x, xb, q, k, v, att, proj, gate, up].forEach { $0.free() } }

        t = 0
        for seq in batch {
            for tok in seq.tokens {
                weights.embedding.dequantizeRow(Int(tok), into: x.p + t * c.dim)
                t += 1
            }
        }
        scaleEmbeddings(x, n)

        let tables = batch.map { $0.blockTable }
        // Each sequence's tokens as one run for attention, its table in one flat array.
        var runs: [AttentionRun] = [], flatTables: [Int32] = []
        t = 0
        for seq in batch where !seq.tokens.isEmpty {
            runs.append(AttentionRun(row: t, count: seq.tokens.count, startPosition: seq.startPosition, tableOffset: flatTables.count))
            flatTables.append(contentsOf: seq.blockTable)
            t += seq.tokens.count
        }
        // Sliding layers in a local pool read through each sequence's ring, as tables of their own.
        let localTables = cache.localLayers.isEmpty ? []
            : batch.map { $0.tokens.isEmpty ? [] : $0.localTable(blockSize: cache.blockSize, window: c.slidingWindow ?? 0) }
        var localFlat: [Int32] = [], localRuns = runs
        if !localTables.isEmpty {
            var r = 0
            for (s, seq) in batch.enumerated() where !seq.tokens.isEmpty {
                localRuns[r].tableOffset = localFlat.count
                localFlat.append(contentsOf: localTables[s])
                r += 1
            }
        }
        let scale = c.attentionScale
        let lora = LoraGroups(batch)
        // The rows that need logits (in order), one per token of a sequence that wants all.
        var rows: [Int] = [], rowSequence: [Int] = []
        t = 0
        for (si, seq) in batch.enumerated() {
            switch seq.logits {
            case .none: break
            case .last: if !seq.tokens.isEmpty { rows.append(t + seq.tokens.count - 1); rowSequence.append(si) }
            case .all:
                rows.append(contentsOf: t..<(t + seq.tokens.count))
                rowSequence.append(contentsOf: repeatElement(si, count: seq.tokens.count))
            }
            t += seq.tokens.count
        }
        let last = weights.layers.count - 1
        // Each token's rotation angles, once for all layers (and the local layers' own base).
        let sliding = slidingWindow != nil
        let angles = Buffer(n * rope.dimensions), localAngles = Buffer(sliding ? n * localRope.dimensions : 0)
        defer { angles.free(); localAngles.free() }
        for i in 0..<n {
            rope.angles(position: posOf[i], into: angles.p + i * rope.dimensions)
            if sliding { localRope.angles(position: posOf[i], into: localAngles.p + i * localRope.dimensions) }
        }

        for (li, layer) in weights.layers.enumerated() {
            norm(x, layer.attnNorm, into: xb, n)
            // One quantization of xb and one parallel region for q, k and v.
            MatMul.multiply([(layer.wq, q.p), (layer.wk, k.p), (layer.wv, v.p)], xb.p, nTokens: n, pool: pool)
            if !lora.isEmpty {
                applyLora(lora, .q, layer: li, x: xb, y: q)
                applyLora(lora, .k, layer: li, x: xb, y: k)
                applyLora(lora, .v, layer: li, x: xb, y: v)
            }
            addBias(layer.qBias, to: q, n, width: c.qDim)
            addBias(layer.kBias, to: k, n, width: c.kvDim)
            addBias(layer.vBias, to: v, n, width: c.kvDim)
            normHeads(layer.qNorm, q, n, heads: c.heads)
            normHeads(layer.kNorm, k, n, heads: c.kvHeads)

            let window = c.window(layer: li)
            let (rope, turns) = window == nil ? (self.rope, angles) : (localRope, localAngles)
            let local = cache.isLocal(li)
            for i in 0..<n {
                rope.apply(q.p + i * c.qDim, heads: c.heads, headSize: c.headSize, angles: turns.p + i * rope.dimensions)
                rope.apply(k.p + i * c.kvDim, heads: c.kvHeads, headSize: c.headSize, angles: turns.p + i * rope.dimensions)
                let table = local ? localTables[seqOf[i]] : tables[seqOf[i]], pos = posOf[i]
                let block = Int(table[pos / cache.blockSize]), slot = pos % cache.blockSize
                cache.store(layer: li, block: block, slot: slot, key: k.p + i * c.kvDim, value: v.p + i * c.kvDim)
            }

            (local ? localFlat : flatTables).withUnsafeBufferPointer { tp in
                Attention.attend(runs: local ? localRuns : runs, tables: tp.baseAddress!, q: q.p, out: att.p, window: window, storage: cache, layer: li,
                                 nHead: c.heads, nKVHead: c.kvHeads, headSize: c.headSize, scale: scale, pool: pool,
                                 backend: attentionBackend)
            }

            if li < last {
                finishLayer(layer, li, n, att: att, x: x, lora: lora, scratch: (xb, proj, gate, up))
            } else {
                // The last layer's output feeds only the logits: its rows that need none (a prompt's
                // tokens but its last) stop after attention (their keys and values are stored). The
                // others move to the front, in order (a row's values do not depend on the others).
                for (j, r) in rows.enumerated() where j != r {
                    (att.p + j * c.qDim).update(from: att.p + r * c.qDim, count: c.qDim)
                    (x.p + j * c.dim).update(from: x.p + r * c.dim, count: c.dim)
                }
                let kept = rows.count == n ? lora : lora.restricted(to: rows)
                finishLayer(layer, li, rows.count, att: att, x: x, lora: kept, scratch: (xb, proj, gate, up))
            }
        }

        guard !rows.isEmpty else { logits.removeAll(keepingCapacity: true); return }
        let h = Buffer(rows.count * c.dim)  // [rows, dim]
        defer { h.free() }
        for j in rows.indices {  // the last layer left the rows with logits at the front
            VectorOps.rmsNorm(x.p + j * c.dim, weights.outputNorm, h.p + j * c.dim, c.dim, eps: c.rmsEps)
        }
        // [rows, vocab]; every element is written below.
        if logits.count != rows.count * c.vocabSize {
            logits.removeAll(keepingCapacity: true)
            logits.append(contentsOf: repeatElement(0, count: rows.count * c.vocabSize))
        }
        logits.withUnsafeMutableBufferPointer { out in
            guard let op = out.baseAddress else { return }
            // A draft's Q4_0 rows: 8-bit activations, the proposals' precision is enough.
            if let head = weights.shrunkOutput, head.rows >= logitRows {
                shrunkLogits(head, batch, rowSequence: rowSequence, h: h, out: op)
                return
            }
            // Float activations here: 8-bit ones would cost ~1% perplexity on the logits alone.
            guard logitRows < c.vocabSize else {
                MatMul.multiplyUnquantizedActivations(weights.output, h.p, nTokens: rows.count, op, pool: pool)
                return
            }
            // The first rows of the matrix (a tile prefix of a packed copy), then each row spread out.
            // Parts of the vocabulary take the finer logits pass on every row (`allRows`): each
            // row then has the whole matrix's value, whatever the part and the batch's other rows.
            let n = partRows(batch, rowSequence: rowSequence)
            let head = weights.output.prefix(rows: n)
            let part = Buffer(rows.count * n)
            defer { part.free() }
            MatMul.multiplyUnquantizedActivations(head, h.p, nTokens: rows.count, part.p, pool: pool, allRows: true)
            spread(part, n, batch, rowSequence: rowSequence, out: op)
            scoreAlso(batch, rowSequence: rowSequence, h: h, out: op)
        }
        softcap(&logits)
    }

    /// The logits from the output's first `logitRows` rows in Q4_0 (`ModelWeights.Shrink`), and
    /// from the file's rows for the tokens past them that a sequence scores (a draft's logits mix
    /// both precisions there: only its proposals depend on them, and the target verifies those).
    private func shrunkLogits(_ head: WeightMatrix, _ batch: [BatchSequence], rowSequence: [Int], h: Buffer,
                              out op: UnsafeMutablePointer<Float>) {
        let n = partRows(batch, rowSequence: rowSequence), rows = rowSequence.count
        let view = head.prefix(rows: n)
        let part = Buffer(rows * n)
        defer { part.free() }
        MatMul.multiply(view, h.p, nTokens: rows, part.p, pool: pool)
        spread(part, n, batch, rowSequence: rowSequence, out: op)
        scoreAlso(batch, rowSequence: rowSequence, h: h, out: op)
    }

    /// The first tokens a sequence's logits score: `logitRows`, or its fewer `scoredRows` where
    /// the model scores part of its vocabulary (as `BatchSequence.scoredRows` says; never an
    /// empty part).
    private func scoredRows(_ seq: BatchSequence) -> Int {
        guard !seq.scoresWholeVocabulary, logitRows < config.vocabSize, let r = seq.scoredRows else { return logitRows }
        return max(1, min(r, logitRows))
    }

    /// Rows of the output's first part a batch needs: the most any of its rows scores, in whole
    /// tiles of 16 (a packed copy's prefix; each row's value is the same whatever the count).
    private func partRows(_ batch: [BatchSequence], rowSequence: [Int]) -> Int {
        let most = Set(rowSequence).map { scoredRows(batch[$0]) }.max() ?? logitRows
        return most >= logitRows ? logitRows : min(logitRows, (most + 15) / 16 * 16)
    }

    /// Each row's first scored logits from `part` ([rows, n]), -infinity past them.
    private func spread(_ part: Buffer, _ n: Int, _ batch: [BatchSequence], rowSequence: [Int], out op: UnsafeMutablePointer<Float>) {
        let v = config.vocabSize
        for (j, si) in rowSequence.enumerated() {
            let k = scoredRows(batch[si])
            (op + j * v).update(from: part.p + j * n, count: k)
            (op + j * v + k).update(repeating: -.infinity, count: v - k)
        }
    }

    /// The logits of each sequence's `alsoScored` tokens past the first it scores: their rows of
    /// the output matrix copied side by side (one matmul for the batch's union), each sequence's
    /// row given only its own tokens, so what it scores never depends on the batch. Rows of
    /// sequences that score the whole vocabulary get the rest of the matrix too (from the packed
    /// copy's tile n / 16 on for a K-quant matrix; Q2_K and Q3_K have no kernel without it).
    private func scoreAlso(_ batch: [BatchSequence], rowSequence: [Int], h: Buffer, out op: UnsafeMutablePointer<Float>) {
        let c = config, w = weights.output, n = logitRows, v = c.vocabSize
        let whole = rowSequence.indices.filter { batch[rowSequence[$0]].scoresWholeVocabulary }
        if !whole.isEmpty && n < v {
            let tail = w.suffix(fromRow: n)
            let hw = Buffer(whole.count * c.dim), part = Buffer(whole.count * (v - n))
            defer { hw.free(); part.free() }
            for (k, j) in whole.enumerated() { (hw.p + k * c.dim).update(from: h.p + j * c.dim, count: c.dim) }
            MatMul.multiplyUnquantizedActivations(tail, hw.p, nTokens: whole.count, part.p, pool: pool, allRows: true)
            for (k, j) in whole.enumerated() { (op + j * v + n).update(from: part.p + k * (v - n), count: v - n) }
        }
        var union = Set<Int32>()
        for si in Set(rowSequence) where !batch[si].scoresWholeVocabulary {
            let k = scoredRows(batch[si])
            for id in batch[si].alsoScored where Int(id) >= k && Int(id) < v { union.insert(id) }
        }
        guard !union.isEmpty, w.rowBytes > 0 else { return }
        let ids = union.sorted()
        var column = [Int32: Int](minimumCapacity: ids.count)
        let gathered = UnsafeMutableRawPointer.allocate(byteCount: ids.count * w.rowBytes, alignment: 64)
        defer { gathered.deallocate() }
        for (k, id) in ids.enumerated() {
            column[id] = k
            w.copyRow(Int(id), into: gathered + k * w.rowBytes)  // from a packed copy where there is one
        }
        let sub = WeightMatrix(type: w.type, data: UnsafeRawPointer(gathered), rows: ids.count, cols: w.cols)
        let part = Buffer(rowSequence.count * ids.count)
        defer { part.free() }
        MatMul.multiplyUnquantizedActivations(sub, h.p, nTokens: rowSequence.count, part.p, pool: pool, allRows: true)
        for (j, si) in rowSequence.enumerated() where !batch[si].scoresWholeVocabulary {
            let k = scoredRows(batch[si])
            for id in batch[si].alsoScored where Int(id) >= k && Int(id) < v {
                op[j * v + Int(id)] = part.p[j * ids.count + column[id]!]
            }
        }
    }

    /// Layer `li` after attention, over the first `n` rows of `att` and `x`: the output
    /// projection into the residual stream, then the feed-forward block.
    private func finishLayer(_ layer: ModelWeights.Layer, _ li: Int, _ n: Int, att: Buffer, x: Buffer, lora: LoraGroups,
                             scratch: (xb: Buffer, proj: Buffer, gate: Buffer, up: Buffer)) {
        guard n > 0 else { return }
        let c = config, (xb, proj, gate, up) = scratch
        MatMul.multiply(layer.wo, att.p, nTokens: n, proj.p, pool: pool)
        if !lora.isEmpty { applyLora(lora, .o, layer: li, x: att, y: proj) }
        postNorm(layer.postAttnNorm, proj, n)
        VectorOps.add(proj.p, into: x.p, n * c.dim)

        norm(x, layer.ffnNorm, into: xb, n)
        MatMul.multiply([(layer.wGate, gate.p), (layer.wUp, up.p)], xb.p, nTokens: n, pool: pool)
        if !lora.isEmpty {
            applyLora(lora, .gate, layer: li, x: xb, y: gate)
            applyLora(lora, .up, layer: li, x: xb, y: up)
        }
        let ffn = c.ffnDim, activation = c.family.activation
        pool.parallelFor(n) { range in  // the exponentials are a few percent of a step: both cores
            activation.apply(gate.p + range.lowerBound * ffn, up.p + range.lowerBound * ffn, range.count * ffn)
        }
        MatMul.multiply(layer.wDown, gate.p, nTokens: n, proj.p, pool: pool)
        if !lora.isEmpty { applyLora(lora, .down, layer: li, x: gate, y: proj) }
        postNorm(layer.postFFNNorm, proj, n)
        VectorOps.add(proj.p, into: x.p, n * c.dim)
    }

    private func norm(_ x: Buffer, _ w: [Float], into out: Buffer, _ n: Int) {
        let dim = config.dim, eps = config.rmsEps
        w.withUnsafeBufferPointer { wp in
            for i in 0..<n { VectorOps.rmsNorm(x.p + i * dim, wp.baseAddress!, out.p + i * dim, dim, eps: eps) }
        }
    }
}

/// A scratch float buffer freed explicitly at the end of a forward pass.
struct Buffer {
    let p: UnsafeMutablePointer<Float>
    init(_ count: Int) { p = .allocate(capacity: max(count, 1)) }
    func free() { p.deallocate() }
}
