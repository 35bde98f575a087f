/// The protocol side of one HTTP/1.1 connection, as a value. It takes events (bytes read, output
/// flushed, peer closed, timer fired, response complete, drain) and returns the actions the
/// connection must carry out (dispatch a request, queue bytes, answer an error, pause or resume
/// reading, half-close, close, arm or cancel its timer). It owns the request parser, the unparsed
/// input and every timeout decision, but no socket and no clock: each event carries `now`, so the
/// timeouts are tested with made-up instants. `HTTPConnection` is the driver that performs the
/// actions with system calls; `HTTPConnectionStateMachine+Reading.swift` holds the parsing half.
///
/// Requests on one connection are answered strictly in order: the next pipelined request is
/// parsed only once the previous response is complete, on a later turn of the loop (`.parseLater`),
/// and only while little of the output before it waits for the peer (`pipelinedOutputLimit`).
struct HTTPConnectionStateMachine {
    enum Action {
        /// A complete request for the handler: body de-chunked and, if it was gzip, inflated
        /// (its `Content-Encoding` header is then removed from `head`).
        case dispatch(HTTPRequestHead, body: [UInt8], trailers: HTTPHeaders)
        /// Bytes to queue for the peer as they are (the interim `100 Continue`).
        case write([UInt8])
        /// Answer with this error; the connection closes after it (the framing cannot be trusted).
        /// `head` is the request it concerns, when its header block was complete.
        /// Answer with this response, decided from `head` before its body (`refuseEarly`); the
        /// connection closes after it, as after an error.
        case refuse(HTTPResponse, head: HTTPRequestHead)
        /// `toHead`: the request was HEAD, so the answer has no content (RFC 9110 §9.3.2).
        case sendError(HTTPParserError, head: HTTPRequestHead?, toHead: Bool)
        case pauseReading
        case resumeReading
        /// The last byte is out: half-close and drain what the peer still sends (lingering close).
        case shutdownWrite
        /// Drop the connection now; a handler still working on a response is cancelled.
        case close
        /// Call `timerFired` at this instant (replaces any earlier one).
        case armTimer(MonotonicInstant)
        case cancelTimer
        /// Call `resumeParsing` on a later turn of the loop: buffered pipelined requests wait
        /// for it, so one client's burst never holds the loop's other connections.
        case parseLater
    }

    enum State: Equatable {
        /// Between requests, or receiving one (the parser knows which).
        case reading
        /// A request went to the handler and its response is not complete; `keepAlive` says
        /// whether the connection stays open after it.
        case responding(keepAlive: Bool)
        /// The last response is queued: once it is sent, half-close.
        case closingAfterFlush
        /// Half-closed, discarding input until the peer closes or the linger timeout ends.
        case lingering
        case closed
    }

    /// What the armed timer waits for.
    enum TimerKind: Equatable {
        /// The rest of a request's header block (from accept, or from its first byte) → 408.
        case header
        /// The next body byte → 408.
        case body
        /// A keep-alive connection's next request → silent close.
        case idle
        /// Progress in sending queued output to a peer that does not read → close.
        case write
        /// The peer's close after our half-close → close.
        case linger
    }

    struct Timer: Equatable {
        var kind: TimerKind
        var deadline: MonotonicInstant
    }

    /// Seconds, from `HTTPServerConfiguration`.
    struct Timeouts {
        var header: Double
        var body: Double
        var idle: Double
        var write: Double
        var linger: Double
        var lingerTotal: Double

        init(_ configuration: HTTPServerConfiguration) {
            header = configuration.headerTimeout
            body = configuration.bodyTimeout
            idle = configuration.idleTimeout
            write = configuration.writeTimeout
            linger = configuration.lingerTimeout
            lingerTotal = max(configuration.lingerTimeout, configuration.lingerTotal)
        }

        func seconds(_ kind: TimerKind) -> Double {
            switch kind {
            case .header: return header
            case .body: return body
            case .idle: return idle
            case .write: return write
            case .linger: return linger
            }
        }
    }

