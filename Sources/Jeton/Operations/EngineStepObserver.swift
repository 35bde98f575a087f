import Engine
import Foundation
import Logging

/// What one generation model's engine reports, on the engine thread: every step to the
/// model's metrics and, when logging.level is debug or trace, one log line per step with its
/// size, its time and the pace's prediction (how an operator sees whether steps keep to
/// engine.step_target_ms while a long prompt is cut into chunks).
final class EngineStepObserver: EngineObserver, Sendable {
    let metrics: ModelMetrics?
    let logger: Logger?
    let model: String

    /// `logger`: nil, or one whose level lets debug lines through.
    init(metrics: ModelMetrics?, logger: Logger?, model: String) {
        self.metrics = metrics
        self.logger = logger.flatMap { $0.logLevel <= .debug ? $0 : nil }
        self.model = model
    }

    /// Nil when there is nothing to observe (no metrics, logging above debug).
    static func make(metrics: ModelMetrics?, logger: Logger, model: String) -> EngineStepObserver? {
        let observer = EngineStepObserver(metrics: metrics, logger: logger, model: model)
        return observer.metrics == nil && observer.logger == nil ? nil : observer
    }

    func engineDidStep(batchTokens: Int, sequences: Int) { metrics?.engineDidStep(batchTokens: batchTokens, sequences: sequences) }

    func requestDidStart(queueSeconds: Double) { metrics?.requestDidStart(queueSeconds: queueSeconds) }

    func engineDidFinishStep(_ step: StepTiming) {
        metrics?.engineDidFinishStep(step)
        guard let logger else { return }
        let ms = { (s: Double) in String(format: "%.1f", s * 1000) }
        var meta: Logger.Metadata = [
            "model": .string(model), "tokens": .stringConvertible(step.tokens), "sequences": .stringConvertible(step.sequences),
            "prompt_tokens": .stringConvertible(step.promptTokens), "seconds": AccessLog.number(step.seconds, places: 4),
        ]
        if let p = step.predictedSeconds { meta["predicted_seconds"] = AccessLog.number(p, places: 4) }
        let predicted = step.predictedSeconds.map { " (predicted \(ms($0)) ms)" } ?? ""
        if step.failed { meta["failed"] = .stringConvertible(true) }
        logger.debug("step\(step.failed ? " failed" : "") \(step.tokens) tokens (\(step.promptTokens) of prompts), \(step.sequences) sequences: \(ms(step.seconds)) ms\(predicted)",
                     metadata: meta)
    }
}
