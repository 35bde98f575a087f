/// The handle a handler answers through. Every method may be called from any thread or queue,
/// at any later time; calls from one thread are carried out in order.
///
/// Either `respond(_:)` once, or `startStream(status:headers:)`, any number of `write(_:)`,
/// then `end()`. Streamed bodies go out with `Transfer-Encoding: chunked` (HTTP/1.1), each
/// write flushed as one chunk.
///
/// Backpressure: `write` always queues the chunk and returns false once the bytes not yet
/// sent (chunk framing included) reach `maxResponseBufferBytes`, so a producer that obeys keeps
/// at most that limit plus one chunk buffered; it should then stop and wait for the callback
/// given to `onWritable` (or use `writeAndWait`). A producer that ignores it and writes again
/// with more than four times the limit, `burstSlack` and the chunk that crossed the limit (which
/// may be large) buffered has its connection closed and is cancelled, so memory stays bounded. (The slack lets an obeying producer finish what one step made: a speculative
/// step of 16 choices is ~150 events; with a 1 KiB limit, 4× alone cut such streams.)
///
/// `onCancel` fires once, as soon as the client is gone (EOF, reset, EPIPE), a timeout or
/// server stop drops the connection, or the buffer overflows; it never fires after `end()`.
/// Callbacks run on the connection's loop queue: keep them short and never block in them.
// @unchecked Sendable: the properties under "Guarded by `lock`" are only touched under `lock`;
// `connection` (weak, set in init) is only dereferenced on `loop`'s queue. The callbacks are
// plain (non-Sendable) closures, taken out under the lock and called outside it, on whichever
// thread triggers them.
public final class HTTPResponder: @unchecked Sendable {
    enum Phase { case pending, streaming, finished }

    public let requestID: String
    private weak var connection: HTTPConnection?
    private let loop: EventLoop
    private let lock = Lock()
    private let limit: Int
    static let burstSlack = 64 * 1024

    // Guarded by `lock`.
    private var phase = Phase.pending
    private var crossing = 0  // size of the last chunk written while under the limit
    private var cancelled = false
    private var inFlight = 0  // written by the producer, not yet taken by the loop
    private var transportPending = 0  // taken by the loop, not yet sent to the socket
    private var waitingForWritable = false
    private var cancelCallbacks: [() -> Void] = []
    private var writableCallbacks: [() -> Void] = []
    private var finishCallbacks: [(HTTPStatus) -> Void] = []
    private var extraHeaders = HTTPHeaders()

    init(connection: HTTPConnection, loop: EventLoop, requestID: String, limit: Int) {
        self.connection = connection
        self.loop = loop
        self.requestID = requestID
        self.limit = max(1, limit)
    }

    // MARK: - Public API

    /// Sends a whole response. Ignored if a response was already started or the client is gone.
    public func respond(_ response: HTTPResponse) {
        let accepted = lock.withLock { () -> Bool in
            guard phase == .pending, !cancelled else { return false }
            phase = .finished
            return true
        }
        guard accepted else { return }
        loop.execute { [self] in connection?.sendWhole(response, for: self) }
    }

    /// Sends the response head of a streamed body. Ignored if a response was already started.
    public func startStream(status: HTTPStatus = .ok, headers: HTTPHeaders = HTTPHeaders()) {
        let accepted = lock.withLock { () -> Bool in
            guard phase == .pending, !cancelled else { return false }
            phase = .streaming
            return true
        }
        guard accepted else { return }
        loop.execute { [self] in connection?.startStream(status: status, headers: headers, for: self) }
    }

    /// Queues one chunk. Returns true if the producer may go on, false if it should wait for
    /// `onWritable` (the chunk is queued either way, unless the stream is cancelled or not open).
    @discardableResult
    public func write(_ bytes: [UInt8]) -> Bool {
        if bytes.isEmpty { return !isCancelled }  // an empty chunk would end the chunked body
        let (accepted, writable, overflow) = lock.withLock { () -> (Bool, Bool, Bool) in
            guard phase == .streaming, !cancelled else { return (false, false, false) }
            // Overflow is writing on past the bound, not one large chunk into a buffer under the
            // limit (an echo's prompt logprobs are one event of a megabyte: such streams were cut),
            // nor the rest of that step's burst after it: the chunk that crossed the limit adds
            // its size to the bound.
            let before = inFlight + transportPending
            if before < limit { crossing = bytes.count }
            if before > 4 * limit + Self.burstSlack + crossing { return (true, false, true) }
            inFlight += bytes.count
            let buffered = inFlight + transportPending
            if buffered >= limit { waitingForWritable = true }
            return (true, buffered < limit, false)
        }
        guard accepted else { return false }
        if overflow {
            loop.execute { [self] in connection?.abort(for: self) }
            return false
        }
        loop.execute { [self] in
            let pending = connection?.writeChunk(bytes, for: self)
            // One step moves the chunk from "in flight" to "in the transport", so the count is
            // never seen low (which would let the producer overshoot) nor double.
            updateAndWake {
                inFlight -= bytes.count
                if let pending { transportPending = pending }
            }
        }
        return writable
    }

