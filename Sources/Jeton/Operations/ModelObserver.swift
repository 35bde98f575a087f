import API

/// What one generation model's API reports: per-token facts to that model's metrics, the
/// finished request to both its metrics (answer confidence) and the access log (its line,
/// usage and counters).
final class ModelObserver: APIObserver, Sendable {
    let access: AccessLog
    let metrics: ModelMetrics?

    init(access: AccessLog, metrics: ModelMetrics?) {
        self.access = access
        self.metrics = metrics
    }

    func interTokenLatency(_ seconds: Double) { metrics?.interTokenLatency(seconds) }

    func slowReader(aborted: Bool) { metrics?.slowReader(aborted: aborted) }

    func generationFinished(_ report: GenerationReport) {
        metrics?.generationFinished(report)
        access.generationFinished(report)
    }
}
