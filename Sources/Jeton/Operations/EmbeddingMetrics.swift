import CoreMetrics
import Foundation

/// The metric families of one embedding model, labelled with its name: requests, inputs
/// and tokens embedded, and the time of each batched forward pass.
final class EmbeddingMetrics: Sendable {
    let model: String
    private let requests: CoreMetrics.Counter
    private let inputs: CoreMetrics.Counter
    private let tokens: CoreMetrics.Counter
    private let batchSeconds: CoreMetrics.Timer
    private let batchInputs: CoreMetrics.Recorder

    /// Only after `MetricsSystem.bootstrap` (ServerMetrics.init).
    init(model: String) {
        self.model = model
        let m = [("model", model)]
        requests = CoreMetrics.Counter(label: "jeton_embedding_requests_total", dimensions: m)
        inputs = CoreMetrics.Counter(label: "jeton_embedding_inputs_total", dimensions: m)
        tokens = CoreMetrics.Counter(label: "jeton_embedding_tokens_total", dimensions: m)
        batchSeconds = CoreMetrics.Timer(label: "jeton_embedding_batch_seconds", dimensions: m, preferredDisplayUnit: .seconds)
        batchInputs = CoreMetrics.Recorder(label: "jeton_embedding_batch_inputs", dimensions: m, aggregate: true)
    }

    /// One batch computed: its inputs and tokens, and its time.
    func batch(inputs n: Int, tokens t: Int, seconds: Double) {
        inputs.increment(by: n)
        tokens.increment(by: t)
        batchInputs.record(n)
        batchSeconds.recordNanoseconds(Int64(seconds * 1e9))
    }

    /// A request has all its vectors (once, however many passes its inputs took).
    func answered() { requests.increment() }
}
