import Kernels
import Tokenizer

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs one sequence at a time with its own contiguous cache: the CLI's
/// generate, perplexity and bench commands, and the tests' oracle for batching.
public final class Generator {
    public let loaded: LoadedModel
    public let capacity: Int
    public let chunkSize: Int
    let cache: KVCacheStorage
    let blockTable: [Int32]
    let localRing: [Int32]
    public private(set) var position = 0
    /// LoRA adapters applied to the sequence (none: the base model).
    public var adapters: [LoraSelection] = []

    /// `boundedWindow`: sliding-window layers keep only a ring of blocks over their window
    /// (false: every position, the unbounded layout, which tests compare it with).
    public init(_ loaded: LoadedModel, capacity: Int? = nil, chunkSize: Int = 512, cacheType: KVCacheType = .f16,
                boundedWindow: Bool = true) {
        self.loaded = loaded
        self.capacity = min(capacity ?? loaded.config.contextLength, loaded.config.contextLength)
        self.chunkSize = max(1, chunkSize)
        let model = loaded.model, bs = 16
        if boundedWindow, let w = model.slidingWindow {
            let ring = min(KVCacheStorage.ringBlocks(window: w, maxChunk: self.chunkSize, blockSize: bs), (self.capacity + bs - 1) / bs)
            cache = model.makeCacheStorage(tokens: self.capacity, localTokens: ring * bs, blockSize: bs, type: cacheType)
            localRing = (0..<ring).map(Int32.init)
        } else {
            cache = model.makeCacheStorage(tokens: self.capacity, blockSize: bs, type: cacheType)
            localRing = []
        }
        blockTable = (0..<cache.blockCount).map(Int32.init)
    }

    /// Bytes of this generator's KV cache (all layers).
    public var cacheBytes: Int { cache.bytes }

    public var vocabSize: Int { loaded.config.vocabSize }

    public func reset() { position = 0 }

    /// Appends tokens to the sequence; returns the logits of the last one
    /// ([vocab]) or of every one ([count, vocab]) when `all` is set.
    public func evaluate(_ tokens: [Int32], all: Bool = false) throws -> [Float] {
        guard position + tokens.count <= capacity else {
            throw ModelError.contextOverflow(needed: position + tokens.count, limit: capacity)
        }
        var out: [Float] = []
        var i = 0
        while i < tokens.count {
            let chunk = Array(tokens[i..<min(tokens.count, i + chunkSize)])
            let last = i + chunk.count == tokens.count
            let seq = BatchSequence(tokens: chunk, startPosition: position, blockTable: blockTable, localRing: localRing,
                                    logits: all ? .all : (last ? .last : .none), adapters: adapters)
            let logits = try loaded.model.forward([seq], cache: cache)
            out.append(contentsOf: logits)
            position += chunk.count
            i += chunk.count
        }
        return out
    }

    /// Generates up to `maxTokens` after `prompt`, stopping at an end-of-generation
    /// token (not returned) or when `onToken` returns false.
    public func generate(prompt: [Int32], maxTokens: Int, sampling: SamplingParameters,
                         ignoreEOS: Bool = false, onToken: (Int32) -> Bool = { _ in true }) throws -> [Int32] {
        reset()
        var sampler = Sampler(sampling, promptTokens: prompt)
        var logits = try evaluate(prompt)
        var out: [Int32] = []
        let stops = loaded.tokenizer.endOfGenerationIDs
        while out.count < maxTokens {
            let tok = logits.withUnsafeMutableBufferPointer { sampler.sample($0) }
            if !ignoreEOS && stops.contains(tok) { break }
            sampler.accept(tok)
            out.append(tok)
            if !onToken(tok) || out.count == maxTokens || position >= capacity { break }
            logits = try evaluate([tok])
        }
        return out
    }

    /// exp(mean over i ≥ 1 of −log p(ids[i] | ids[..<i])), the whole text as one sequence.
    public func perplexity(_ ids: [Int32]) throws -> (ppl: Double, nll: [Double]) {
        reset()
        guard ids.count >= 2 else { return (.nan, []) }
        let v = vocabSize
        var nll: [Double] = []
        var i = 0
        while i < ids.count - 1 {
            let chunk = Array(ids[i..<min(ids.count - 1, i + chunkSize)])
            let logits = try evaluate(chunk, all: true)  // [chunk, vocab]
            logits.withUnsafeBufferPointer { lp in
                for j in 0..<chunk.count {
                    let row = UnsafeBufferPointer(rebasing: lp[(j * v)..<((j + 1) * v)])
                    var m = -Float.infinity
                    for x in row where x > m { m = x }
                    var s = 0.0
                    for x in row { s += exp(Double(x - m)) }
                    let target = Int(ids[i + j + 1])
                    nll.append(-(Double(row[target] - m) - log(s)))
                }
            }
            i += chunk.count
        }
        return (exp(nll.reduce(0, +) / Double(nll.count)), nll)
    }
}
