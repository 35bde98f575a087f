import Engine
import Foundation
import Tokenizer

/// The choices of one API request while the engine produces them: text assembly,
/// stop sequences, logprobs and usage. The engine hands its token ids to the sinks on
/// its own thread; each sink only queues them onto the job's serial queue, where all
/// the rest (detokenizing, stop strings, JSON, SSE, the observer) runs, in order, off
/// the engine thread. Cancellation may come from any thread.
// @unchecked Sendable: the `let`s are immutable (`observer`, weak, is set only in init); the
// choices, counters and timestamps are only touched under `lock`; events run one at a time on
// `queue`. The callbacks are plain closures, called outside the lock.
final class GenerationJob: @unchecked Sendable {
    struct Choice {
        var requestID: String
        var text: ChoiceText
        var finishReason: String?
        var logprobs: [TokenLogprob] = []
        var promptLogprobs: [TokenLogprob?]?
        var promptTokens = 0
        /// 1 when the model ended the choice with an end-of-generation (or stop) token: it was
        /// generated, and vLLM and llama-server count it in `completion_tokens`, though it has no text.
        var endToken = 0
        /// Generated tokens, for usage: those with text (or cut by a stop string) and the end token.
        var completionTokens: Int { text.tokenCount + endToken }
        /// Prompt tokens found in the prefix cache when it was admitted.
        var cachedTokens = 0
        /// The engine's count of proposals verified for this choice, from its finish event.
        var speculation = SpeculationUsage.none
        /// Tokens of the answer that came from its predicted output (none past a stop string).
        var predictedTokens = 0
        var confidence: ConfidenceTracker?
        /// Every low-confidence span given out so far, in order.
        var spans: [ConfidenceSpan] = []
        /// With `keepsTokens`: the ids sampled, in order (those of a stop string included; the end
        /// token is not delivered), and how many of them a delta has carried.
        var sampled: [Int32] = []
        var sampledSent = 0
    }

    /// A piece of one choice to stream: new text with its tokens' logprobs, and
    /// the finish reason when the choice ends.
    struct Delta {
        var choice: Int
        var text: String
        var logprobs: [TokenLogprob]
        var finishReason: String?
        /// Where the text of this piece's first token begins, in UTF-16 units of the choice's text
        /// (for text_offset; it may be in an earlier piece, whose text was released before its tokens).
        var offset = 0
        /// Low-confidence spans that closed and whose text is out (this piece's included).
        var spans: [ConfidenceSpan] = []
        /// On the piece that ends a measured choice: its summary.
        var confidence: AnswerConfidence?
        /// A piece with no text of its own: the prompt's logprobs (echo), first entry nil.
        var promptLogprobs: [TokenLogprob?]?
        /// The ids sampled since the choice's previous piece (llama-server's `tokens`).
        var tokens: [Int32] = []
    }

    /// Shared by every job's queue: output work runs beside inference, never inside it.
    private static let outputQueue = DispatchQueue(label: "jeton.output", qos: .userInitiated, attributes: .concurrent)
    private let queue = DispatchQueue(label: "jeton.job", target: GenerationJob.outputQueue)
    private let lock = NSLock()
    private var choices: [Choice]
    private var open: Int
    private var failure: String?
    private let service: InferenceService
    private let onDelta: ((Delta) -> Void)?
    private let onDone: (GenerationJob) -> Void
    private weak var observer: APIObserver?
    let startedAt = DispatchTime.now().uptimeNanoseconds
    private var firstTokenAt: UInt64?
    private var lastTokenAt: UInt64?
    private var lastTokenOf: [UInt64?]
    private var firstTokenOf: [UInt64?]
    private let onChoiceDone: ((Int) -> Void)?
    /// Keep the sampled ids (llama-server's `tokens`); other answers never show them.
    private let keepsTokens: Bool

    /// `confidenceThreshold`: the requests measure confidence (GenerationRequest.measureConfidence),
    /// and tokens below this probability make spans.
    /// `skipSpecial`: generated control tokens give no text (`ChoiceText`).
    init(service: InferenceService, tokenizer: Tokenizer, requestIDs: [String], stops: [String], observer: APIObserver?,
         confidenceThreshold: Double? = nil, skipSpecial: Bool, rules: ChoiceText.LineRules = ChoiceText.LineRules(),
         keepsTokens: Bool = false, onDelta: ((Delta) -> Void)?, onChoiceDone: ((Int) -> Void)? = nil,
         onDone: @escaping (GenerationJob) -> Void) {
        self.service = service
        self.observer = observer
        lastTokenOf = requestIDs.map { _ in nil }
        firstTokenOf = requestIDs.map { _ in nil }
        self.onChoiceDone = onChoiceDone
        self.keepsTokens = keepsTokens
        self.onDelta = onDelta
        self.onDone = onDone
        choices = requestIDs.map {
            Choice(requestID: $0, text: ChoiceText(tokenizer: tokenizer, stops: stops, skipSpecial: skipSpecial, rules: rules),
                   confidence: confidenceThreshold.map(ConfidenceTracker.init(threshold:)))
        }
        open = requestIDs.count
    }

