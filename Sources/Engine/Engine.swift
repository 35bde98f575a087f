import Foundation
import Kernels
import Model
import Grammar

/// The only owner of inference state. Callers send messages (submit, abort);
/// one dedicated thread runs steps: asks the scheduler for a plan, runs one forward
/// pass for every planned request, samples, reports back to the scheduler, and hands
/// token ids to the sinks. Text, JSON and logs are the sinks' business, elsewhere.
// @unchecked Sendable: the `let`s are immutable; the state shared with callers (inbox, ids,
// stopping, published, thread) is only touched under `lock`; everything else (scheduler, stats,
// the rows, the caches' contents) in init, then only on the engine thread (tests set
// `keysSeededDraws` before `start()`, whose Thread.start publishes it).
public final class Engine: @unchecked Sendable {
    public let configuration: EngineConfiguration
    let model: BatchModel
    let endOfGeneration: Set<Int32>
    let cache: KVCacheStorage
    /// Draft-model speculation: the smaller model and its own cache, addressed by the same block
    /// tables as the target's (same block count and size), so both roll back together.
    let draft: BatchModel?
    let draftCache: KVCacheStorage?

    // Shared with callers, under `lock`.
    private let lock = NSCondition()
    private var inbox: [Message] = []
    private var ids: Set<String> = []
    private var stopping = false
    private var published = EngineStats()
    private var thread: Thread?

    // Engine thread only.
    var scheduler: Scheduler
    var stats = EngineStats()
    private var arrivals = 0
    /// The last step's logits array, reused by the next (`step`) while it holds at most
    /// `keptLogitsBytes` (16 sequences of a 152K vocabulary take 9.7 MB).
    var stepLogits: [Float] = []
    /// The draft model's logits, kept across its passes likewise (speculative decoding).
    var draftLogits: [Float] = []
    static let keptLogitsBytes = 32 << 20
    /// A copy of one logits row, for log-probabilities of the model's distribution (the
    /// sampler changes the row in place); allocated once.
    var rawRow: [Float] = []
    /// A copy of one row as the sampler drew from it, for TokenConfidence; allocated once (argmax
    /// picks are measured in place instead, `sampleMeasuring`).
    var sampledRow: [Float] = []
    /// Draft-model proposals' distributions this step (temperature > 0), per request, one
    /// vocabulary-sized row per proposal: rejection sampling needs them.
    var draftDistributions: [ObjectIdentifier: [[Float]]] = [:]
    /// Seeded draws keyed to (seed, position) (Sampler+Keyed). Tests turn it off to exercise
    /// rejection sampling with reproducible streams.
    var keysSeededDraws = true
    /// Grammar masks computed during this step's forward pass (`startMasks`), taken by the
    /// sequence's first sampled row.
    var readyMasks: [ObjectIdentifier: TokenMask] = [:]

    /// Called on the engine thread.
    public let observer: EngineObserver?

    enum Message {
        case submit(GenerationRequest, GenerationSink, UInt64)
        case abort(String)
        case pause(String), resume(String)
    }

    /// New requests among `messages` (aborts, pauses and resumes are not requests).
    private static func submissions(in messages: [Message]) -> Int {
        messages.reduce(0) { if case .submit = $1 { return $0 + 1 }; return $0 }
    }

    /// Longest sequence (prompt plus output) a request may have.
    public let contextLength: Int