    /// Pipelined input allowed beyond one request line and header block while a response is
    /// pending; past it reading pauses and the rest waits in the kernel.
    static let maxPipelinedSlack = 64 * 1024
    /// Output waiting for the peer above which no further request is parsed: a client that sends
    /// requests and reads nothing gets nothing more computed and buffered for it (nginx starts
    /// a pipelined request only once the previous response is written, too).
    static let pipelinedOutputLimit = 64 * 1024

    private(set) var state = State.reading
    private(set) var timer: Timer?
    private(set) var readPaused = false
    var draining = false  // set by `beginDrain`, and for a health probe over the connection limit
    /// Buffered input waits for `resumeParsing` (see `.parseLater`).
    private(set) var parseDeferred = false
    /// A `.parseLater` is out and its `resumeParsing` has not come yet.
    private var parseScheduled = false
    /// The peer sent its FIN after requests still buffered: they are answered, then the connection closes.
    private(set) var peerFinished = false
    /// A request was dispatched on this connection.
    private(set) var answered = false
    /// The head of the response being produced went out without `Connection: close` (before a
    /// drain began): the client may have pipelined requests behind it, which are then answered.
    private(set) var headPromisedKeepAlive = false

    /// Over the server's connection limit: only a request for `answeredAtLimit` is answered.
    private(set) var overLimit = false
    let answeredAtLimit: Set<String>

    let timeouts: Timeouts
    let maxInflatedBodyBytes: Int
    let inputLimit: Int
    let refuseEarly: (@Sendable (HTTPRequestHead) -> HTTPResponse?)?
    let earlyCheckBytes: Int

    // Reading side (see the extension).
    var parser: HTTPRequestParser
    var input: [UInt8] = []
    var inputStart = 0
    var head: HTTPRequestHead?
    var body: [UInt8] = []

    init(configuration: HTTPServerConfiguration) {
        timeouts = Timeouts(configuration)
        maxInflatedBodyBytes = configuration.maxInflatedBodyBytes
        refuseEarly = configuration.refuseEarly
        earlyCheckBytes = configuration.earlyCheckBytes
        answeredAtLimit = configuration.pathsAnsweredAtLimit
        let limits = configuration.limits
        inputLimit = limits.maxRequestLineLength + limits.maxHeaderBytes + Self.maxPipelinedSlack
        parser = HTTPRequestParser(limits: limits)
    }

    /// Whether the response being produced leaves the connection open (`Connection: close` if not).
    var responseKeepsAlive: Bool {
        if case .responding(let keepAlive) = state { return keepAlive && !draining }
        return false
    }

    /// The response's head is written with what `responseKeepsAlive` says now.
    mutating func headWritten() { headPromisedKeepAlive = responseKeepsAlive }

    var isLingering: Bool { state == .lingering }
    /// Where the lingering close ends however much the peer still sends.
    private var lingerEnd: MonotonicInstant?

    /// The peer sent more while lingering (discarded): a client still uploading a refused body
    /// keeps the connection `linger` seconds more, so it reads the answer before a reset, up to
    /// `lingerTotal` (nginx's lingering_timeout and lingering_time).
    /// Past `lingerTotal` the connection closes here: a peer sending without pause never lets the
    /// socket run dry, so the discarding read loop would not yield to the timer.
    mutating func inputWhileLingering(now: MonotonicInstant) -> [Action] {
        guard state == .lingering, let end = lingerEnd else { return [] }
        let before = timer
        var actions: [Action] = []
        if now >= end {
            close(into: &actions)
            return finish(&actions, timerBefore: before)
        }
        timer = Timer(kind: .linger, deadline: min(now.adding(seconds: timeouts.linger), end))
        return finish(&actions, timerBefore: before)
    }

    // MARK: - Events

    static let atConnectionLimit = HTTPParserError(.serviceUnavailable, "too_many_connections", "Server is at its connection limit.")

    /// Seconds an over-limit connection has to show it is a health probe.
    static let probeHeaderSeconds = 2.0

