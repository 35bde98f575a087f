import API
import Foundation
import Model

/// Runs an embedding model for the server on one thread of its own: requests that
/// wait together are computed in one forward pass, up to a token budget, so many
/// small requests share each pass over the weights. Requests beyond `maxWaiting`
/// are refused (429) instead of queued without bound.
final class EmbeddingBatcher: EmbeddingService, @unchecked Sendable {
    private struct Job {
        let inputs: [[Int32]]
        let completion: @Sendable (Result<[[Float]], Error>) -> Void
        var tokens: Int { inputs.reduce(0) { $0 + $1.count } }
    }

    let model: LoadedEmbeddingModel
    let batchTokens: Int
    let maxWaiting: Int
    let supportsMatryoshka: Bool
    let metrics: EmbeddingMetrics?
    var dimensions: Int { model.config.dim }

    private let condition = NSCondition()
    private var queue: [Job] = []
    private var stopping = false

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

    func embed(_ inputs: [[Int32]], completion: @escaping @Sendable (Result<[[Float]], Error>) -> Void) {
        condition.lock()
        guard queue.count < maxWaiting, !stopping else {
            let n = queue.count
            condition.unlock()
            completion(.failure(EmbeddingQueueFull(waiting: n)))
            return
        }
        queue.append(Job(inputs: inputs, completion: completion))
        condition.signal()
        condition.unlock()
    }

    /// Waiting requests currently queued (for draining).
    var waiting: Int { condition.withLock { queue.count } }

    func shutdown() { condition.withLock { stopping = true; condition.signal() } }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopping { condition.wait() }
            if queue.isEmpty { condition.unlock(); return }
            // The first job always goes; others join while the budget lasts.
            var jobs = [queue.removeFirst()]
            var tokens = jobs[0].tokens
            while let next = queue.first, tokens + next.tokens <= batchTokens {
                jobs.append(queue.removeFirst())
                tokens += next.tokens
            }
            condition.unlock()
            run(jobs)
        }
    }

    private func run(_ jobs: [Job]) {
        do {
            let started = DispatchTime.now().uptimeNanoseconds
            let vectors = try model.embed(tokens: jobs.flatMap(\.inputs))
            metrics?.batch(requests: jobs.count, inputs: vectors.count, tokens: jobs.reduce(0) { $0 + $1.tokens },
                           seconds: Double(DispatchTime.now().uptimeNanoseconds &- started) / 1e9)
            var at = 0
            for job in jobs {
                job.completion(.success(Array(vectors[at..<(at + job.inputs.count)])))
                at += job.inputs.count
            }
        } catch {
            // One bad job must not fail the others it was batched with.
            if jobs.count == 1 { jobs[0].completion(.failure(error)); return }
            for job in jobs { run([job]) }
        }
    }
}
