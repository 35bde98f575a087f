import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One accepted socket. Lives on one event loop and is touched only on its queue.
/// This file holds the transport side (readiness, reads, writes, TLS, timeouts, closing);
/// `HTTPConnection+Exchange.swift` holds requests and responses. Readiness comes either from
/// this connection's own read/write dispatch sources or, in epoll mode, from its loop.
/// Reads always drain the socket (or come back for the rest), which both modes need.
final class HTTPConnection {
    enum Deadline { case none, header, body, idle, write, linger }

    let fd: Int32
    let loop: EventLoop
    let context: ServerContext
    let remoteAddress: String
    /// Counted against `maxConnections` (rejected connections are not).
    let counted: Bool

    private var readSource: DispatchSourceRead?
    private var writeSource: DispatchSourceWrite?
    private var writeArmed = false
    private var readSuspended = false
    private var sourcesLeft = 0
    /// Readiness comes from the loop's epoll set instead of this connection's own sources.
    private var usesEpoll = false
    var tls: TLSSession?

    var input: [UInt8] = []
    var inputStart = 0
    private var output: [UInt8] = []
    private var outputStart = 0

    var parser: HTTPRequestParser
    private(set) var closed = false
    /// Close once the output is flushed (after an error, `Connection: close`, or on drain).
    var closeAfterFlush = false
    private var lingering = false
    /// Inside `processInput`: writes are batched and flushed once at its end.
    var processing = false
    var draining = false

    private(set) var deadlineKind = Deadline.none
    private var deadline: UInt64 = 0

    // Current exchange (see the Exchange extension).
    var head: HTTPRequestHead?
    var body: [UInt8] = []
    var responder: HTTPResponder?
    var response = ResponseState()

    init(fd: Int32, loop: EventLoop, context: ServerContext, remoteAddress: String, counted: Bool) {
        self.fd = fd
        self.loop = loop
        self.context = context
        self.remoteAddress = remoteAddress
        self.counted = counted
        parser = HTTPRequestParser(limits: context.configuration.limits)
    }

    // MARK: - Lifecycle

    /// Registers with the loop and starts reading. Called on the loop queue.
    func start(rejectWith status: HTTPStatus? = nil) {
        loop.register(self)
        if let tlsContext = context.tls {
            guard let session = TLSSession(context: tlsContext) else { return close() }
            tls = session
        }
        #if os(Linux)
        usesEpoll = loop.epoll != nil && loop.watch(self)
        #endif
        if !usesEpoll {
            let read = DispatchSource.makeReadSource(fileDescriptor: fd, queue: loop.queue)
            read.setEventHandler { [unowned self] in handleReadable() }
            read.setCancelHandler { [self] in sourceCancelled() }
            readSource = read
            sourcesLeft = 1
            read.resume()
        }
        if let status {
            // Over the connection limit: answer at once and close (plain TCP only; TLS peers just get closed).
            guard tls == nil else { return close() }
            sendError(status, code: "too_many_connections", message: "Server is at its connection limit.")
            flush()
            return
        }
        setDeadline(.header, after: context.configuration.headerTimeout)
    }

    /// Stops reading new requests; an idle connection closes now, a busy one after its response.
    func beginDrain() {
        draining = true
        if responder == nil && parser.isIdle && input.count == inputStart && !closeAfterFlush { close() }
    }

