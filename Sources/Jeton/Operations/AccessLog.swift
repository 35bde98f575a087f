import API
import Dispatch
import Foundation
import HTTP
import Logging
import Synchronization

/// One line per request, and the request counters. A generation request is
/// logged when both its status and its usage are known: for a stream that is
/// when the last token has gone, long after the status line.
final class AccessLog: APIObserver, Sendable {
    private struct Entry {
        var method: String
        var path: String
        var started: UInt64
        var status: Int?
        var report: GenerationReport?
        var expectsReport: Bool
        var key: String?
        var model: String?   // the id of the model the request was routed to
        var client: String   // the peer's address (behind a proxy, the proxy's)
        var forwardedFor: String?  // X-Forwarded-For as the proxy set it
    }

    let logger: Logger
    let enabled: Bool
    /// Called once per request when it has ended, with the tokens it used.
    let onComplete: (@Sendable (String, Int) -> Void)?
    private struct State {
        var open: [String: Entry] = [:]
        var metrics: ServerMetrics?
    }
    private let state: Mutex<State>
    private var metrics: ServerMetrics? { state.withLock { $0.metrics } }

    init(logger: Logger, metrics: ServerMetrics?, enabled: Bool, onComplete: (@Sendable (String, Int) -> Void)? = nil) {
        self.logger = logger
        self.enabled = enabled
        self.onComplete = onComplete
        state = Mutex(State(metrics: metrics))
    }

    /// Requests that have started and not yet ended (streams until their last token).
    var inFlight: Int { state.withLock { $0.open.count } }

    /// Metrics exist once the models are loaded (they carry their names).
    func attach(metrics: ServerMetrics?) { state.withLock { $0.metrics = metrics } }

    static let generationPaths = Set(APIRoute.allCases.filter(\.generates).map(\.path))

    /// The middleware that opens an entry and watches the status.
    func middleware(keyName: @escaping @Sendable (HTTPRequest) -> String?) -> HTTPMiddleware {
        { [self] request, responder, next in
            let id = responder.requestID
            let entry = Entry(method: request.method, path: request.path, started: DispatchTime.now().uptimeNanoseconds,
                              expectsReport: request.method == "POST" && Self.generationPaths.contains(request.path),
                              key: keyName(request), client: request.remoteAddress,
                              forwardedFor: request.headers["X-Forwarded-For"].map { String($0.prefix(256)) })
            state.withLock { $0.open[id] = entry }
            responder.onFinish { [self] status in
                update(id) { $0.status = status.code }
            }
            responder.onCancel { [self] in
                // A client gone before any status: 499, as nginx logs it. A generation still
                // reports what it did (tokens, speculation) once the engine lets it go, within a
                // step; the line waits for that, Self.cancelledReportWait at most.
                update(id) { if $0.status == nil { $0.status = 499 } }
                DispatchQueue.global().asyncAfter(deadline: .now() + Self.cancelledReportWait) { [self] in
                    update(id) { $0.expectsReport = false }
                }
            }
            next(request, responder)
        }
    }

    /// How long the line of a cancelled generation waits for its report (a request cancelled
    /// before its job started has none to give).
    static let cancelledReportWait = 10.0

    /// A request refused from its head, its body unread (`HTTPServerConfiguration.refuseEarly`):
    /// its line, as for any answered request. Its counter is `jeton_http_rejected_total` (it
    /// never reached a route), so only the line is written here.
    func refused(_ requestID: String, method: String, path: String, status: Int) {
        refusal(requestID, method: method, path: path, status: status, refused: "before_body", code: nil)
    }

    /// An error the HTTP layer answered itself (framing, sizes, timeouts, the connection limit): its
    /// line, with the request ID the client saw; the method and path as far as they were read (a
    /// long target cut to 256 characters). Counted as `jeton_http_rejected_total`.
    func rejected(_ requestID: String, method: String?, path: String?, status: Int, code: String) {
        refusal(requestID, method: method ?? "-", path: path.map { $0.count > 256 ? String($0.prefix(256)) + "…" : $0 } ?? "-",
                status: status, refused: "http", code: code)
    }

