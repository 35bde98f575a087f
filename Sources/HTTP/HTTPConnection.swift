import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One accepted socket: the driver of an `HTTPConnectionStateMachine`. It feeds the machine what
/// the socket, the loop's tick and the handler report, and carries out the actions it returns
/// with system calls. Lives on one event loop and is touched only on its queue.
/// This file holds the transport side (readiness, reads, writes, TLS, closing);
/// `HTTPConnection+Exchange.swift` holds handler dispatch and response serialization.
/// Readiness comes either from this connection's own read/write dispatch sources or, in epoll
/// mode, from its loop. Reads always drain the socket (or come back for the rest), which both modes need.
// @unchecked Sendable: confined to its loop's serial queue (every method runs there); closures
// that hop back onto that queue capture it weakly.
final class HTTPConnection: @unchecked Sendable {
    typealias Action = HTTPConnectionStateMachine.Action

    /// An emptied output buffer keeps its storage up to this size.
    static let keepCapacityLimit = 256 * 1024
    /// Output already sent is cut from the front of the buffer past this many bytes.
    static let compactThreshold = 256 * 1024

    let fd: Int32
    let loop: EventLoop
    let context: ServerContext
    let remoteAddress: String
    /// Counted against `maxConnections` (rejected connections are not).
    let counted: Bool
    /// Over the limit, holding one of the few places of connections that may be health probes.
    let probe: Bool

    private var readSource: DispatchSourceRead?
    private var writeSource: DispatchSourceWrite?
    private var writeArmed = false
    private var readSuspended = false
    /// The peer sent its FIN (epoll said so): reads go on to the end-of-file.
    private var peerHungUp = false
    private var sourcesLeft = 0
    /// Readiness comes from the loop's epoll set instead of this connection's own sources.
    private var usesEpoll = false
    var tls: TLSSession?
    /// Bytes of the TLS stream have come (so the first-byte check for plain HTTP is done).
    private var tlsBytesSeen = false

    private var output: [UInt8] = []
    private var outputStart = 0

    var machine: HTTPConnectionStateMachine
    private(set) var closed = false
    /// When the machine wants `timerFired`; the loop's tick compares it with the clock.
    private(set) var timerDeadline: MonotonicInstant?
    /// Actions returned while others are being carried out (a handler that answers at once runs
    /// inside `.dispatch`) wait here, so pipelined requests do not nest calls.
    private var queuedActions: [Action] = []
    /// Inside `process`: writes are batched and flushed once at its end.
    private(set) var applying = false

    // Current exchange (see the Exchange extension).
    var responder: HTTPResponder?
    var response = ResponseState()

    init(fd: Int32, loop: EventLoop, context: ServerContext, remoteAddress: String, counted: Bool, probe: Bool = false) {
        self.fd = fd
        self.loop = loop
        self.context = context
        self.remoteAddress = remoteAddress
        self.counted = counted
        self.probe = probe
        machine = HTTPConnectionStateMachine(configuration: context.configuration)
    }

    // MARK: - Lifecycle

    /// Registers with the loop and starts reading. Called on the loop queue.
    func start() {
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
        // Over the connection limit a plain-TCP peer is told so; a TLS peer could not read it.
        if !counted && tls != nil { return close() }
        if context.draining { machine.markDraining() }  // its request is answered, then it closes
        process(machine.start(now: .now, overConnectionLimit: !counted, mayBeProbe: probe))
    }

    /// Stops reading new requests; an idle connection closes now, a busy one after its response.
    func beginDrain(closeUnused: Bool = true) {
        process(machine.beginDrain(pendingOutput: pendingOutput, closeUnused: closeUnused, now: .now))
    }

    /// Called by the loop's tick.
    func tick(now: MonotonicInstant) {
        guard let deadline = timerDeadline, now >= deadline else { return }
        process(machine.timerFired(now: now))
    }

