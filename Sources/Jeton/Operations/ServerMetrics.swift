import API
import CoreMetrics
import Engine
import Foundation
import Metrics
import Prometheus
import Synchronization

/// Jeton's metrics, recorded through swift-metrics into a Prometheus registry and rendered
/// in the Prometheus text format for GET /metrics. Every family carries the `model` label:
/// each served model has its families (ModelMetrics, EmbeddingMetrics); requests are counted
/// under the model they were routed to (those that name none, such as /health, under
/// `defaultModel`). Made once per process (swift-metrics is bootstrapped once).
final class ServerMetrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    /// The label of requests that reach no model: the model's name when there is one, else "".
    let defaultModel: String
    private struct State {
        var requestCounters: [String: CoreMetrics.Counter] = [:]
        var rejectedCounters: [String: CoreMetrics.Counter] = [:]
        var durations: [String: CoreMetrics.Timer] = [:]
        var models: [String: ModelMetrics] = [:]
    }
    private let state = Mutex(State())
    private let connections: CoreMetrics.Gauge
    private let keptResponses: CoreMetrics.Gauge
    private let keptResponseBytes: CoreMetrics.Gauge

    static let latencyBuckets: [Duration] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 7.5, 10, 20, 30, 60, 120,
                                                   300, 600, 1200, 2400]  // long generations run for minutes
        .map { Duration.nanoseconds(Int64($0 * 1e9)) }

    init(defaultModel: String) {
        self.defaultModel = defaultModel
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.latencyBuckets
        factory.valueHistogramBuckets["jeton_batch_tokens"] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096]
        factory.valueHistogramBuckets["jeton_embedding_batch_inputs"] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]
        // Answer confidence: finer where answers usually are (mean logprob near 0, few low tokens).
        factory.valueHistogramBuckets["jeton_answer_mean_logprob"] =
            [-5, -4, -3, -2.5, -2, -1.75, -1.5, -1.25, -1, -0.8, -0.6, -0.5, -0.4, -0.3, -0.2, -0.1, -0.05, 0]
        factory.valueHistogramBuckets["jeton_answer_low_confidence_ratio"] =
            [0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1]
        MetricsSystem.bootstrap(factory)
        connections = CoreMetrics.Gauge(label: "jeton_http_connections", dimensions: [("model", defaultModel)])
        keptResponses = CoreMetrics.Gauge(label: "jeton_responses_kept", dimensions: [("model", defaultModel)])
        keptResponseBytes = CoreMetrics.Gauge(label: "jeton_responses_kept_bytes", dimensions: [("model", defaultModel)])
    }

    /// The families of a generation model (its engine's observer).
    func addModel(_ name: String, speculation: String) -> ModelMetrics {
        let m = ModelMetrics(model: name, speculation: speculation)
        state.withLock { $0.models[name] = m }
        return m
    }

    func addEmbeddingModel(_ name: String) -> EmbeddingMetrics { EmbeddingMetrics(model: name) }

    /// Counts one finished HTTP request, under the model it was routed to.
    /// `adapter`: the LoRA adapter the request used, as a label of its own (nil: the base model).
    func request(endpoint: String, status: Int, seconds: Double, model routed: String?, adapter: String? = nil) {
        let model = routed ?? defaultModel
        let key = "\(model) \(endpoint) \(status) \(adapter ?? "")"
        var dims = [("model", model), ("endpoint", endpoint), ("status", String(status))]
        if let adapter { dims.append(("adapter", adapter)) }
        let (c, d): (CoreMetrics.Counter, CoreMetrics.Timer) = state.withLock { s in
            let c = s.requestCounters[key] ?? CoreMetrics.Counter(label: "jeton_requests_total", dimensions: dims)
            s.requestCounters[key] = c
            // By endpoint too: probes and scrapes (sub-millisecond, many) would otherwise make the
            // API's percentiles.
            let dk = "\(model) \(endpoint)"
            let d = s.durations[dk] ?? CoreMetrics.Timer(label: "jeton_request_duration_seconds",
                                                         dimensions: [("model", model), ("endpoint", endpoint)], preferredDisplayUnit: .seconds)
            s.durations[dk] = d
            return (c, d)
        }
        c.increment()
        d.recordNanoseconds(Int64(seconds * 1e9))
    }

    /// Counts one request the HTTP layer refused before any route saw it (malformed framing,
    /// limits, timeouts: 400, 408, 413, 414, 431, 501, 505), by status and error code.
    func httpRejected(status: Int, code: String) {
        let key = "\(status) \(code)"
        let c = state.withLock { s in
            let c = s.rejectedCounters[key] ?? CoreMetrics.Counter(
                label: "jeton_http_rejected_total", dimensions: [("model", defaultModel), ("status", String(status)), ("code", code)])
            s.rejectedCounters[key] = c
            return c
        }
        c.increment()
    }

    /// Tokens and time to first token of a finished generation, under its model.
    func recordUsage(_ r: GenerationReport, key: String?) {
        state.withLock { $0.models[r.model] }?.recordUsage(r, key: key)
    }

    /// The text exposition, after refreshing each engine's, the connection and the kept responses' gauges.
    func scrape(engines: [(ModelMetrics, EngineStats)], connections open: Int, keptResponses kept: (count: Int, bytes: Int)) -> String {
        for (m, s) in engines { m.refresh(s) }
        connections.record(open)
        keptResponses.record(kept.count)
        keptResponseBytes.record(kept.bytes)
        return MetricHelp.annotate(registry.emitToString())
    }
}