    /// `draft`: a smaller model with the same vocabulary that proposes tokens when
    /// `configuration.speculation.method` is `.draft` (without one, that method is off).
    public init(model: BatchModel, endOfGeneration: Set<Int32>, configuration: EngineConfiguration = .init(),
                contextLength: Int? = nil, draft: BatchModel? = nil, observer: EngineObserver? = nil) {
        precondition(draft.map { $0.vocabSize == model.vocabSize } ?? true, "a draft model shares the target's vocabulary")
        self.model = model
        self.observer = observer
        self.contextLength = min(contextLength ?? model.contextLength, model.contextLength, draft?.contextLength ?? .max)
        self.endOfGeneration = endOfGeneration
        var configuration = configuration
        if configuration.speculation.method == .draft && draft == nil { configuration.speculation.method = .off }
        let useDraft = configuration.speculation.method == .draft ? draft : nil
        self.draft = useDraft
        draftCache = useDraft?.makeCacheStorage(tokens: configuration.blockCount * configuration.blockSize,
                                                blockSize: configuration.blockSize, type: configuration.cacheType)
        self.configuration = configuration
        let window = model.slidingWindow
        scheduler = Scheduler(configuration: configuration, slidingWindow: window)
        if window != nil, let local = scheduler.localBlocks {
            cache = model.makeCacheStorage(tokens: configuration.blockCount * configuration.blockSize,
                                           localTokens: local.blockCount * configuration.blockSize,
                                           blockSize: configuration.blockSize, type: configuration.cacheType)
        } else {
            cache = model.makeCacheStorage(tokens: configuration.blockCount * configuration.blockSize,
                                           blockSize: configuration.blockSize, type: configuration.cacheType)
        }
        cache.makeResident()
        draftCache?.makeResident()
        stats.totalBlocks = configuration.blockCount
        stats.cacheBytes = cache.bytes + (draftCache?.bytes ?? 0)
        published = stats
        // Worded here, from the scheduler's sizes, since the scheduler is the engine thread's after start().
        // The attention's int16 scores and bf16 or int16 value sums (over an f16 cache) are said too.
        let sums = model.attentionArithmetic(blockSize: configuration.blockSize, f16: cache.type == .f16).map { ", " + $0 }.joined()
        if let local = scheduler.localBlocks {
            let bs = configuration.blockSize
            cacheDescription = "\(cache.type.rawValue), \(cache.bytes >> 20) MiB\(sums); sliding-window layers: "
                + "\(local.blockCount * bs) tokens, \(scheduler.ringBlocks * bs) per sequence"
        } else {
            cacheDescription = "\(cache.type.rawValue), \(cache.bytes >> 20) MiB\(sums)"
        }
    }

    /// Blocks of the pool the sliding-window layers of a model with window `window` get under
    /// `configuration` (the engine's cache holds them beside every global layer's blocks).
    public static func localPoolBlocks(_ configuration: EngineConfiguration, window: Int) -> Int {
        Scheduler.localPool(configuration, window: window).pool
    }

    /// Tokens the cache can hold in all.
    public var cacheCapacity: Int { configuration.blockCount * configuration.blockSize }

    /// Bytes the KV cache takes, and how it stores keys and values.
    public let cacheDescription: String

    public func start() {
        lock.lock()
        defer { lock.unlock() }
        guard thread == nil else { return }
        let t = Thread { [weak self] in self?.loop() }
        t.name = "jeton-engine"
        t.stackSize = 8 << 20
        thread = t
        t.start()
    }

    /// Checks a request and queues it; events then reach `sink` on the engine thread, in
    /// order, between steps. `sink` must be quick and must not block or call back into the
    /// engine synchronously: hop to another queue for real work.
    public func submit(_ request: GenerationRequest, sink: @escaping GenerationSink) throws {
        try submitTogether([(request, sink)])
    }

    /// Queues several requests at once, all or none: the engine thread finds them together,
    /// so they start in the same step (tests rely on it to batch deterministically).
    public func submitTogether(_ items: [(GenerationRequest, GenerationSink)]) throws {
        for (request, _) in items { try check(request) }
        lock.lock()
        defer { lock.unlock() }
        guard !stopping else { throw SubmissionError.shuttingDown }
        // Requests not yet running, beyond the sequences free to start them at the next step: a
        // burst into an idle batch is not a queue (12 at once with 16 free sequences and
        // max_waiting 4 refused 8 of them).
        let free = max(0, configuration.maxSequences - published.running)
        // Only submissions queue: a cancelled stream's aborts (n of them) and a slow reader's
        // pauses counted too, and refused the next request of a client that had just cancelled.
        guard published.waiting + Self.submissions(in: inbox) + items.count <= configuration.maxWaiting + free else {
            throw SubmissionError.queueFull(configuration.maxWaiting)
        }
        var seen = Set<String>()
        for (request, _) in items where ids.contains(request.id) || !seen.insert(request.id).inserted {
            throw SubmissionError.duplicateID(request.id)
        }
        let now = DispatchTime.now().uptimeNanoseconds
        for (request, sink) in items {
            ids.insert(request.id)
            inbox.append(.submit(request, sink, now))
        }
        lock.signal()
    }

    /// What can be checked before queueing: the prompt, and that the request fits at all.
    private func check(_ request: GenerationRequest) throws {
        let p = request.promptTokens.count
        guard p > 0 else { throw SubmissionError.emptyPrompt }
        if let bad = request.promptTokens.first(where: { $0 < 0 || Int($0) >= model.vocabSize }) {
            throw SubmissionError.invalidToken(bad)
        }
        let maxTokens = max(request.maxTokens, 0)
        if let e = SubmissionError.limit(prompt: p, maxTokens: maxTokens, context: contextLength, cache: cacheCapacity) { throw e }
    }

    /// Stops a request; its blocks are free at the next step. Unknown ids are ignored.
    public func abort(_ id: String) { send(.abort(id)) }