    /// Drops the connection; an unfinished response's handler is cancelled.
    func close() {
        guard !closed else { return }
        closed = true
        machine.markClosed()
        timerDeadline = nil
        let pending = responder
        responder = nil
        if let tls {
            // Best effort close_notify; the socket is non-blocking and closing anyway.
            tls.shutdown()
            sendTLSTail(tls)
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
        if probe { context.releaseProbe() }
        pending?.cancel()
    }

    private func sourceCancelled() {
        sourcesLeft -= 1
        // The fd may be closed only after every source on it is cancelled.
        if sourcesLeft == 0 { Glibc.close(fd) }
    }

    /// Epoll mode: the loop reports readiness (edge-triggered).
    /// `hungUp`: epoll reported the peer's FIN (EPOLLRDHUP/EPOLLHUP) with this edge.
    func socketReady(readable: Bool, writable: Bool, hungUp: Bool = false) {
        if hungUp { peerHungUp = true }
        if readable { handleReadable() }
        if writable && !closed && pendingOutput > 0 { flush() }
    }

    // MARK: - Actions

    /// Carries out the machine's actions in order, then sends what they queued.
    func process(_ actions: [Action]) {
        guard !actions.isEmpty, !closed else { return }
        guard !applying else {
            queuedActions.append(contentsOf: actions)  // the outer call gets to them, after its own
            return
        }
        applying = true
        for action in actions where !closed { apply(action) }
        var next = 0
        while next < queuedActions.count && !closed {
            let action = queuedActions[next]
            next += 1
            apply(action)
        }
        queuedActions.removeAll(keepingCapacity: true)
        applying = false
        flush()
    }

    private func apply(_ action: Action) {
        switch action {
        case let .dispatch(head, body, trailers): dispatch(head, body: body, trailers: trailers)
        case .write(let bytes): enqueue(bytes)
        case let .sendError(error, head, toHead): sendError(error, head: head, toHead: toHead)
        case let .refuse(answer, head): sendRefusal(answer, head: head)
        case .pauseReading: pauseReading()
        case .resumeReading: resumeReading()
        case .shutdownWrite: shutdownWrite()
        case .close: close()
        case .armTimer(let deadline): timerDeadline = deadline
        case .cancelTimer: timerDeadline = nil
        case .parseLater: loop.queue.async { [weak self] in self?.resumeParsing() }
        }
    }

    /// The turn `.parseLater` asked for.
    private func resumeParsing() {
        guard !closed else { return }
        process(machine.resumeParsing(pendingOutput: pendingOutput, now: .now))
    }

    // MARK: - Reading

    private func handleReadable() {
        guard !closed, !readSuspended else { return }
        let buffer = loop.readBuffer
        var eof = false
        var drained = false
        var discarded = 0
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n > 0 {
                if machine.isLingering {  // discard what a rejected client still sends
                    process(machine.inputWhileLingering(now: .now))
                    if closed { return }
                    // A peer that sends as fast as this discards would hold the loop's queue: other
                    // connections and the timers go first after each megabyte.
                    discarded += n
                    if discarded >= 1 << 20 { break }
                    continue
                }
                receive(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                if closed { return }
                // A short read means drained, unless the peer's FIN came with this edge: then
                // read on to the 0, since an edge-triggered set reports nothing more.
                if n < buffer.count && !peerHungUp { drained = true; break }
                if readSuspended { break }  // the machine has enough queued
                continue
            }
            if n == 0 { eof = true; break }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { drained = true; break }
            return close()  // ECONNRESET and friends: the peer is gone
        }
        if tls?.peerClosed == true { eof = true }
        if eof { process(machine.peerClosed(pendingOutput: pendingOutput, now: .now)) }
        if !drained && !eof && !closed && !readSuspended {
            // Stopped early with bytes left in the socket: an edge-triggered set will not
            // report them again, so come back for them.
            loop.queue.async { [weak self] in self?.handleReadable() }
        }
    }

    /// Raw bytes from the socket, decrypted first on TLS.
    private func receive(_ bytes: UnsafeRawBufferPointer) {
        guard let tls else { return process(machine.received(bytes, pendingOutput: pendingOutput, now: .now)) }
        // A TLS connection opens with a handshake record (0x16); a capital letter is a request
        // line, plain HTTP sent to the TLS port: say so in plain HTTP, as nginx does, then close.
        if !tls.handshakeDone && !tlsBytesSeen, let first = bytes.first, (65...90).contains(first) {
            return refusePlainHTTP()
        }
        tlsBytesSeen = true
        var plaintext: [UInt8] = []
        do {
            try tls.receive(bytes, into: &plaintext)
        } catch {
            return close()  // a bad handshake or record closes this connection only
        }
        tls.takeOutput(into: &output)  // handshake records
        if !plaintext.isEmpty { plaintext.withUnsafeBytes { process(machine.received($0, pendingOutput: pendingOutput, now: .now)) } }
        if pendingOutput > 0 && !applying { flush() }
    }

    /// The 400 for plain HTTP on the TLS port, written unencrypted (best effort: the socket's
    /// buffer is empty this early), and the connection closed without TLS alerts.
    private func refusePlainHTTP() {
        let reply = context.configuration.errorResponse(.badRequest, "plain_http_on_tls_port",
                                                        "This port speaks TLS: use https:// for this server.", nil)
        var text = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: \(reply.body.count)\r\n"
        for field in reply.headers where field.name.lowercased() == "content-type" { text += "\(field.name): \(field.value)\r\n" }
        let out = Array((text + "\r\n").utf8) + reply.body
        _ = out.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        tls = nil
        close()
    }

    private func pauseReading() {
        guard !readSuspended else { return }
        readSource?.suspend()
        readSuspended = true
    }

    private func resumeReading() {
        guard readSuspended else { return }
        readSource?.resume()
        readSuspended = false
        loop.queue.async { [weak self] in self?.handleReadable() }  // bytes may have arrived meanwhile
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

    /// Writes as much as the socket takes, arms the write source for the rest, and tells the
    /// machine (which decides the write timeout and the closing). `reportPending: false` lets
    /// `writeChunk` report to the responder itself, atomically with the hand-over.
    func flush(reportPending: Bool = true) {
        guard !closed else { return }
        let before = pendingOutput
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
            output.removeAll(keepingCapacity: output.capacity <= Self.keepCapacityLimit)
            outputStart = 0
            disarmWrite()
        } else {
            // Cut only once the sent part is at least half: each cut copies the rest.
            if outputStart >= Self.compactThreshold && 2 * outputStart >= output.count {
                output.removeFirst(outputStart)
                outputStart = 0
            }
            armWrite()
        }
        if reportPending && (before > 0 || pendingOutput > 0) { responder?.transportPendingChanged(pendingOutput) }
        process(machine.outputFlushed(pendingOutput: pendingOutput, progressed: progressed, now: .now))
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

    /// After the last byte of a closing response: half-close, while the machine keeps draining
    /// the peer's input briefly, so unread request bytes do not turn our close into a reset that
    /// would destroy the response before the client reads it (nginx's lingering close).
    private func shutdownWrite() {
        if let tls {
            tls.shutdown()  // close_notify, then the same lingering half-close as plain TCP
            sendTLSTail(tls)
            self.tls = nil
        }
        shutdown(fd, Int32(SHUT_WR))
    }

    /// Best effort: what the TLS session still has to say (close_notify) goes out directly.
    private func sendTLSTail(_ tls: TLSSession) {
        var tail: [UInt8] = []
        tls.takeOutput(into: &tail)
        if !tail.isEmpty { _ = tail.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } }
    }
}