    /// The line of a request answered without reaching a route.
    private func refusal(_ requestID: String, method: String, path: String, status: Int, refused: String, code: String?) {
        guard enabled else { return }
        var meta: Logger.Metadata = [
            "request_id": .string(requestID), "method": .string(method), "path": .string(path),
            "status": .stringConvertible(status), "duration_s": Self.number(0, places: 4), "refused": .string(refused),
        ]
        if let code { meta["code"] = .string(code) }
        logger.info("\(method) \(path) \(status)", metadata: meta)
    }

    /// Per-token facts go to the model's own metrics (ModelObserver), not through here.
    func interTokenLatency(_ seconds: Double) {}

    func generationFinished(_ report: GenerationReport) {
        update(report.requestID) { $0.report = report }
    }

    /// The request went to the model `id`: its line and counters say so.
    func routed(_ requestID: String, model id: String?) {
        guard let id else { return }
        state.withLock { s in s.open[requestID]?.model = id }
    }

    private func update(_ id: String, _ change: (inout Entry) -> Void) {
        let done: Entry? = state.withLock { s in
            guard var e = s.open[id] else { return nil }
            change(&e)
            let complete = e.status != nil && (!e.expectsReport || (e.status != 200 && e.status != 499) || e.report != nil)
            s.open[id] = complete ? nil : e
            return complete ? e : nil
        }
        if let e = done { write(id, e) }
    }

    private func write(_ id: String, _ e: Entry) {
        let seconds = Double(DispatchTime.now().uptimeNanoseconds &- e.started) / 1e9
        let endpoint = Self.endpointLabel(e.path)
        metrics?.request(endpoint: endpoint, status: e.status ?? 0, seconds: seconds, model: e.model ?? e.report?.model, adapter: e.report?.adapter)
        if let r = e.report { metrics?.recordUsage(r, key: e.key) }
        onComplete?(id, e.report.map { $0.promptTokens + $0.completionTokens } ?? 0)
        guard enabled else { return }
        var meta: Logger.Metadata = [
            "request_id": .string(id), "method": .string(e.method), "path": .string(e.path),
            "status": .stringConvertible(e.status ?? 0), "duration_s": Self.number(seconds, places: 4),
        ]
        if !e.client.isEmpty { meta["client"] = .string(e.client) }
        if let f = e.forwardedFor { meta["forwarded_for"] = .string(f) }
        if let k = e.key { meta["key"] = .string(k) }
        if let m = e.model { meta["model"] = .string(m) }
        if let r = e.report {
            meta["prompt_tokens"] = .stringConvertible(r.promptTokens)
            meta["completion_tokens"] = .stringConvertible(r.completionTokens)
            if let t = r.timeToFirstToken { meta["ttft_s"] = Self.number(t, places: 4) }
            meta["finish"] = .string(r.finishReasons.joined(separator: ","))
            meta["stream"] = .stringConvertible(r.stream)
            if let a = r.adapter { meta["adapter"] = .string(a) }
            // Only for requests that speculated: the others have no rate to show.
            if let rate = r.speculation.acceptance {
                meta["spec_proposed"] = .stringConvertible(r.speculation.proposed)
                meta["spec_accepted"] = .stringConvertible(r.speculation.accepted)
                meta["spec_acceptance"] = Self.number(rate, places: 3)
            }
            if let p = r.prompt { meta["prompt"] = .string(p) }
            if let o = r.output { meta["output"] = .array(o.map { .string($0) }) }
        }
        logger.info("\(e.method) \(e.path) \(e.status ?? 0)", metadata: meta)
    }

    /// A measure rounded to `places` decimals, a number in JSON lines (not a string).
    static func number(_ x: Double, places: Int) -> Logger.Metadata.Value {
        let f = pow(10, Double(places))
        return .stringConvertible((x * f).rounded() / f)
    }

    /// Known paths as themselves; anything else as "other", so labels stay few.
    static func endpointLabel(_ path: String) -> String {
        let known = Set(APIRoute.allCases.map(\.path) + ["/", "/health", "/ready", "/metrics", "/version"])
        if known.contains(path) { return path }
        if path.hasPrefix("/v1/models/") { return "/v1/models/{id}" }
        if path.hasPrefix("/v1/responses/") { return path.hasSuffix("/input_items") ? "/v1/responses/{id}/input_items" : "/v1/responses/{id}" }
        return "other"
    }
}
