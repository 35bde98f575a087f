import Foundation
import Kernels
import Model

/// The only owner of inference state. Callers send messages (submit, abort);
/// one dedicated thread runs steps: schedule under a token budget, one forward
/// pass for every scheduled sequence, sample, and hand tokens to the sinks.
public final class Engine: @unchecked Sendable {
    public let configuration: EngineConfiguration
    let model: BatchModel
    let endOfGeneration: Set<Int32>
    let cache: KVCacheStorage
    let blocks: BlockManager

    // Shared with callers, under `lock`.
    private let lock = NSCondition()
    private var inbox: [Message] = []
    private var ids: Set<String> = []
    private var stopping = false
    private var published = EngineStats()
    private var thread: Thread?

    // Engine thread only.
    var waiting: [Sequence] = []
    var running: [Sequence] = []
    var stats = EngineStats()
    var pace = StepPace()
    private var arrivals = 0

    /// Set before `start()`; called on the engine thread.
    public var observer: EngineObserver?

    enum Message {
        case submit(GenerationRequest, GenerationSink, UInt64)
        case abort(String)
    }

    /// Longest sequence (prompt plus output) a request may have.
    public let contextLength: Int

    public init(model: BatchModel, endOfGeneration: Set<Int32>, configuration: EngineConfiguration = .init(),
                contextLength: Int? = nil) {
        self.model = model
        self.contextLength = min(contextLength ?? model.contextLength, model.contextLength)
        self.endOfGeneration = endOfGeneration
        self.configuration = configuration
        cache = model.makeCacheStorage(tokens: configuration.blockCount * configuration.blockSize,
                                       blockSize: configuration.blockSize, type: configuration.cacheType)
        blocks = BlockManager(blockSize: configuration.blockSize, blockCount: configuration.blockCount,
                              prefixCaching: configuration.prefixCaching)
        stats.totalBlocks = configuration.blockCount
        published = stats
    }

    /// Tokens the cache can hold in all.
    public var cacheCapacity: Int { configuration.blockCount * configuration.blockSize }

    /// Bytes the KV cache takes, and how it stores keys and values.
    public var cacheDescription: String { "\(cache.type.rawValue), \(cache.bytes >> 20) MiB" }

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

    /// Checks a request and queues it; events then reach `sink` on the engine thread.
    public func submit(_ request: GenerationRequest, sink: @escaping GenerationSink) throws {
        let p = request.promptTokens.count
        guard p > 0 else { throw SubmissionError.emptyPrompt }
        if let bad = request.promptTokens.first(where: { $0 < 0 || Int($0) >= model.vocabSize }) {
            throw SubmissionError.invalidToken(bad)
        }
        let maxTokens = max(request.maxTokens, 0)
        guard p + maxTokens <= contextLength else {
            throw SubmissionError.contextExceeded(prompt: p, maxTokens: maxTokens, context: contextLength)
        }
        // A sequence that could not fit even alone would be preempted forever.
        guard p + maxTokens <= cacheCapacity else {
            throw SubmissionError.cacheTooSmall(needed: p + maxTokens, capacity: cacheCapacity)
        }
        lock.lock()
        defer { lock.unlock() }
        guard !stopping else { throw SubmissionError.shuttingDown }
        guard published.waiting + inbox.count < configuration.maxWaiting else {
            throw SubmissionError.queueFull(configuration.maxWaiting)
        }
        guard ids.insert(request.id).inserted else { throw SubmissionError.duplicateID(request.id) }
        inbox.append(.submit(request, sink, DispatchTime.now().uptimeNanoseconds))
        lock.signal()
    }

    /// Stops a request; its blocks are free at the next step. Unknown ids are ignored.
    public func abort(_ id: String) {
        lock.lock()
        inbox.append(.abort(id))
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
        while true {
            lock.lock()
            while inbox.isEmpty && waiting.isEmpty && running.isEmpty && !stopping { lock.wait() }
            let messages = inbox
            inbox.removeAll()
            let stop = stopping
            lock.unlock()

            for m in messages { handle(m) }
            if stop {
                for s in running + waiting { finish(s, .aborted) }
                publish()
                lock.lock()
                published.loopAlive = false
                lock.unlock()
                return
            }
            if !running.isEmpty || !waiting.isEmpty { step() }
            publish()
        }
    }

    private func handle(_ m: Message) {
        switch m {
        case let .submit(r, sink, at):
            arrivals += 1
            let s = Sequence(request: r, sink: sink, arrival: arrivals)
            s.submittedAt = at
            waiting.append(s)
        case let .abort(id):
            if let s = running.first(where: { $0.id == id }) ?? waiting.first(where: { $0.id == id }) {
                finish(s, .aborted)
            }
        }
    }

    private func publish() {
        stats.running = running.count
        stats.waiting = waiting.count
        stats.usedBlocks = blocks.usedCount
        lock.lock()
        let alive = published.loopAlive
        published = stats
        published.loopAlive = alive
        lock.unlock()
    }

    /// Ends a sequence: frees its blocks, removes it, tells its sink.
    func finish(_ s: Sequence, _ reason: FinishReason) {
        blocks.releaseAll(s.blocks)
        s.blocks = []
        running.removeAll { $0 === s }
        waiting.removeAll { $0 === s }
        lock.lock()
        ids.remove(s.id)
        lock.unlock()
        // Publish before telling the caller, so a client that reads the stats right
        // after its response sees its own request gone and its step counted.
        publish()
        s.sink(.finished(reason, promptTokens: s.promptCount, completionTokens: s.generated, cachedTokens: s.cachedTokens))
    }
}
