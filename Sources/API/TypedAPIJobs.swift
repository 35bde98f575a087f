import Engine
import HTTP

/// The jobs of the APIs said again as chat requests (Responses, Messages): a whole answer is the
/// object `answer` makes of the finished job, or the API's error for a failed or drained one; a
/// stream ends a drained or failed answer with the API's own error events (`failed`), and every
/// other piece of the answer goes out as the events `push` makes of it.
extension OpenAIAPI {
    /// Submits a whole-answer job; `anthropic`: errors in Anthropic's envelope.
    func submitWholeAnswer(_ requests: [GenerationRequest], stops: [String], skipSpecial: Bool, responder: HTTPResponder,
                           anthropic: Bool, report: @escaping (GenerationJob) -> Void,
                           rules: ChoiceText.LineRules = ChoiceText.LineRules(), keepsTokens: Bool = false,
                           answer: @escaping (GenerationJob) -> JSON) throws {
        let job = GenerationJob(
            service: service, tokenizer: model.tokenizer, requestIDs: requests.map(\.id), stops: stops, observer: observer,
            skipSpecial: skipSpecial, rules: rules, keepsTokens: keepsTokens, onDelta: nil,
            onDone: { job in
                report(job)
                if let e = job.error { responder.respond(APIError.internal("generation failed: \(e)").response(anthropic: anthropic)); return }
                if job.wasAborted { responder.respond(Self.abortedAnswer.response(anthropic: anthropic)); return }
                responder.respond(.json(answer(job)))
            })
        try submitAll(requests, job: job)
        responder.onCancel { job.cancel() }
    }

    func typedEventJob(_ requests: [GenerationRequest], stops: [String], skipSpecial: Bool, writer: StreamWriter,
                       failed: @escaping (APIError) -> [UInt8], push: @escaping (GenerationJob.Delta) -> [JSON],
                       onDone: @escaping (GenerationJob) -> Void) -> GenerationJob {
        GenerationJob(
            service: service, tokenizer: model.tokenizer, requestIDs: requests.map(\.id), stops: stops, observer: observer,
            skipSpecial: skipSpecial,
            onDelta: { d in
                switch d.finishReason {
                case "abort": writer.abortedByServer(failed(APIError.serverEnded)); return
                case "error": writer.write(failed(APIError.internal("generation failed"))); return
                default: break
                }
                for e in push(d) { writer.write(SSE.event(named: e)) }
            },
            onDone: onDone)
    }
}