    /// Drops the connection; an unfinished response's handler is cancelled.
    func close() {
        guard !closed else { return }
        closed = true
        let pending = responder
        responder = nil
        if let tls {
            // Best effort close_notify; the socket is non-blocking and closing anyway.
            tls.shutdown()
            var tail: [UInt8] = []
            tls.takeOutput(into: &tail)
            if !tail.isEmpty { _ = tail.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
        }
        if let writeSource {
            if !writeArmed { writeSource.resume() }  // a suspended source must be resumed to be cancelled
            writeSource.cancel()
        }
        if let readSource {
            if readSuspended { readSource.resume() }
            readSource.cancel()
        }
        #if os(Linux)
        if usesEpoll { loop.unwatch(self) }  // before close: the fd number may be reused at once
        #endif
        if readSource == nil && writeSource == nil { Glibc.close(fd) }
        readSource = nil
        writeSource = nil
        loop.unregister(self)
        if counted { context.releaseConnection() }
        pending?.cancel()
    }

    private func sourceCancelled() {
        sourcesLeft -= 1
        // The fd may be closed only after every source on it is cancelled.
        if sourcesLeft == 0 { Glibc.close(fd) }
    }

    /// Epoll mode: the loop reports readiness (edge-triggered).
    func socketReady(readable: Bool, writable: Bool) {
        if readable { handleReadable() }
        if writable && !closed && outputStart < output.count { flush() }
    }

    // MARK: - Reading

    private func handleReadable() {
        guard !closed, !readSuspended else { return }
        let buffer = loop.readBuffer
        var eof = false
        var drained = false
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n > 0 {
                if lingering { continue }  // discard what a rejected client still sends
                if !ingest(UnsafeRawBufferPointer(rebasing: buffer[0..<n])) { return }
                if n < buffer.count { drained = true; break }  // new data will signal again
                if input.count - inputStart > inputLimit { break }
                continue
            }
            if n == 0 { eof = true; break }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { drained = true; break }
            return close()  // ECONNRESET and friends: the peer is gone
        }
        if lingering {
            if eof { close() }
            return
        }
        if tls?.peerClosed == true { eof = true }
        processInput()
        if eof { peerClosed() }
        updateReadInterest()
        if !drained && !eof && !closed && !readSuspended {
            // Stopped early with bytes left in the socket: an edge-triggered set will not
            // report them again, so come back for them.
            loop.queue.async { [weak self] in self?.handleReadable() }
        }
    }

    /// Takes raw bytes from the socket; false if the connection was closed.
    private func ingest(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let tls else {
            input.append(contentsOf: bytes)
            return true
        }
        do {
            try tls.receive(bytes, into: &input)
            tls.takeOutput(into: &output)  // handshake records
            if outputStart < output.count && !processing { flush() }
            return !closed
        } catch {
            close()  // a bad handshake or record closes this connection only
            return false
        }
    }

    private func peerClosed() {
        guard !closed else { return }
        if responder != nil || outputStart == output.count {
            return close()  // an unfinished handler learns through onCancel
        }
        closeAfterFlush = true  // a response is still going out: finish it, then close
    }

    /// Pipelined bytes beyond this wait in the kernel until the current response is done.
    private var inputLimit: Int {
        let limits = context.configuration.limits
        return limits.maxRequestLineLength + limits.maxHeaderBytes + 64 * 1024
    }

    /// Pauses reading while too much unparsed input is queued behind a busy exchange.
    func updateReadInterest() {
        guard !closed else { return }
        let tooMuch = input.count - inputStart > inputLimit
        if tooMuch && !readSuspended {
            readSource?.suspend()
            readSuspended = true
        } else if !tooMuch && readSuspended {
            readSource?.resume()
            readSuspended = false
            loop.queue.async { [weak self] in self?.handleReadable() }  // bytes may have arrived meanwhile
        }
    }

    func compactInput() {
        if inputStart == input.count {
            input.removeAll(keepingCapacity: input.capacity <= 256 * 1024)
            inputStart = 0
        } else if inputStart > 64 * 1024 {
            input.removeFirst(inputStart)
            inputStart = 0
        }
    }

    // MARK: - Writing

    /// Queues plaintext; sent by `flush`.
    func enqueue(_ bytes: [UInt8]) {
        guard !closed else { return }
        if let tls {
            do {
                try bytes.withUnsafeBytes { try tls.send($0) }
                tls.takeOutput(into: &output)
            } catch {
                close()
            }
        } else if output.isEmpty {
            output = bytes
        } else {
            output.append(contentsOf: bytes)
        }
    }

    var pendingOutput: Int { output.count - outputStart }

