import API
import CoreMetrics
import Engine
import Foundation
import Synchronization

/// The metric families of one generation model, each labelled with its name: the engine's
/// (it observes the engine's steps and is refreshed from its snapshot at scrape time) and
/// the API's (latencies, answer confidence, slow readers). Made by `ServerMetrics.addModel`.
final class ModelMetrics: APIObserver, EngineObserver, Sendable {
    let model: String
    private struct State {
        var lastSnapshot = EngineStats()
        var tokenCounters: [String: (CoreMetrics.Counter, CoreMetrics.Counter)] = [:]
        var finishCounters: [String: CoreMetrics.Counter] = [:]
    }
    /// The finish reasons answers are counted under (any other is `other`: labels stay few).
    static let finishReasons: Set<String> = ["stop", "length", "abort", "error"]
    private let state = Mutex(State())

    private let ttft: CoreMetrics.Timer
    private let itl: CoreMetrics.Timer
    private let queue: CoreMetrics.Timer
    private let batchTokens: CoreMetrics.Recorder
    private let stepSeconds: CoreMetrics.Timer
    private let running: CoreMetrics.Gauge
    private let waiting: CoreMetrics.Gauge
    private let cacheUsage: CoreMetrics.Gauge
    private let cacheBytes: CoreMetrics.Gauge      // all layers, both pools of a sliding-window model
    private let cacheUsedBytes: CoreMetrics.Gauge
    private let prefixQueries: CoreMetrics.Counter
    private let prefixHits: CoreMetrics.Counter
    private let preemptions: CoreMetrics.Counter
    private let slowReaderPauses: CoreMetrics.Counter
    private let slowReaderAborts: CoreMetrics.Counter
    private let forwardSeconds: CoreMetrics.FloatingPointCounter
    private let busySeconds: CoreMetrics.FloatingPointCounter
    private let grammarMasks: CoreMetrics.Counter
    private let grammarMaskSeconds: CoreMetrics.FloatingPointCounter
    private let grammarMasksOverlapped: CoreMetrics.Counter
    private let grammarFastPicks: CoreMetrics.Counter
    private let answerMeanLogprob: CoreMetrics.Recorder
    private let answerLowRatio: CoreMetrics.Recorder
    /// Speculative decoding, labelled by the method that proposed: with a draft model, prompt
    /// lookup proposes first where it pays, and its tokens count as `ngram`, not `draft`.
    private struct SpecCounters {
        let proposed: CoreMetrics.Counter
        let accepted: CoreMetrics.Counter
        let acceptance: CoreMetrics.Gauge
        init(_ dims: [(String, String)]) {
            proposed = CoreMetrics.Counter(label: "jeton_spec_proposed_tokens_total", dimensions: dims)
            accepted = CoreMetrics.Counter(label: "jeton_spec_accepted_tokens_total", dimensions: dims)
            // Accepted over proposed since start (the counters' ratio over a window is the recent one).
            acceptance = CoreMetrics.Gauge(label: "jeton_spec_acceptance_ratio", dimensions: dims)
        }
    }
    private let spec: SpecCounters      // the server's method (draft, ngram, none)
    private let specLookup: SpecCounters?  // a draft server's lookup proposals
    private let specPrediction: SpecCounters  // clients' predicted outputs (any method, off included)