    /// A new connection. Over the server's connection limit it gets 503 and is closed; one that
    /// `mayBeProbe` (a few places, `ServerContext.maxProbes`) first shows its request head, within
    /// `probeHeaderSeconds`: a request for `answeredAtLimit` is answered. Otherwise its first
    /// request must be complete within the header timeout.
    mutating func start(now: MonotonicInstant, overConnectionLimit: Bool, mayBeProbe: Bool = false) -> [Action] {
        let before = timer
        var actions: [Action] = []
        if overConnectionLimit && (answeredAtLimit.isEmpty || !mayBeProbe) {
            fail(Self.atConnectionLimit, into: &actions)
        } else {
            overLimit = overConnectionLimit
            arm(.header, now: now)
            if overLimit, let t = timer {
                timer = Timer(kind: .header, deadline: min(t.deadline, now.adding(seconds: Self.probeHeaderSeconds)))
            }
        }
        return finish(&actions, timerBefore: before)
    }

    /// Plaintext bytes from the peer; `pendingOutput`: bytes still waiting for it.
    mutating func received(_ bytes: UnsafeRawBufferPointer, pendingOutput: Int, now: MonotonicInstant) -> [Action] {
        let before = timer
        var actions = Self.actionList()
        switch state {
        case .reading:
            input.append(contentsOf: bytes)
            if parseDeferred {
                break  // parsed on its turn
            } else if pendingOutput > Self.pipelinedOutputLimit {
                parseDeferred = true  // once the peer takes its output (`outputFlushed`)
            } else {
                parseBuffered(now: now, into: &actions)
            }
        case .responding:
            input.append(contentsOf: bytes)  // the next request waits for this response
        case .closingAfterFlush, .lingering, .closed:
            return []  // nothing after an error or a final response is ever answered
        }
        updateReadInterest(into: &actions)
        return finish(&actions, timerBefore: before)
    }

    /// The driver tried to send its queued output; `pendingOutput` bytes are still waiting.
    mutating func outputFlushed(pendingOutput: Int, progressed: Bool, now: MonotonicInstant) -> [Action] {
        let before = timer
        var actions: [Action] = []
        switch state {
        case .closed, .lingering:
            return []
        case .closingAfterFlush where pendingOutput == 0:
            state = .lingering
            actions.append(.shutdownWrite)
            updateReadInterest(into: &actions)  // lingering reads (and discards) until the peer closes
            arm(.linger, now: now)
            lingerEnd = now.adding(seconds: timeouts.lingerTotal)
        default:
            if pendingOutput <= Self.pipelinedOutputLimit { scheduleParse(into: &actions) }
            if pendingOutput == 0 {
                // Written out: back to whatever the connection waits for. A request that started
                // while the previous response was still going out gets its read timeout now.
                if timer?.kind == .write { setRestingTimer(now: now) }
            } else {
                // A slow reader that makes progress is fine; one that stalls for the write timeout is dropped.
                let kind = timer?.kind
                if kind == nil || kind == .idle || (kind == .write && progressed) { arm(.write, now: now) }
            }
        }
        return finish(&actions, timerBefore: before)
    }

    /// EOF from the peer (or a TLS close_notify).
    mutating func peerClosed(pendingOutput: Int, now: MonotonicInstant) -> [Action] {
        let before = timer
        var actions: [Action] = []
        switch state {
        case .closed:
            return []
        case .lingering, .responding:
            close(into: &actions)  // an unfinished handler learns through its cancellation
        case .reading where parseDeferred:
            // Requests sent before the FIN are answered first (`printf '…' | nc -N`); its EOF is
            // not read again meanwhile.
            peerFinished = true
            if !readPaused {
                readPaused = true
                actions.append(.pauseReading)
            }
        case .reading, .closingAfterFlush:
            if pendingOutput == 0 {
                close(into: &actions)
            } else {
                // A response is still going out: finish it, then close. There is nothing left to
                // read, and a level-triggered source would keep reporting the EOF meanwhile:
                // reading pauses until the lingering close, which then sees the EOF at once.
                state = .closingAfterFlush
                if !readPaused {
                    readPaused = true
                    actions.append(.pauseReading)
                }
            }
        }
        return finish(&actions, timerBefore: before)
    }

