import API
import Engine
import Foundation
import Kernels
import Model

/// Runs an embedding model for the server on one thread of its own. Each forward pass takes
/// inputs from every waiting request in turn, one at a time, up to a token budget
/// (`engine.max_batch_tokens`; an input longer than it goes alone): many small requests share
/// each pass over the weights, and a request of thousands of inputs cannot hold up a one-line
/// one behind it (it waits one pass, not the whole big request). A budget of a whole context
/// (2,048 tokens) made that wait 1.6-2.7 s here; 512 tokens, 0.4-0.8 s, for 2-5% less
/// throughput. A request whose client has gone is dropped before its next input is computed.
/// Requests beyond `maxWaiting` are refused (429) instead of queued without bound.
final class EmbeddingBatcher: EmbeddingService, @unchecked Sendable {
    /// One request; its inputs go into passes in order, its answer once the last is computed.
    private final class Job {
        let inputs: [[Int32]]
        let cancelled: @Sendable () -> Bool
        let completion: @Sendable (Result<[[Float]], Error>) -> Void
        var handedOut = 0  // inputs given to a pass so far
        var vectors: [[Float]]
        var computed = 0
        var finished = false

        init(inputs: [[Int32]], cancelled: @escaping @Sendable () -> Bool,
             completion: @escaping @Sendable (Result<[[Float]], Error>) -> Void) {
            self.inputs = inputs
            self.cancelled = cancelled
            self.completion = completion
            vectors = Array(repeating: [], count: inputs.count)
        }

        func finish(_ result: Result<[[Float]], Error>) {
            guard !finished else { return }
            finished = true
            completion(result)
        }
    }

    /// The client of an embeddings request went away before its answer.
    struct Cancelled: Error {}

    let model: LoadedEmbeddingModel
    let batchTokens: Int
    let maxWaiting: Int
    let supportsMatryoshka: Bool
    let metrics: EmbeddingMetrics?
    var dimensions: Int { model.config.dim }

    private let condition = NSCondition()
    private var queue: [Job] = []  // requests with inputs not yet handed to a pass, oldest first
    private var stopping = false
    private var ended = false  // the thread has answered everything and returned

    init(model: LoadedEmbeddingModel, batchTokens: Int, maxWaiting: Int, metrics: EmbeddingMetrics? = nil) {
        self.model = model
        self.metrics = metrics
        self.batchTokens = max(batchTokens, 1)
        self.maxWaiting = max(maxWaiting, 1)
        model.batchTokens = self.batchTokens
        // nomic-embed-text-v1.5 was trained with Matryoshka losses (v1 was not); the file has no flag for it.
        supportsMatryoshka = model.config.name.lowercased().contains("nomic-embed-text-v1.5")
        let thread = Thread { [self] in loop() }
        thread.name = "jeton-embed"
        thread.start()
    }

    func embed(_ inputs: [[Int32]], cancelled: @escaping @Sendable () -> Bool,
               completion: @escaping @Sendable (Result<[[Float]], Error>) -> Void) {
        guard !inputs.isEmpty else { return completion(.success([])) }
        condition.lock()
        guard !stopping else {
            condition.unlock()
            completion(.failure(Self.stopped))
            return
        }
        // Waiting: requests not started yet (one whose inputs are being computed is not).
        let waiting = queue.reduce(0) { $0 + ($1.handedOut == 0 ? 1 : 0) }
        guard waiting < maxWaiting else {
            let n = waiting
            condition.unlock()
            completion(.failure(EmbeddingQueueFull(waiting: n)))
            return
        }
        queue.append(Job(inputs: inputs, cancelled: cancelled, completion: completion))
        condition.signal()
        condition.unlock()
    }

    static let stopped = APIError.serverEnded  // as a generation's: one text at a drain's end

    /// Waiting requests currently queued (for draining).
    var waiting: Int { condition.withLock { queue.count } }

    func shutdown() { condition.withLock { stopping = true; condition.signal() } }

    /// After `shutdown`: the pass under way has ended and every request has its answer.
    var hasEnded: Bool { condition.withLock { ended } }

    private func loop() {
        var trimDue = false  // a pass ran since the heap was last trimmed
        while true {
            condition.lock()
            while queue.isEmpty && !stopping {
                // After a quiet while the passes' scratch goes back to the system, as the engine's.
                IdleTrim.wait(on: condition, trimDue: &trimDue)
            }
            if stopping {
                // Past the drain's deadline: what is left gets a 503 (the client retries on
                // another replica) instead of a connection closed on it. A pass under way ends first.
                let left = queue
                queue.removeAll()
                condition.unlock()
                for job in left { job.finish(.failure(Self.stopped)) }
                condition.withLock { ended = true }
                return
            }
            let gone = queue.filter { $0.cancelled() }
            queue.removeAll { job in gone.contains { $0 === job } }
            let batch = takeBatch()
            condition.unlock()
            for job in gone { job.finish(.failure(Cancelled())) }
            if !batch.isEmpty {
                HeapTrim.workStarted()
                run(batch)
                HeapTrim.workEnded()
                trimDue = true
            }
        }
    }

    /// Inputs for one pass, one from each waiting request in turn while the budget lasts (the
    /// first always goes); requests with nothing left to hand out leave the queue. Under the lock.
    private func takeBatch() -> [(job: Job, index: Int)] {
        var batch: [(job: Job, index: Int)] = []
        var tokens = 0
        var took = true
        while took {
            took = false
            for job in queue where job.handedOut < job.inputs.count {
                let cost = job.inputs[job.handedOut].count
                guard batch.isEmpty || tokens + cost <= batchTokens else { continue }
                batch.append((job, job.handedOut))
                job.handedOut += 1
                tokens += cost
                took = true
            }
        }
        queue.removeAll { $0.handedOut == $0.inputs.count }
        return batch
    }

    private func run(_ batch: [(job: Job, index: Int)]) {
        let started = DispatchTime.now().uptimeNanoseconds
        do {
            let vectors = try model.embed(tokens: batch.map { $0.job.inputs[$0.index] })
            let tokens = batch.reduce(0) { $0 + $1.job.inputs[$1.index].count }
            metrics?.batch(inputs: vectors.count, tokens: tokens,
                           seconds: Double(DispatchTime.now().uptimeNanoseconds &- started) / 1e9)
            for (k, item) in batch.enumerated() { store(vectors[k], item) }
        } catch {
            // One bad input must not fail the requests it was batched with: each alone.
            guard batch.count > 1 else { return fail(batch[0].job, error) }
            for item in batch where !item.job.finished {
                do { store(try model.embed(tokens: [item.job.inputs[item.index]])[0], item) } catch { fail(item.job, error) }
            }
        }
    }

    private func store(_ vector: [Float], _ item: (job: Job, index: Int)) {
        let job = item.job
        guard !job.finished else { return }
        job.vectors[item.index] = vector
        job.computed += 1
        if job.computed == job.inputs.count {
            metrics?.answered()
            job.finish(.success(job.vectors))
        }
    }

    /// A failed input fails its request; its inputs not yet handed out are dropped.
    private func fail(_ job: Job, _ error: Error) {
        condition.withLock { queue.removeAll { $0 === job } }
        job.finish(.failure(error))
    }
}
