/// The reading half of the state machine: buffered input through the parser, request heads,
/// bodies (with gzip bodies inflated), and the read timeouts they arm.
extension HTTPConnectionStateMachine {
    /// Unparsed input is compacted once this much of it was consumed.
    static let compactThreshold = 64 * 1024
    /// An emptied input buffer keeps its storage up to this size.
    static let keepCapacityLimit = 256 * 1024
    static let continueLine = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// Parses what is buffered until a request is dispatched, an error is answered or more
    /// input is needed.
    mutating func parseBuffered(now: MonotonicInstant, into actions: inout [Action]) {
        while state == .reading {
            let base = inputStart
            let (consumed, event) = input.withUnsafeBytes { parser.parse(UnsafeRawBufferPointer(rebasing: $0[base...])) }
            inputStart += consumed
            guard let event else {
                if !parser.isIdle && timer?.kind == .idle {
                    arm(.header, now: now)  // the header timeout runs from a request's first byte
                }
                break
            }
            switch event {
            case .head(let head):
                receivedHead(head, now: now, into: &actions)
            case .body(let range):
                body.append(contentsOf: input[(base + range.lowerBound)..<(base + range.upperBound)])
                armRead(.body, now: now)
            case .end(let trailers):
                finishRequest(trailers: trailers, into: &actions)
            case .error(let error):
                fail(error, into: &actions)
            }
        }
        compactInput()
    }

    /// A read timeout, unless output before this request is still unread: its write timeout stays
    /// (`outputFlushed` gives way to the read timeout once the output is taken).
    mutating func armRead(_ kind: TimerKind, now: MonotonicInstant) {
        if timer?.kind != .write { arm(kind, now: now) }
    }

    private mutating func receivedHead(_ head: HTTPRequestHead, now: MonotonicInstant, into actions: inout [Action]) {
        self.head = head
        body = []
        if overLimit {
            // Over the connection limit: a health probe is answered (and the connection closed after
            // it, as a draining one is), anything else refused.
            guard head.method == "GET" || head.method == "HEAD", answeredAtLimit.contains(head.path) else {
                return fail(Self.atConnectionLimit, into: &actions)
            }
            draining = true
        }
        let badCoding = Self.bodyIsGzip(head.headers) == nil
        if badCoding || head.bodyTooLarge {
            // A refusal decided from the head (no API key) comes before the 415 and the 413, as it
            // does before reading any large body: a client the server does not know learns nothing
            // of its limits and is told how to authenticate (WWW-Authenticate).
            if let refuseEarly, let answer = refuseEarly(head) { return refuse(answer, head: head, into: &actions) }
            if badCoding {
                return fail(HTTPParserError(.unsupportedMediaType, "unsupported_content_encoding", "Unsupported Content-Encoding."),
                            into: &actions)
            }
            return fail(HTTPParserError.bodyTooLarge, into: &actions)
        }
        if case .length(let n) = head.framing { body.reserveCapacity(min(n, 1 << 20)) }
        if head.framing == .none {
            disarmRead()  // `.end` follows at once
            return
        }
        if let refuseEarly, Self.checksEarly(head, over: earlyCheckBytes), let answer = refuseEarly(head) {
            return refuse(answer, head: head, into: &actions)
        }
        armRead(.body, now: now)
        if head.expectContinue && inputStart == input.count {
            actions.append(.write(Self.continueLine))  // the client waits for this before sending the body
        }
    }

    private mutating func finishRequest(trailers: HTTPHeaders, into actions: inout [Action]) {
        guard var request = head else { return }  // `.end` always follows `.head`
        var payload = body
        if Self.bodyIsGzip(request.headers) == true {
            // A client the server would refuse (no API key) gets that refusal, not a 400 or 413 of
            // inflating (nor the work of it), as before the 415 and 413 of the head.
            if !payload.isEmpty, let refuseEarly, let answer = refuseEarly(request) { return refuse(answer, head: request, into: &actions) }
            if !payload.isEmpty {
                do {
                    payload = try Gzip.decompress(payload, limit: maxInflatedBodyBytes)
                } catch Gzip.Failure.tooLarge {
                    return fail(HTTPParserError(.payloadTooLarge, "body_too_large", "Inflated request body is too large."),
                                into: &actions)
                } catch {
                    return fail(HTTPParserError(.badRequest, "bad_gzip", "Request body is not valid gzip."), into: &actions)
                }
            }
            request.headers.remove(name: "content-encoding")  // the body handed over is plain
        }
        head = nil
        body = []
        beginResponse(keepAlive: request.keepAlive && !draining)
        actions.append(.dispatch(request, body: payload, trailers: trailers))
    }

    /// Whether `refuseEarly` is asked about a request with a body: one the client holds back until
    /// told to go on, or one that may be large.
    static func checksEarly(_ head: HTTPRequestHead, over bytes: Int) -> Bool {
        if head.expectContinue { return true }
        switch head.framing {
        case .none: return false
        case .chunked: return true
        case .length(let n): return n > bytes
        }
    }

    /// Whether the body is gzip (`gzip` or its alias `x-gzip`, RFC 9110 §8.4.1.3), plain (no coding
    /// or `identity`), or nil for anything else: other codings, an empty value, or gzip twice
    /// (whether in one field line or two, which RFC 9110 §5.3 makes the same).
    static func bodyIsGzip(_ headers: HTTPHeaders) -> Bool? {
        guard !headers.values(name: "content-encoding").isEmpty else { return false }
        let codings = headers.tokens(name: "content-encoding")
        guard !codings.contains("") else { return nil }
        let applied = codings.filter { $0 != "identity" }
        if applied.isEmpty { return false }
        return applied.count == 1 && (applied[0] == "gzip" || applied[0] == "x-gzip") ? true : nil
    }

    private mutating func compactInput() {
        if inputStart == input.count {
            input.removeAll(keepingCapacity: input.capacity <= Self.keepCapacityLimit)
            inputStart = 0
        } else if inputStart > Self.compactThreshold {
            input.removeFirst(inputStart)
            inputStart = 0
        }
    }
}