    /// The engine calls it between steps: it must only hand the event over.
    func sink(for index: Int) -> GenerationSink {
        { [self] event in queue.async { self.handle(index, event) } }
    }

    /// Holds the job's output (its sinks still queue events) until `releaseOutput`: a stream's
    /// requests are submitted before its head goes out, and nothing may be written before it.
    /// Calls must pair.
    func holdOutput() { queue.suspend() }
    func releaseOutput() { queue.resume() }

    /// Stops every choice still running (client gone, or a submit failed).
    func cancel() {
        lock.lock()
        let ids = choices.filter { $0.finishReason == nil }.map(\.requestID)
        lock.unlock()
        for id in ids { service.abort(id) }
    }

    /// Some choice was aborted (its client left, or the server ended it).
    var wasAborted: Bool {
        lock.lock()
        defer { lock.unlock() }
        return choices.contains { $0.finishReason == "abort" }
    }

    /// Marks the choices still running as failed (a submit failed: they never ran, or were
    /// aborted); their later events are ignored.
    func markFailed() {
        lock.lock()
        for i in choices.indices where choices[i].finishReason == nil { choices[i].finishReason = "error" }
        lock.unlock()
    }

    /// The facts of the finished job, for the observer.
    func report(requestID: String, endpoint: String, model: String, stream: Bool, promptTokens: Int, prompt: String?) -> GenerationReport {
        lock.lock()
        defer { lock.unlock() }
        let end = lastTokenAt ?? DispatchTime.now().uptimeNanoseconds
        return GenerationReport(
            requestID: requestID, endpoint: endpoint, model: model, promptTokens: promptTokens,
            completionTokens: choices.reduce(0) { $0 + $1.completionTokens },
            timeToFirstToken: firstTokenAt.map { Double($0 &- startedAt) / 1e9 },
            duration: Double(end &- startedAt) / 1e9,
            finishReasons: choices.map { $0.finishReason ?? "stop" }, stream: stream,
            prompt: prompt, output: prompt == nil ? nil : choices.map { $0.text.text },
            confidence: choices.compactMap { c in c.confidence.flatMap { $0.tokens > 0 ? $0.summary : nil } },
            speculation: choices.reduce(SpeculationUsage.none) { $0 + $1.speculation })
    }

    var results: [Choice] { lock.lock(); defer { lock.unlock() }; return choices }
    /// When the first and the last token came (uptime nanoseconds; nil before any).
    var tokenTimes: (first: UInt64?, last: UInt64?) { lock.lock(); defer { lock.unlock() }; return (firstTokenAt, lastTokenAt) }
    /// When choice i's first and last token came.
    func tokenTimes(of i: Int) -> (first: UInt64?, last: UInt64?) {
        lock.lock()
        defer { lock.unlock() }
        return (firstTokenOf[i], lastTokenOf[i])
    }
    var error: String? { lock.lock(); defer { lock.unlock() }; return failure }

    var usage: (prompt: Int, completion: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (choices.reduce(0) { $0 + $1.promptTokens }, choices.reduce(0) { $0 + $1.completionTokens })
    }

    /// OpenAI's accepted and rejected prediction tokens over the choices: the answers' tokens that
    /// came from the prediction, and the rest of what it proposed (computed in vain, those accepted
    /// past a stop string included).
    var predictionUsage: (accepted: Int, rejected: Int) {
        lock.lock()
        defer { lock.unlock() }
        let accepted = choices.reduce(0) { $0 + $1.predictedTokens }
        return (accepted, choices.reduce(0) { $0 + $1.speculation.predictionProposed } - accepted)
    }

    /// Prompt tokens served from the prefix cache, each prompt counted once (choices are
    /// prompt by prompt, `n` each): its least cached choice, the one that did not reuse a
    /// sibling's blocks.
    func cachedPromptTokens(n: Int) -> Int {
        lock.lock()
        defer { lock.unlock() }
        return stride(from: 0, to: choices.count, by: max(n, 1)).reduce(0) { sum, start in
            sum + (choices[start..<min(start + max(n, 1), choices.count)].map(\.cachedTokens).min() ?? 0)
        }
    }