    /// Its client reads slowly: the request keeps its blocks but is left out of steps until
    /// `resume`. Unknown ids are ignored (the request may have just finished).
    public func pause(_ id: String) { send(.pause(id)) }

    public func resume(_ id: String) { send(.resume(id)) }

    private func send(_ m: Message) {
        lock.lock()
        inbox.append(m)
        lock.signal()
        lock.unlock()
    }

    public func snapshot() -> EngineStats {
        lock.lock()
        defer { lock.unlock() }
        return published
    }

    /// Aborts everything and ends the engine thread.
    public func shutdown() {
        lock.lock()
        stopping = true
        lock.signal()
        lock.unlock()
    }

    // MARK: - engine thread

    private func loop() {
        var tail = 0.0  // last iteration's publish and delivery, counted as busy in the next
        var stalled = false  // the last plan was empty (every request paused): wait for a message
        var trimDue = false  // a pass ran since the heap was last trimmed
        while true {
            lock.lock()
            while inbox.isEmpty && (scheduler.isIdle || stalled) && !stopping {
                // Idle, however the last request ended (its step, an abort, a stop string): after a
                // quiet while the passes' freed buffers go back to the system. Stalled (every request
                // paused, not idle): a message, no trim.
                if scheduler.isIdle { IdleTrim.wait(on: lock, trimDue: &trimDue) } else { lock.wait() }
            }
            let messages = inbox
            inbox.removeAll()
            // Requests taken now wait in the scheduler, unpublished until after this step: count
            // them as waiting already, so `submit` cannot admit a second `maxWaiting` meanwhile.
            published.waiting += Self.submissions(in: messages)
            let stop = stopping
            lock.unlock()
            let woke = DispatchTime.now().uptimeNanoseconds

            var outputs: [EngineOutput] = []
            for m in messages { handle(m, into: &outputs) }
            if stop {
                for r in scheduler.running + scheduler.waiting { finish(r, .aborted, into: &outputs) }
                publish()
                deliver(outputs)
                lock.lock()
                published.loopAlive = false
                lock.unlock()
                return
            }
            let worked = !scheduler.isIdle
            if worked { HeapTrim.workStarted() }
            stalled = worked && !step(into: &outputs)
            if worked { HeapTrim.workEnded(); trimDue = true }
            let beforePublish = DispatchTime.now().uptimeNanoseconds
            stats.busySeconds += Double(beforePublish &- woke) / 1e9 + tail
            // Publish before telling the callers, so a client that reads the stats right after
            // its response sees its own request gone and its step counted.
            publish()
            deliver(outputs)
            tail = Double(DispatchTime.now().uptimeNanoseconds &- beforePublish) / 1e9
        }
    }

    private func handle(_ m: Message, into outputs: inout [EngineOutput]) {
        switch m {
        case let .submit(r, sink, at):
            arrivals += 1
            let request = Request(request: r, sink: sink, arrival: arrivals)
            request.submittedAt = at
            scheduler.add(request)
        case let .abort(id):
            if let r = scheduler.request(id: id) { finish(r, .aborted, into: &outputs) }
        case let .pause(id):
            if let r = scheduler.request(id: id) { scheduler.pause(r) }
        case let .resume(id):
            if let r = scheduler.request(id: id) { scheduler.resume(r) }
        }
    }

    /// Also called once a step is planned, before its pass: a request admitted by it counts
    /// as running (its blocks as used) while its first prompt chunk computes.
    func publish() {
        stats.running = scheduler.running.count
        stats.waiting = scheduler.waiting.count
        stats.usedBlocks = scheduler.blocks.usedCount
        stats.usedCacheBytes = scheduler.blocks.usedCount * (cache.globalBlockBytes + (draftCache?.globalBlockBytes ?? 0))
            + (scheduler.localBlocks?.usedCount ?? 0) * cache.localBlockBytes
        stats.prefixQueries = scheduler.prefixQueries
        stats.prefixHits = scheduler.prefixHits
        stats.preemptions = scheduler.preemptions
        lock.lock()
        let alive = published.loopAlive
        published = stats
        published.loopAlive = alive
        lock.unlock()
    }

    private func deliver(_ outputs: [EngineOutput]) {
        for o in outputs { o.sink(o.event) }
    }

    /// Ends a request: the scheduler frees its blocks; its sink learns it after the step.
    func finish(_ r: Request, _ reason: FinishReason, into outputs: inout [EngineOutput]) {
        scheduler.finish(r)
        lock.lock()
        ids.remove(r.id)
        lock.unlock()
        outputs.append(EngineOutput(sink: r.sink, event: .finished(reason, promptTokens: r.promptCount,
                                                                    completionTokens: r.generated, cachedTokens: r.cachedTokens,
                                                                    speculation: r.speculation)))
    }
}
