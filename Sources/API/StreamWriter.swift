import Dispatch
import Foundation
import HTTP
import Synchronization

/// Writes one streamed response and turns the connection's backpressure into engine pauses.
/// When the bytes the client has not read reach the responder's limit (the high-water mark),
/// the stream's requests are paused in the engine: they keep their KV blocks and cost no
/// step time. When the buffer drains to half the limit (the low-water mark) they resume, so
/// the client gets every token, in order. Paused longer than `timeout` seconds, the request
/// is given up: the connection is closed, which cancels the job and frees its blocks.
///
/// Without this the producer would overrun the responder's buffer and the stream be cut.
final class StreamWriter: Sendable {
    private let responder: HTTPResponder
    private let service: InferenceService
    private let requestIDs: [String]
    private let timeout: Double
    /// Held strongly: the observer (the access log) outlives every stream and holds no writer.
    private let observer: APIObserver?
    private struct Pause {
        var paused = false
        var count = 0  // identifies each pause, so a stale timer does nothing
    }
    private let pause = Mutex(Pause())
    private let abortTold = Mutex(false)  // set too when the writer gives up on a slow reader

    init(responder: HTTPResponder, service: InferenceService, requestIDs: [String], timeout: Double, observer: APIObserver?) {
        self.responder = responder
        self.service = service
        self.requestIDs = requestIDs
        self.timeout = timeout
        self.observer = observer
    }

    /// A choice was aborted: by its client (gone, so nothing is written), by this writer giving
    /// up on a slow reader (nothing either), or by the server at the end of a drain. The client then learns it with one error event (its other choices
    /// were aborted too) rather than a stream that stops without a finish reason.
    /// `event`: what tells it (the Responses API's typed events; chat's error chunk by default).
    func abortedByServer(_ event: [UInt8]? = nil) {
        guard !responder.isCancelled, abortTold.withLock({ told in defer { told = true }; return !told }) else { return }
        write(event ?? SSE.event(APIError.serverEnded.json))
    }

    /// Queues one SSE event; pauses the stream's requests if the client is behind.
    func write(_ bytes: [UInt8]) {
        if responder.write(bytes) || responder.isCancelled { return }
        let current: Int? = pause.withLock { p in
            guard !p.paused else { return nil }
            p.paused = true
            p.count += 1
            return p.count
        }
        guard let current else { return }
        // Unknown (already finished) ids are ignored by the engine, so pausing all is safe.
        for id in requestIDs { service.pause(id) }
        observer?.slowReader(aborted: false)
        // Fires once the buffer drains to the low-water mark, or at once if it already has,
        // or when the client goes away.
        responder.onWritable { [self] in resume() }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout) { [self] in expire(current) }
    }

    private func resume() {
        let wasPaused = pause.withLock { p -> Bool in
            defer { p.paused = false }
            return p.paused
        }
        guard wasPaused else { return }
        for id in requestIDs { service.resume(id) }
    }

    /// Still in the same pause after the timeout: the client is gone in all but name.
    private func expire(_ current: Int) {
        let expired = pause.withLock { $0.paused && $0.count == current }
        guard expired, !responder.isCancelled else { return }
        observer?.slowReader(aborted: true)
        // Closing the connection fires onCancel: the job aborts its requests and their blocks are freed.
        abortTold.withLock { $0 = true }  // its own abort is no shutdown to tell about
        for id in requestIDs { service.abort(id) }
        responder.abort()
    }
}