    private func handle(_ i: Int, _ event: GenerationEvent) {
        var deltas: [Delta] = []
        var abortID: String?
        var done = false
        lock.lock()
        if choices[i].finishReason == nil {
            switch event {
            case let .promptLogprobs(p):
                choices[i].promptLogprobs = p
                if onDelta != nil {
                    deltas.append(Delta(choice: i, text: "", logprobs: [], finishReason: nil, promptLogprobs: p))
                }
            case let .token(t, lp, measured, predicted):
                if predicted { choices[i].predictedTokens += 1 }
                let now = DispatchTime.now().uptimeNanoseconds
                if firstTokenAt == nil { firstTokenAt = now }
                if firstTokenOf[i] == nil { firstTokenOf[i] = now }
                if let last = lastTokenOf[i] { observer?.interTokenLatency(Double(now &- last) / 1e9) }
                lastTokenOf[i] = now
                lastTokenAt = now
                if keepsTokens { choices[i].sampled.append(t) }
                let start = choices[i].text.decodedUTF16
                let (text, lps, before) = choices[i].text.push(t, lp)
                choices[i].logprobs += lps
                if let c = measured {
                    let (end, holds) = (choices[i].text.decodedUTF16, choices[i].text.holdsBytes)
                    choices[i].confidence?.add(c, start: start, end: end, holdsBytes: holds)
                }
                if choices[i].text.stopped {
                    choices[i].finishReason = "stop"
                    let cut = choices[i].text.utf16Count
                    choices[i].confidence?.dropTokens(startingAt: cut)
                    abortID = choices[i].requestID
                    var d = Delta(choice: i, text: text, logprobs: lps, finishReason: "stop", offset: before)
                    endConfidence(i, &d)
                    deltas.append(d)
                } else {
                    let spans = takeSpans(i)
                    if !text.isEmpty || !lps.isEmpty || !spans.isEmpty {
                        deltas.append(Delta(choice: i, text: text, logprobs: lps, finishReason: nil, offset: before, spans: spans))
                    }
                }
            case let .finished(reason, prompt, generated, cached, speculation):
                if case .stop = reason { choices[i].endToken = min(1, max(0, generated - choices[i].text.tokenCount)) }
                choices[i].promptTokens = prompt
                choices[i].cachedTokens = cached
                choices[i].speculation = speculation
                let (text, lps, before) = choices[i].text.finish()
                choices[i].logprobs += lps
                let r: String
                switch reason {
                case .stop: r = "stop"
                case .length: r = "length"
                case .aborted: r = "abort"
                case let .error(m): r = "error"; failure = m
                }
                choices[i].finishReason = r
                var d = Delta(choice: i, text: text, logprobs: lps, finishReason: r, offset: before)
                endConfidence(i, &d)
                deltas.append(d)
            }
        } else if case let .finished(_, prompt, _, cached, speculation) = event {
            // A choice ended by a stop sequence learns its prompt size (and what the engine
            // speculated for it until the abort reached it) here.
            choices[i].promptTokens = prompt
            choices[i].cachedTokens = cached
            choices[i].speculation = speculation
        }
        // Each piece carries the ids sampled since the choice's previous one.
        for k in deltas.indices where keepsTokens && deltas[k].promptLogprobs == nil {
            deltas[k].tokens = Array(choices[i].sampled[choices[i].sampledSent...])
            choices[i].sampledSent = choices[i].sampled.count
        }
        // The engine reports `finished` exactly once per request, however it ended.
        var ended = false
        if case .finished = event {
            open -= 1
            done = open == 0
            ended = true
        }
        lock.unlock()
        if let id = abortID { service.abort(id) }
        if let f = onDelta { deltas.forEach(f) }
        if ended, let f = onChoiceDone { f(i) }
        if done { onDone(self) }
    }

    /// Choice `i`'s closed spans whose text is out, with their text. Under `lock`.
    private func takeSpans(_ i: Int) -> [ConfidenceSpan] {
        guard var tracker = choices[i].confidence else { return [] }
        var spans = tracker.takeSpans(released: choices[i].text.utf16Count)
        choices[i].confidence = tracker
        fill(&spans, from: choices[i].text.text)
        choices[i].spans += spans
        return spans
    }

    /// Choice `i` has ended: its remaining spans and summary go on its last piece. Under `lock`.
    private func endConfidence(_ i: Int, _ d: inout Delta) {
        guard var tracker = choices[i].confidence else { return }
        var spans = tracker.finish(textLength: choices[i].text.utf16Count)
        fill(&spans, from: choices[i].text.text)
        choices[i].confidence = tracker
        choices[i].spans += spans
        d.spans = spans
        d.confidence = tracker.summary
    }

    private func fill(_ spans: inout [ConfidenceSpan], from text: String) {
        guard !spans.isEmpty else { return }
        let u = Array(text.utf16)
        for k in spans.indices {
            let a = min(spans[k].start, u.count), b = min(max(spans[k].end, a), u.count)
            spans[k].text = String(decoding: u[a..<b], as: UTF16.self)
        }
    }
}
