import ArgumentParser
import Foundation
import Model

struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Perplexity of a text, and KL divergence against a base model, as llama-perplexity measures them.",
        discussion: """
            Without -c: ppl = exp(mean over i ≥ 1 of −log p(token_i | tokens before i)), the file as one sequence.

            With -c N: llama-perplexity's chunks of N tokens, each from an empty cache, the second half scored. \
            --kl-divergence-base FILE (without --kl-divergence) also saves the scored distributions in \
            llama-perplexity's format.

            --kl-divergence compares this model with such a file, written by Jeton or by llama.cpp, and prints \
            llama-perplexity's statistics (perplexities, mean, maximum and percentile KLD, Δp, same top p).
            """)

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var loraOptions: LoraOptions
    @Option(name: [.customShort("f"), .long],
            help: "Text file to score, as llama-perplexity -f. With --kl-divergence it may be left out; given, its tokens must be the base file's.")
    var file: String?
    @Option(name: [.customShort("c"), .customLong("ctx-size")], parsing: .unconditional,
            help: "Tokens per chunk, as llama-perplexity -c (default: the whole file as one sequence; 512 when saving a base).")
    var ctxSize: Int?
    @Option(parsing: .unconditional, help: "Evaluate at most this many chunks (llama-perplexity --chunks).")
    var chunks: Int?
    @Option(name: .customLong("kl-divergence-base"),
            help: "File of the base model's log-probabilities: written by this run, or read with --kl-divergence.")
    var klDivergenceBase: String?
    @Flag(name: .customLong("kl-divergence"), help: "Compare this model with the distributions in --kl-divergence-base.")
    var klDivergence = false

    struct Failure: Error, CustomStringConvertible { let description: String }

    func validate() throws {
        if klDivergence {
            guard klDivergenceBase != nil else {
                throw ValidationError("--kl-divergence needs --kl-divergence-base FILE, the base model's saved log-probabilities")
            }
        } else {
            guard file != nil else { throw ValidationError("give --file, the text to score") }
        }
        if let c = ctxSize, c < PerplexityChunks.minimumContext {
            throw ValidationError("-c must be at least \(PerplexityChunks.minimumContext) tokens")
        }
        if let n = chunks, n < 1 { throw ValidationError("--chunks must be at least 1") }
        if chunks != nil && ctxSize == nil && klDivergenceBase == nil {
            throw ValidationError("--chunks counts chunks of -c tokens: give -c too")
        }
    }

    func run() throws {
        let loaded = try modelOptions.load()
        if klDivergence {
            try compare(loaded, base: klDivergenceBase!)
        } else if ctxSize != nil || klDivergenceBase != nil {
            try chunked(loaded, nCtx: ctxSize ?? 512, saveTo: klDivergenceBase)
        } else {
            try whole(loaded)
        }
    }

    /// The whole file as one sequence (the command's behaviour before chunks).
    private func whole(_ loaded: LoadedModel) throws {
        let ids = loaded.tokenizer.encode(bytes: try readFile(file!), addSpecial: true, parseSpecial: true)
        // Run-time failures (exit 1), not usage errors: a ValidationError from run() printed the
        // root command's usage.
        guard ids.count >= 2 else { throw Failure(description: "\(file!) must give at least two tokens, it gives \(ids.count)") }
        guard ids.count <= loaded.config.contextLength else {
            throw Failure(description: "\(file!) gives \(ids.count) tokens, more than the context of \(loaded.config.contextLength) (score it in chunks with -c N)")
        }
        let gen = Generator(loaded, capacity: ids.count, cacheType: modelOptions.cacheType)
        gen.adapters = try loraOptions.selections(for: loaded)
        let (ppl, nll) = try gen.perplexity(ids)
        note("scored \(nll.count) tokens")
        print("ppl: \(ppl)")
    }

    private func checkContext(_ nCtx: Int, _ loaded: LoadedModel) throws {
        guard nCtx <= loaded.config.contextLength else {
            throw Failure(description: "chunks of \(nCtx) tokens exceed the model's context of \(loaded.config.contextLength)")
        }
    }

    /// llama-perplexity's chunked perplexity; with `saveTo`, its base file as well.
    private func chunked(_ loaded: LoadedModel, nCtx: Int, saveTo path: String?) throws {
        try checkContext(nCtx, loaded)
        let ids = PerplexityChunks.tokenize(try readFile(file!), with: loaded)
        guard ids.count >= 2 * nCtx else {
            throw Failure(description: "\(file!) gives \(ids.count) tokens; chunks of \(nCtx) need at least \(2 * nCtx), as llama-perplexity asks")
        }
        let plan = PerplexityChunks(tokens: ids, nCtx: nCtx, count: min(ids.count / nCtx, chunks ?? .max),
                                    bos: PerplexityChunks.bos(of: loaded))
        let vocab = loaded.config.vocabSize
        let out = path.map { _ in
            LogitsFile(nCtx: nCtx, nVocab: vocab, nChunk: plan.count, tokens: Array(ids[..<(plan.count * nCtx)]))
        }
        let handle = try path.flatMap { try out?.create($0) }
        var finished = false
        defer {
            try? handle?.close()
            // A half-written base would be refused later as truncated: better not to leave one.
            if !finished, let path { try? FileManager.default.removeItem(atPath: path) }
        }
        if let path { note("saving the scored log-probabilities to \(path)") }
        note("\(ids.count) tokens, \(plan.count) chunks of \(nCtx), \(plan.scoredPerChunk) scored in each")

        let gen = Generator(loaded, capacity: nCtx, cacheType: modelOptions.cacheType)
        gen.adapters = try loraOptions.selections(for: loaded)
        var sum = 0.0, sum2 = 0.0, count = 0
        for c in 0..<plan.count {
            let logits = try plan.logits(c, generator: gen)  // [scored, vocab]
            let targets = Array(plan.targets(c))
            let nll: [Float]
            if let out, let handle {
                let len = out.rowLength
                var rows = [UInt16](repeating: 0, count: targets.count * len)  // [scored, rowLength]
                nll = rows.withUnsafeMutableBufferPointer { r in
                    let base = r.baseAddress!
                    return Self.mapRows(logits, vocab: vocab, rows: targets.count) { i, row in
                        LogProbRow.encode(row, target: Int(targets[i]), into: UnsafeMutableBufferPointer(start: base + i * len, count: len))
                    }
                }
                try out.append(rows, to: handle)
            } else {
                nll = Self.mapRows(logits, vocab: vocab, rows: targets.count) { i, row in
                    LogProbRow.Softmax(row).nll(row, Int(targets[i]))
                }
            }
            for v in nll { sum += Double(v); sum2 += Double(v) * Double(v) }
            count += nll.count
            // The running perplexity after each chunk, on one line as llama-perplexity prints it.
            FileHandle.standardError.write(Data(String(format: "[%ld]%.4f,", c + 1, exp(sum / Double(count))).utf8))
        }
        note("")
        finished = true
        let mean = sum / Double(count), ppl = exp(mean)
        let variance = sum2 / Double(count) - mean * mean
        let sd = variance > 0 ? (variance / Double(count - 1)).squareRoot() : 0
        print(String(format: "Final estimate: PPL = %.4f +/- %.5f", ppl, sd * ppl))
        print("ppl: \(ppl)")
    }

    /// `--kl-divergence`: this model against the base file's distributions, chunk for chunk.
    private func compare(_ loaded: LoadedModel, base path: String) throws {
        let (base, handle) = try LogitsFile.open(path)
        defer { try? handle.close() }
        try KLDivergenceCheck(base: base, path: path, loaded: loaded, model: modelOptions.model,
                              ctxSize: ctxSize, textFile: file).run()
        try checkContext(base.nCtx, loaded)
        let nChunk = min(base.nChunk, chunks ?? .max)
        let plan = PerplexityChunks(tokens: base.tokens, nCtx: base.nCtx, count: nChunk, bos: PerplexityChunks.bos(of: loaded))
        note("\(path): \(base.nChunk) chunks of \(base.nCtx) tokens, \(plan.scoredPerChunk) scored in each")

        let vocab = base.nVocab, len = base.rowLength
        let gen = Generator(loaded, capacity: base.nCtx, cacheType: modelOptions.cacheType)
        gen.adapters = try loraOptions.selections(for: loaded)
        var report = KLDivergenceReport()
        print(KLDivergenceReport.tableHeader)
        for c in 0..<plan.count {
            let logits = try plan.logits(c, generator: gen)  // [scored, vocab]
            let rows = try base.readChunk(handle)            // [scored, rowLength]
            let targets = Array(plan.targets(c))
            let results = rows.withUnsafeBufferPointer { r in
                let base = r.baseAddress!
                return Self.mapRows(logits, vocab: vocab, rows: targets.count) { i, row in
                    LogProbRow.compare(row, base: UnsafeBufferPointer(start: base + i * len, count: len), target: Int(targets[i]))
                }
            }
            for r in results { report.add(r) }  // in position order, so the sums do not depend on threads
            print(report.chunkLine(c + 1))
        }
        print("")
        for line in report.summary() { print(line) }
    }

    /// [body(i, logits of row i) for i in 0..<rows], rows of `logits` ([rows, vocab]) spread over all cores.
    private static func mapRows<T>(_ logits: [Float], vocab: Int, rows: Int,
                                   _ body: (Int, UnsafeBufferPointer<Float>) -> T) -> [T] {
        [T](unsafeUninitializedCapacity: rows) { buf, initialized in
            // Each iteration initializes its own element and reads its own row.
            nonisolated(unsafe) let out = buf.baseAddress!
            nonisolated(unsafe) let body = body
            logits.withUnsafeBufferPointer { lp in
                nonisolated(unsafe) let lp = lp
                DispatchQueue.concurrentPerform(iterations: rows) { i in
                    (out + i).initialize(to: body(i, UnsafeBufferPointer(rebasing: lp[(i * vocab)..<((i + 1) * vocab)])))
                }
            }
            initialized = rows
        }
    }
}