    /// The clock passed the armed timer's deadline (the driver may call this late, never early
    /// on purpose; an early call does nothing).
    mutating func timerFired(now: MonotonicInstant) -> [Action] {
        guard let current = timer, now >= current.deadline, state != .closed else { return [] }
        var actions: [Action] = []
        switch current.kind {
        case .idle, .write, .linger:
            close(into: &actions)
        case .header where parser.isIdle:
            close(into: &actions)  // nothing received at all: just close, as for an idle keep-alive
        case .header, .body:
            timer = nil
            fail(HTTPParserError(.requestTimeout, "request_timeout", "Timed out reading the request."), into: &actions)
        }
        return finish(&actions, timerBefore: current)
    }

    /// The handler's whole response is queued (`respond`, or `end` of a stream); `pendingOutput`
    /// bytes (that response's among them) wait for the peer.
    mutating func responseCompleted(pendingOutput: Int, now: MonotonicInstant) -> [Action] {
        guard case .responding(let keepAlive) = state else { return [] }
        let before = timer
        var actions = Self.actionList()
        if keepAlive && !draining && !(peerFinished && inputStart == input.count) {
            state = .reading
            // A reader still owes us progress on queued output: its write timer stays until the
            // output drains, then gives way to the idle (or read) timer.
            armRead(.idle, now: now)
            if inputStart < input.count {
                // Pipelined requests already buffered: on a later turn, once the output is taken.
                parseDeferred = true
                if pendingOutput <= Self.pipelinedOutputLimit { scheduleParse(into: &actions) }
            }
        } else if keepAlive && headPromisedKeepAlive && inputStart < input.count {
            // A drain began after this response's head said the connection stays open: what
            // the client pipelined behind it is answered (each `Connection: close`, so it learns
            // to stop), not dropped unanswered.
            state = .reading
            parseDeferred = true
            if pendingOutput <= Self.pipelinedOutputLimit { scheduleParse(into: &actions) }
        } else {
            endAfterResponse()
        }
        headPromisedKeepAlive = false
        updateReadInterest(into: &actions)
        return finish(&actions, timerBefore: before)
    }

    /// The turn `.parseLater` asked for: buffered requests are parsed, unless the output before
    /// them is still mostly unread (`outputFlushed` asks again once it is taken).
    mutating func resumeParsing(pendingOutput: Int, now: MonotonicInstant) -> [Action] {
        parseScheduled = false
        guard parseDeferred, state == .reading, pendingOutput <= Self.pipelinedOutputLimit else { return [] }
        let before = timer
        var actions = Self.actionList()
        parseDeferred = false
        // A whole request is answered even while draining (with `Connection: close`); a partial
        // one is waited for, as by `beginDrain`.
        parseBuffered(now: now, into: &actions)
        if state == .reading && (peerFinished || draining && parser.isIdle && inputStart == input.count) {
            endAfterResponse()  // nothing more will come, or nothing more is wanted
        }
        updateReadInterest(into: &actions)
        return finish(&actions, timerBefore: before)
    }

    private mutating func scheduleParse(into actions: inout [Action]) {
        guard parseDeferred, !parseScheduled, state == .reading else { return }
        parseScheduled = true
        actions.append(.parseLater)
    }

    /// The last response is queued: what else is buffered is never answered.
    private mutating func endAfterResponse() {
        state = .closingAfterFlush
        input = []
        inputStart = 0
        parseDeferred = false
        disarmRead()  // the flush that follows half-closes
    }

    /// The response has no length and ends when the connection closes (a stream to HTTP/1.0).
    mutating func responseEndsWithClose() {
        if case .responding = state { state = .responding(keepAlive: false) }
    }