    /// Writes as much as the socket takes; arms the write source for the rest.
    /// `reportPending: false` lets `writeChunk` report the result itself, atomically with the hand-over.
    func flush(reportPending: Bool = true) {
        guard !closed else { return }
        var progressed = false
        while outputStart < output.count {
            let n = output.withUnsafeBytes { send(fd, $0.baseAddress! + outputStart, $0.count - outputStart, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                outputStart += n
                progressed = true
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) { break }
            return close()  // EPIPE, ECONNRESET: the client is gone
        }
        if outputStart == output.count {
            output.removeAll(keepingCapacity: output.capacity <= 256 * 1024)
            outputStart = 0
            disarmWrite()
            if closeAfterFlush { return finishClosing() }
            if deadlineKind == .write {
                // Written out: back to whatever the connection is waiting for. A request that
                // started while the previous response was still going out gets its read timeout now.
                let timeouts = context.configuration
                if responder != nil {
                    setDeadline(.none)
                } else if parser.isIdle {
                    setDeadline(.idle, after: timeouts.idleTimeout)
                } else if parser.isReadingBody {
                    setDeadline(.body, after: timeouts.bodyTimeout)
                } else {
                    setDeadline(.header, after: timeouts.headerTimeout)
                }
            }
        } else {
            if outputStart >= 256 * 1024 {
                output.removeFirst(outputStart)
                outputStart = 0
            }
            armWrite()
            // A slow reader that makes progress is fine; one that stalls for writeTimeout is dropped.
            let kind = deadlineKind
            if kind == .none || kind == .idle || (kind == .write && progressed) {
                setDeadline(.write, after: context.configuration.writeTimeout)
            }
        }
        if reportPending { responder?.transportPendingChanged(pendingOutput) }
    }

    private func armWrite() {
        guard !writeArmed, !usesEpoll else { return }  // epoll reports output space by itself
        if writeSource == nil {
            let source = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: loop.queue)
            source.setEventHandler { [unowned self] in flush() }
            source.setCancelHandler { [self] in sourceCancelled() }
            writeSource = source
            sourcesLeft += 1
        }
        writeSource?.resume()
        writeArmed = true
    }

    private func disarmWrite() {
        guard writeArmed, let writeSource else { return }
        writeSource.suspend()
        writeArmed = false
    }

    /// After the last byte of a closing response: half-close and keep draining the peer's
    /// input briefly, so unread request bytes do not turn our close into a reset that would
    /// destroy the response before the client reads it (nginx's lingering close).
    private func finishClosing() {
        guard !closed, !lingering else { return }
        if let pending = responder {
            responder = nil
            pending.cancel()
        }
        if let tls {
            tls.shutdown()  // close_notify, then the same lingering half-close as plain TCP
            var tail: [UInt8] = []
            tls.takeOutput(into: &tail)
            if !tail.isEmpty { _ = tail.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
            self.tls = nil
        }
        lingering = true
        shutdown(fd, Int32(SHUT_WR))
        setDeadline(.linger, after: 2)
    }

    // MARK: - Timeouts

    func setDeadline(_ kind: Deadline, after seconds: Double = 0) {
        deadlineKind = kind
        // Clamped so an absurd configured timeout cannot overflow the conversion.
        deadline = kind == .none ? 0 : DispatchTime.now().uptimeNanoseconds + UInt64(min(max(0, seconds), 1e9) * 1e9)
    }

    func checkTimeout(now: UInt64) {
        guard !closed, deadline != 0, now >= deadline else { return }
        switch deadlineKind {
        case .none: return
        case .idle, .linger, .write: close()
        case .header:
            // Nothing received at all: just close, as for an idle keep-alive connection.
            if parser.isIdle { return close() }
            timedOut()
        case .body: timedOut()
        }
    }

    private func timedOut() {
        setDeadline(.none)
        sendError(.requestTimeout, code: "request_timeout", message: "Timed out reading the request.")
        flush()
    }
}