    /// Only after `MetricsSystem.bootstrap` (ServerMetrics.init).
    init(model: String, speculation: String) {
        self.model = model
        let m = [("model", model)]
        ttft = CoreMetrics.Timer(label: "jeton_time_to_first_token_seconds", dimensions: m, preferredDisplayUnit: .seconds)
        itl = CoreMetrics.Timer(label: "jeton_inter_token_latency_seconds", dimensions: m, preferredDisplayUnit: .seconds)
        queue = CoreMetrics.Timer(label: "jeton_request_queue_seconds", dimensions: m, preferredDisplayUnit: .seconds)
        batchTokens = CoreMetrics.Recorder(label: "jeton_batch_tokens", dimensions: m, aggregate: true)
        // The target model's passes, against engine.step_target_ms (a draft's passes are not steps).
        stepSeconds = CoreMetrics.Timer(label: "jeton_engine_step_seconds", dimensions: m, preferredDisplayUnit: .seconds)
        running = CoreMetrics.Gauge(label: "jeton_requests_running", dimensions: m)
        waiting = CoreMetrics.Gauge(label: "jeton_requests_waiting", dimensions: m)
        cacheUsage = CoreMetrics.Gauge(label: "jeton_kv_cache_usage_ratio", dimensions: m)
        cacheBytes = CoreMetrics.Gauge(label: "jeton_kv_cache_bytes", dimensions: m)
        cacheUsedBytes = CoreMetrics.Gauge(label: "jeton_kv_cache_used_bytes", dimensions: m)
        prefixQueries = CoreMetrics.Counter(label: "jeton_prefix_cache_queries_total", dimensions: m)
        prefixHits = CoreMetrics.Counter(label: "jeton_prefix_cache_hits_total", dimensions: m)
        preemptions = CoreMetrics.Counter(label: "jeton_preemptions_total", dimensions: m)
        // Streams paused because their client stopped reading, and those ended by the timeout.
        slowReaderPauses = CoreMetrics.Counter(label: "jeton_slow_reader_pauses_total", dimensions: m)
        slowReaderAborts = CoreMetrics.Counter(label: "jeton_slow_reader_aborts_total", dimensions: m)
        // Their ratio over a window is the share of the engine thread's work spent in forward passes.
        forwardSeconds = CoreMetrics.FloatingPointCounter(label: "jeton_engine_forward_seconds_total", dimensions: m)
        busySeconds = CoreMetrics.FloatingPointCounter(label: "jeton_engine_busy_seconds_total", dimensions: m)
        // Structured output: token masks applied on the engine thread and their time (the mean per token is the ratio).
        grammarMasks = CoreMetrics.Counter(label: "jeton_grammar_masks_total", dimensions: m)
        grammarMaskSeconds = CoreMetrics.FloatingPointCounter(label: "jeton_grammar_mask_seconds_total", dimensions: m)
        // Of those, masks made on another thread while the forward pass ran (off the step's critical path).
        grammarMasksOverlapped = CoreMetrics.Counter(label: "jeton_grammar_masks_overlapped_total", dimensions: m)
        // Tokens greedy constrained sequences took with no mask at all (the grammar allowed the model's best).
        grammarFastPicks = CoreMetrics.Counter(label: "jeton_grammar_fast_picks_total", dimensions: m)
        // One observation per finished answer (choice) whose tokens were measured (see OpenAIAPI.measureAllConfidence).
        answerMeanLogprob = CoreMetrics.Recorder(label: "jeton_answer_mean_logprob", dimensions: m, aggregate: true)
        answerLowRatio = CoreMetrics.Recorder(label: "jeton_answer_low_confidence_ratio", dimensions: m, aggregate: true)
        spec = SpecCounters(m + [("method", speculation == "off" ? "none" : speculation)])
        specLookup = speculation == "draft" ? SpecCounters(m + [("method", "ngram")]) : nil
        specPrediction = SpecCounters(m + [("method", "prediction")])
        // Token counters exist from the start, so a scrape shows zeros rather than nothing.
        _ = tokens(key: String?.none)
    }

    /// Prompt and generation token counters, per API key name when keys are configured.
    /// `adapter`: the LoRA adapter of the request, as a label of its own (nil: the base model).
    func tokens(key: String?, adapter: String? = nil) -> (prompt: CoreMetrics.Counter, generation: CoreMetrics.Counter) {
        let model = model
        return state.withLock { s in
            let k = (key ?? "") + "\u{0}" + (adapter ?? "")
            if let pair = s.tokenCounters[k] { return pair }
            var dims = [("model", model)]
            if let key { dims.append(("key", key)) }
            if let adapter { dims.append(("adapter", adapter)) }
            let pair = (CoreMetrics.Counter(label: "jeton_prompt_tokens_total", dimensions: dims),
                        CoreMetrics.Counter(label: "jeton_generation_tokens_total", dimensions: dims))
            s.tokenCounters[k] = pair
            return pair
        }
    }

    func recordUsage(_ r: GenerationReport, key: String?) {
        let (p, g) = tokens(key: key, adapter: r.adapter)
        p.increment(by: r.promptTokens)
        g.increment(by: r.completionTokens)
        if let t = r.timeToFirstToken { ttft.recordNanoseconds(Int64(t * 1e9)) }
    }

    // MARK: - observers

    func interTokenLatency(_ seconds: Double) { itl.recordNanoseconds(Int64(seconds * 1e9)) }

    func slowReader(aborted: Bool) { (aborted ? slowReaderAborts : slowReaderPauses).increment() }

