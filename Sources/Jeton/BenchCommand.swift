import ArgumentParser
import Foundation
import Kernels
import Model

/// Measures as llama-bench does: `pp` evaluates a prompt of p tokens in one
/// batch on an empty cache; `tg` generates n tokens one at a time from an empty
/// cache. Each is repeated and the mean rate printed.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench", abstract: "Prompt-processing and generation speed, as llama-bench measures them.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(name: .short, parsing: .unconditional, help: "Prompt tokens.") var p: Int = 512
    @Option(name: .short, parsing: .unconditional, help: "Generated tokens.") var n: Int = 128
    @Option(name: .short, parsing: .unconditional, help: "Repetitions.") var r: Int = 3
    @Option(name: .long, parsing: .unconditional, help: "Run N sequences together (as llama-batched-bench -npl N): aggregate pp and tg rates (needs -p of at least 1).")
    var parallel: Int = 0
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Prompt tokens a forward pass takes at most (llama-bench's -ub): smaller, as the server cuts a long prompt beside streaming requests.",
        valueName: "n"))
    var ubatch: Int = 512

    func validate() throws {
        guard r >= 1 else { throw ValidationError("-r must be at least 1 (repetitions).") }
        guard p >= 0, n >= 0, parallel >= 0 else { throw ValidationError("-p, -n and --parallel cannot be negative.") }
        // Far past any model's context (the token arrays and their sums stay small numbers).
        guard p <= 1 << 20, n <= 1 << 20 else { throw ValidationError("-p and -n must be at most 1048576.") }
        guard p > 0 || n > 0 else { throw ValidationError("-p and -n are both 0: nothing to measure.") }
        guard ubatch >= 1 else { throw ValidationError("--ubatch must be at least 1, got \(ubatch).") }
        // Each of the sequences starts from its own prompt, as in llama-batched-bench.
        guard parallel == 0 || p > 0 else { throw ValidationError("--parallel needs -p of at least 1 (each sequence's prompt).") }
        // As engine.max_sequences; the KV cache's size is checked once the model's shape is known.
        guard parallel <= 4096 else { throw ValidationError("--parallel must be at most 4096, got \(parallel).") }
    }

    func run() throws {
        let loaded = try modelOptions.load()
        note("memory after load: \(rssReport(loaded, cacheBytes: 0))")
        if parallel > 0 { return try runParallel(loaded) }
        try checkCacheFits(loaded, sequences: 1, tokens: max(p, 16) + max(n, 1))
        let v = Int32(loaded.config.vocabSize)
        var rng = RandomSource(seed: 42)
        let prompt = (0..<p).map { _ in Int32(rng.next() % UInt64(v)) }
        let gen = Generator(loaded, capacity: max(p, 16) + max(n, 1), chunkSize: ubatch, cacheType: modelOptions.cacheType)
        // Warm up as llama-bench does, the prompt once and one token more (the single-token path);
        // with -p 0 (no prompt) a 16-token batch still pages the weights in.
        _ = try gen.evaluate(p > 0 ? prompt : (0..<16).map { _ in Int32(rng.next() % UInt64(v)) })
        if n > 0 { _ = try gen.evaluate([prompt.first ?? 1]) }
        if p > 0 {
            var rates: [Double] = []
            for _ in 0..<r {
                gen.reset()
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = try gen.evaluate(prompt)
                rates.append(Double(p) / seconds(since: t0))
            }
            report("pp\(p)", rates)
            // Prompts are compute-bound: their ceiling is the multiply-add rate of the instruction
            // that does most of the layer matrices' work (int8 for quantized weights, float FMA for
            // F16/BF16/F32 ones) over the layer matrices' multiply-adds per token.
            let weights = loaded.model.weights
            let float = weights.mostlyFloat
            if let peak = float ? ArithmeticPeak.floatMACsPerSecond(pool: loaded.model.pool)
                                : ArithmeticPeak.int8MACsPerSecond(pool: loaded.model.pool) {
                let macs = Double(weights.layerMACsPerToken)
                let mean = rates.reduce(0, +) / Double(rates.count)
                print(String(format: "%@ peak %.0f GMAC/s (%d threads), %.2f GMAC per prompt token: limit %.0f t/s, pp%d at %.0f%%",
                             float ? "f32" : "int8", peak / 1e9, loaded.model.pool.threads, macs / 1e9, peak / macs, p,
                             100 * mean * macs / peak))
                // Where AMX tiles serve the Q4_K prompt matrices, theirs is the machine's ceiling
                // (a model with no Q4_K matrix never uses them).
                if !float, weights.layerMACsPerToken(of: [.q4_K]) > 0,
                   let tiles = ArithmeticPeak.int8MACsPerSecond(pool: loaded.model.pool, tiles: true) {
                    print(String(format: "amx int8 peak %.0f GMAC/s (%d threads): limit %.0f t/s, pp%d at %.0f%%",
                                 tiles / 1e9, loaded.model.pool.threads, tiles / macs, p, 100 * mean * macs / tiles))
                }
            }
        }
        if n > 0 {
            var rates: [Double] = []
            // Generation reads every weight but the token embedding once per token: its ceiling
            // is the machine's read bandwidth over those bytes, probed right after each run.
            let probes = try ReadBandwidth.beside(pool: loaded.model.pool, runs: r) { _ in
                gen.reset()
                var tok = prompt.first ?? 1
                let t0 = DispatchTime.now().uptimeNanoseconds
                for _ in 0..<n {
                    let logits = try gen.evaluate([tok])
                    tok = Int32(logits.indices.max { logits[$0] < logits[$1] } ?? 0)
                }
                rates.append(Double(n) / seconds(since: t0))
            }
            report("tg\(n)", rates)
            let perToken = Double(loaded.model.weights.bytesReadPerToken)
            // Each run's share of its own probe; the median of runs and of probes.
            let shares = zip(rates, probes).map { $0 * perToken / $1 }
            let bw = Self.median(probes), share = Self.median(shares)
            print(String(format: "bandwidth %.1f GB/s (%d threads), %.0f MB read per token: limit %.1f t/s, tg%d at %.0f%%",
                         bw / 1e9, loaded.model.pool.threads, perToken / 1e6, bw / perToken, n, 100 * share))
            note("tg\(n) against the probe after each run: " + zip(rates, probes).map {
                String(format: "%.1f t/s at %.1f GB/s (%.0f%%)", $0, $1 / 1e9, 100 * $0 * perToken / $1)
            }.joined(separator: ", "))
        }
        memoryAfterRun(loaded, cacheBytes: gen.cacheBytes)
    }

    /// N sequences of p prompt tokens, then n tokens each in lockstep, through one
    /// paged cache; prompts go in forward passes of up to --ubatch tokens (llama-batched-bench's
    /// -ub, 512 by default), generation one forward per step with all N sequences. Prints the
    /// aggregate rates as S_PP and S_TG.
    /// A KV cache larger than the memory the process may use (the machine's, or its cgroup's limit
    /// in a container, as `jeton serve` checks) is refused before it is allocated (it aborted the
    /// process with a trace, or the container's OOM killer ended it).
    private func checkCacheFits(_ loaded: LoadedModel, sequences: Int, tokens: Int) throws {
        let c = loaded.config
        let elementBytes = modelOptions.cacheType == .f32 ? 4 : 2
        let cacheBytes = Double(sequences * tokens) * Double(c.layers * c.kvHeads * (c.headSize + c.valueHeadSize) * elementBytes)
        let budget = MemoryBudget.bytes()
        guard cacheBytes < Double(budget) else {
            let what = parallel > 0 ? String(format: "--parallel %d with -p %d -n %d", parallel, p, n) : String(format: "-p %d -n %d", p, n)
            note(String(format: "error: %@ needs a %.1f GiB KV cache; this process may use %.1f GiB of memory",
                        what, cacheBytes / 1_073_741_824, Double(budget) / 1_073_741_824))
            throw ExitCode.failure
        }
    }

    private func runParallel(_ loaded: LoadedModel) throws {
        let model = loaded.model
        let blockSize = 16
        let perSeq = (p + n + blockSize - 1) / blockSize  // blocks per sequence
        // Sliding-window layers keep a ring of blocks per sequence, as the engine does.
        let ring = model.slidingWindow.map { min(KVCacheStorage.ringBlocks(window: $0, maxChunk: p, blockSize: blockSize), perSeq) } ?? 0
        try checkCacheFits(loaded, sequences: parallel, tokens: perSeq * blockSize)
        let cache = model.makeCacheStorage(tokens: parallel * perSeq * blockSize, localTokens: parallel * ring * blockSize,
                                           blockSize: blockSize, type: modelOptions.cacheType)
        let tables = (0..<parallel).map { s in (0..<perSeq).map { Int32(s * perSeq + $0) } }
        let rings = (0..<parallel).map { s in (0..<ring).map { Int32(s * ring + $0) } }
        let v = Int32(loaded.config.vocabSize)
        var rng = RandomSource(seed: 7)
        let prompts = (0..<parallel).map { _ in (0..<p).map { _ in Int32(rng.next() % UInt64(v)) } }
        // Warm up as llama-batched-bench does: one short pass (its cache entries are overwritten).
        let warm = (0..<min(16, max(p, 1))).map { _ in Int32(rng.next() % UInt64(v)) }
        _ = try model.forward([BatchSequence(tokens: warm, startPosition: 0, blockTable: tables[0], localRing: rings[0], logits: .last)],
                              cache: cache)
        var ppRates: [Double] = [], tgRates: [Double] = []
        for _ in 0..<r {
            // Prompt processing: the prompts in order, cut into forward passes of --ubatch tokens (a
            // pass may end one prompt and start the next), as llama.cpp cuts a batch into ubatches.
            var last = [Int32](repeating: 0, count: parallel)
            let t0 = DispatchTime.now().uptimeNanoseconds
            var s = 0, done = 0, passes = 0  // the prompt under way and its tokens already computed
            while s < parallel {
                passes += 1
                var batch: [BatchSequence] = [], tokens = 0, ids: [Int] = []
                while s < parallel && tokens < ubatch {
                    let k = min(p - done, ubatch - tokens), ends = done + k == p
                    batch.append(BatchSequence(tokens: Array(prompts[s][done..<done + k]), startPosition: done, blockTable: tables[s],
                                               localRing: rings[s], logits: ends ? .last : .none))
                    tokens += k
                    if ends { ids.append(s); s += 1; done = 0 } else { done += k }
                }
                let logits = try model.forward(batch, cache: cache)
                for (j, id) in ids.enumerated() { last[id] = argmax(logits, row: j, vocab: Int(v)) }
            }
            ppRates.append(Double(parallel * p) / seconds(since: t0))
            if ppRates.count == 1 { note("prompts: \(parallel * p) tokens in \(passes) forward passes of at most \(ubatch)") }
            // Generation: one forward per step, one token from every sequence.
            let t1 = DispatchTime.now().uptimeNanoseconds
            for step in 0..<n {
                let batch = (0..<parallel).map {
                    BatchSequence(tokens: [last[$0]], startPosition: p + step, blockTable: tables[$0], localRing: rings[$0], logits: .last)
                }
                let logits = try model.forward(batch, cache: cache)
                for i in 0..<parallel { last[i] = argmax(logits, row: i, vocab: Int(v)) }
            }
            tgRates.append(Double(parallel * n) / seconds(since: t1))
        }
        report("pp\(p)x\(parallel)", ppRates)
        if n > 0 { report("tg\(n)x\(parallel)", tgRates) }
        memoryAfterRun(loaded, cacheBytes: cache.bytes)
    }

    private func argmax(_ logits: [Float], row: Int, vocab: Int) -> Int32 {
        var best = row * vocab
        for i in (row * vocab)..<((row + 1) * vocab) where logits[i] > logits[best] { best = i }
        return Int32(best - row * vocab)
    }

    /// Resident memory at the run's end, and once the passes' freed buffers are given back to the
    /// system, as the server does when idle (`HeapTrim`).
    private func memoryAfterRun(_ loaded: LoadedModel, cacheBytes: Int) {
        note("memory at the end of the run: \(rssReport(loaded, cacheBytes: cacheBytes))")
        HeapTrim.releaseFreeMemory()
        note("memory after the run, its freed buffers returned: \(rssReport(loaded, cacheBytes: cacheBytes))")
    }

    /// Resident memory (VmRSS) against model file + KV cache.
    private func rssReport(_ loaded: LoadedModel, cacheBytes: Int) -> String {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let rssKiB = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0
        let fileBytes = (try? FileManager.default.attributesOfItem(atPath: loaded.file.path)[.size] as? Int) ?? 0
        let mib = { (b: Int) in String(format: "%.1f MiB", Double(b) / 1_048_576) }
        return "RSS \(mib(rssKiB * 1024)), model file \(mib(fileBytes)), KV cache \(mib(cacheBytes)), "
            + "RSS - file - cache = \(mib(rssKiB * 1024 - fileBytes - cacheBytes))"
    }

    /// The middle value (the mean of the middle two for an even count).
    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.isEmpty ? 0 : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    private func seconds(since t0: UInt64) -> Double { Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9 }

    private func report(_ name: String, _ rates: [Double]) {
        let mean = rates.reduce(0, +) / Double(rates.count)
        let sd = (rates.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(rates.count - 1, 1))).squareRoot()
        print("\(name) \(String(format: "%.2f", mean))")
        // The best run too: on a shared machine interference only ever slows a run down.
        note("\(name): \(rates.count) runs, sd \(String(format: "%.2f", sd)), best \(String(format: "%.2f", rates.max() ?? 0)) tokens/s")
    }
}