    @discardableResult
    public func write(_ text: String) -> Bool { write(Array(text.utf8)) }

    /// Writes, and if the buffer is full suspends until it drains. Returns false once cancelled.
    public func writeAndWait(_ bytes: [UInt8]) async -> Bool {
        if write(bytes) { return true }
        if isCancelled { return false }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            onWritable { continuation.resume() }
        }
        return !isCancelled
    }

    /// Ends a streamed body (the terminating zero-size chunk). Ignored unless streaming.
    public func end() {
        let accepted = lock.withLock { () -> Bool in
            guard phase == .streaming else { return false }
            phase = .finished
            return !cancelled
        }
        guard accepted else { return }
        loop.execute { [self] in connection?.endStream(for: self) }
    }

    /// Queues a last chunk and ends the body in one step on the loop: a client that stops
    /// reading at that chunk (an SSE `[DONE]`) and closes cannot do so before the response is
    /// complete, so it is never counted as gone mid-answer. Ignored unless streaming.
    public func end(after bytes: [UInt8]) {
        let accepted = lock.withLock { () -> Bool in
            guard phase == .streaming else { return false }
            phase = .finished
            return !cancelled
        }
        guard accepted else { return }
        loop.execute { [self] in
            if !bytes.isEmpty { _ = connection?.writeChunk(bytes, for: self) }
            connection?.endStream(for: self)
        }
    }

    /// Calls `callback` once, when the buffer has drained below half the limit, or at once if
    /// writing is possible now. Also called on cancellation, so a waiting producer always wakes.
    public func onWritable(_ callback: @escaping () -> Void) {
        let now = lock.withLock { () -> Bool in
            if cancelled || phase != .streaming || inFlight + transportPending < limit { return true }
            writableCallbacks.append(callback)
            waitingForWritable = true
            return false
        }
        if now { callback() }
    }

    /// Calls `callback` once when the client goes away before the response is complete
    /// (at once if it already has).
    public func onCancel(_ callback: @escaping () -> Void) {
        let now = lock.withLock { () -> Bool in
            if cancelled { return true }
            if phase != .finished { cancelCallbacks.append(callback) }
            return false
        }
        if now { callback() }
    }

    /// Observes the status of the response once it is handed to the transport (for metrics, logs).
    public func onFinish(_ callback: @escaping (HTTPStatus) -> Void) {
        lock.withLock { finishCallbacks.append(callback) }
    }

    /// Adds a header to whatever response is sent later (for middleware: CORS, timing ...).
    public func addHeader(name: String, value: String) {
        lock.withLock { extraHeaders.add(name: name, value: value) }
    }

    /// Drops the connection without finishing the response (the client gets a truncated body);
    /// `onCancel` callbacks fire. For a producer that gives up on a client, e.g. one too slow.
    public func abort() {
        loop.execute { [self] in connection?.abort(for: self) }
    }

    public var isCancelled: Bool { lock.withLock { cancelled } }

    /// Bytes written by the producer and not yet accepted by the socket.
    public var bufferedBytes: Int { lock.withLock { inFlight + transportPending } }

    // MARK: - Called by the connection, on its loop

    var headersToAdd: HTTPHeaders { lock.withLock { extraHeaders } }

    /// Reports how many bytes still sit in the transport's buffer; wakes a waiting producer.
    func transportPendingChanged(_ pending: Int) {
        updateAndWake { transportPending = pending }
    }

    private func updateAndWake(_ update: () -> Void) {
        let callbacks = lock.withLock { () -> [() -> Void] in
            update()
            guard waitingForWritable, inFlight + transportPending <= limit / 2 else { return [] }
            waitingForWritable = false
            defer { writableCallbacks = [] }
            return writableCallbacks
        }
        for callback in callbacks { callback() }
    }

    func cancel() {
        let callbacks = lock.withLock { () -> [() -> Void] in
            guard !cancelled else { return [] }
            cancelled = true
            let wasFinished = phase == .finished
            let result = (wasFinished ? [] : cancelCallbacks) + writableCallbacks
            cancelCallbacks = []
            writableCallbacks = []
            return result
        }
        for callback in callbacks { callback() }
    }

    func finished(status: HTTPStatus) {
        let callbacks = lock.withLock { () -> [(HTTPStatus) -> Void] in
            defer { finishCallbacks = []; cancelCallbacks = [] }
            return finishCallbacks
        }
        for callback in callbacks { callback(status) }
    }
}