    /// Usage is counted by the access log (through ServerMetrics.recordUsage); answer confidence here.
    func generationFinished(_ report: GenerationReport) {
        // Answers by how they ended: streams cut by the drain, a slow reader or a client that left
        // (`abort`) and failed ones (`error`) count as 200s in `jeton_requests_total`.
        let model = model
        state.withLock { s in
            for reason in report.finishReasons {
                let r = Self.finishReasons.contains(reason) ? reason : "other"
                let counter = s.finishCounters[r] ?? CoreMetrics.Counter(label: "jeton_answers_finished_total",
                                                                         dimensions: [("model", model), ("reason", r)])
                s.finishCounters[r] = counter
                counter.increment()
            }
        }
        for c in report.confidence {
            answerMeanLogprob.record(c.meanLogprob)
            answerLowRatio.record(c.lowConfidenceRatio)
        }
    }

    func engineDidStep(batchTokens n: Int, sequences: Int) { batchTokens.record(n) }

    func engineDidFinishStep(_ step: StepTiming) { stepSeconds.recordNanoseconds(Int64(step.seconds * 1e9)) }

    func requestDidStart(queueSeconds: Double) { queue.recordNanoseconds(Int64(queueSeconds * 1e9)) }

    /// Refreshes the engine gauges and counters from a snapshot, before a scrape.
    func refresh(_ s: EngineStats) {
        running.record(s.running)
        waiting.record(s.waiting)
        cacheUsage.record(s.cacheUsage)
        cacheBytes.record(s.cacheBytes)
        cacheUsedBytes.record(s.usedCacheBytes)
        // A draft server's own counters leave out lookup's proposals; an ngram server's are all lookup's.
        let lookup = specLookup == nil ? (0, 0) : (s.speculativeLookupProposed, s.speculativeLookupAccepted)
        let predicted = (s.speculativePredictionProposed, s.speculativePredictionAccepted)
        let own = (s.speculativeProposed - lookup.0 - predicted.0, s.speculativeAccepted - lookup.1 - predicted.1)
        spec.acceptance.record(own.0 == 0 ? 0 : Double(own.1) / Double(own.0))
        specLookup?.acceptance.record(lookup.0 == 0 ? 0 : Double(lookup.1) / Double(lookup.0))
        specPrediction.acceptance.record(predicted.0 == 0 ? 0 : Double(predicted.1) / Double(predicted.0))
        // Under the lock so two scrapes do not both add the same difference.
        state.withLock { st in
            let last = st.lastSnapshot
            // Two scrapes at once: the older snapshot, applied last, must not move the mark back
            // (the next scrape would count the gap again). Engine steps only grow.
            guard s.steps >= last.steps else { return }
            prefixQueries.increment(by: max(0, s.prefixQueries - last.prefixQueries))
            prefixHits.increment(by: max(0, s.prefixHits - last.prefixHits))
            preemptions.increment(by: max(0, s.preemptions - last.preemptions))
            forwardSeconds.increment(by: max(0, s.forwardSeconds - last.forwardSeconds))
            busySeconds.increment(by: max(0, s.busySeconds - last.busySeconds))
            grammarMasks.increment(by: max(0, s.grammarMasks - last.grammarMasks))
            grammarMaskSeconds.increment(by: max(0, s.grammarMaskSeconds - last.grammarMaskSeconds))
            grammarMasksOverlapped.increment(by: max(0, s.grammarMasksOverlapped - last.grammarMasksOverlapped))
            grammarFastPicks.increment(by: max(0, s.grammarFastPicks - last.grammarFastPicks))
            let lastLookup = specLookup == nil ? (0, 0) : (last.speculativeLookupProposed, last.speculativeLookupAccepted)
            let lastPredicted = (last.speculativePredictionProposed, last.speculativePredictionAccepted)
            spec.proposed.increment(by: max(0, own.0 - (last.speculativeProposed - lastLookup.0 - lastPredicted.0)))
            spec.accepted.increment(by: max(0, own.1 - (last.speculativeAccepted - lastLookup.1 - lastPredicted.1)))
            specLookup?.proposed.increment(by: max(0, lookup.0 - lastLookup.0))
            specLookup?.accepted.increment(by: max(0, lookup.1 - lastLookup.1))
            specPrediction.proposed.increment(by: max(0, predicted.0 - lastPredicted.0))
            specPrediction.accepted.increment(by: max(0, predicted.1 - lastPredicted.1))
            st.lastSnapshot = s
        }
    }
}