    /// The server stops: an idle connection closes now (or once its output is sent), a busy one
    /// after its current response.
    /// `closeUnused`: close a connection that has not answered a request yet too (the server stops
    /// accepting); at the start of a drain it is left its one request, which may be on its way.
    mutating func beginDrain(pendingOutput: Int, closeUnused: Bool = true, now: MonotonicInstant) -> [Action] {
        draining = true
        guard state == .reading, parser.isIdle, inputStart == input.count, closeUnused || answered else { return [] }
        let before = timer
        var actions: [Action] = []
        if pendingOutput == 0 {
            close(into: &actions)
        } else {
            state = .closingAfterFlush
        }
        return finish(&actions, timerBefore: before)
    }

    /// A connection accepted while the server drains: it stays open for one request and its answer.
    mutating func markDraining() { draining = true }

    /// The driver closed the connection on its own (socket error, buffer overflow, server stop).
    mutating func markClosed() {
        state = .closed
        timer = nil
    }

    // MARK: - Helpers

    mutating func arm(_ kind: TimerKind, now: MonotonicInstant) {
        timer = Timer(kind: kind, deadline: now.adding(seconds: timeouts.seconds(kind)))
    }

    /// No read timeout any more; the write timeout of unread output, if one runs, stays.
    mutating func disarmRead() {
        if timer?.kind != .write { timer = nil }
    }

    /// A request goes to the handler. The handler has no deadline here; a stalled reader of its
    /// response gets one (the write timeout).
    /// A write timer already running (output before this request still unread) stays.
    mutating func beginResponse(keepAlive: Bool) {
        answered = true
        state = .responding(keepAlive: keepAlive)
        disarmRead()
    }

    /// The timer of a connection that waits for its peer rather than for its peer to read.
    private mutating func setRestingTimer(now: MonotonicInstant) {
        switch state {
        case .reading:
            if parser.isIdle {
                arm(.idle, now: now)
            } else {
                arm(parser.isReadingBody ? .body : .header, now: now)
            }
        default:
            timer = nil  // a handler is at work: it has no deadline here
        }
    }

    /// The fields of the request being read, for an error raised before its head was whole.
    var fieldsSoFar: HTTPHeaders { parser.fieldsSoFar }
    /// Its path, once its request line is read.
    var pathSoFar: String? { parser.targetSoFar.map { HTTPRequest.splitTarget($0).0 } }

    mutating func fail(_ error: HTTPParserError, into actions: inout [Action]) {
        actions.append(.sendError(error, head: head, toHead: (head?.method ?? parser.requestMethod) == "HEAD"))
        closeAfterAnswer()
    }

    /// `response` for `head`, whose body is never read: the connection closes after it.
    mutating func refuse(_ response: HTTPResponse, head: HTTPRequestHead, into actions: inout [Action]) {
        actions.append(.refuse(response, head: head))
        closeAfterAnswer()
    }

    private mutating func closeAfterAnswer() {
        head = nil
        body = []
        input = []
        inputStart = 0
        state = .closingAfterFlush
        timer = nil
    }

    private mutating func close(into actions: inout [Action]) {
        markClosed()
        actions.append(.close)
    }

    /// Pauses reading while too much unparsed input is queued behind a busy exchange.
    mutating func updateReadInterest(into actions: inout [Action]) {
        let tooMuch: Bool
        switch state {
        case .reading, .responding: tooMuch = peerFinished || input.count - inputStart > inputLimit
        case .closingAfterFlush: tooMuch = peerFinished  // else what arrives now is discarded; an EOF is not read twice
        case .lingering: tooMuch = false
        case .closed: return
        }
        guard tooMuch != readPaused else { return }
        readPaused = tooMuch
        actions.append(tooMuch ? .pauseReading : .resumeReading)
    }

    /// Appends the one timer action an event needs, if the timer changed.
    private func finish(_ actions: inout [Action], timerBefore: Timer?) -> [Action] {
        if state != .closed && timer != timerBefore {
            actions.append(timer.map { .armTimer($0.deadline) } ?? .cancelTimer)
        }
        return actions
    }

    /// An empty action list with room for a typical event's actions, so appending to it
    /// allocates once: events run for every request.
    static func actionList() -> [Action] {
        var actions: [Action] = []
        actions.reserveCapacity(4)
        return actions
    }
}
