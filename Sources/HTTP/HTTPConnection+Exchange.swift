/// What the connection remembers about the response being produced.
struct ResponseState {
    enum BodyMode { case none, chunked, untilClose }
    var keepAlive = true
    var isHead = false
    /// Kept to decide on gzip only for bodies large enough to need it.
    var requestHeaders = HTTPHeaders()
    var http10 = false
    var mode = BodyMode.none
    var requestID = ""
    var status: HTTPStatus?
}

/// Requests in, responses out: parsing, dispatch to the handler, response serialization.
/// Requests on one connection are answered strictly in order: the next pipelined request
/// is parsed only when the previous response is complete.
extension HTTPConnection {
    func processInput() {
        guard !processing, !closed else { return }
        processing = true
        defer {
            processing = false
            compactInput()
            flush()
        }
        while !closed && responder == nil && !closeAfterFlush {
            let base = inputStart
            let (consumed, event) = input.withUnsafeBytes { parser.parse(UnsafeRawBufferPointer(rebasing: $0[base...])) }
            inputStart += consumed
            guard let event else {
                if !parser.isIdle && deadlineKind == .idle {
                    setDeadline(.header, after: context.configuration.headerTimeout)  // from the first byte
                }
                break
            }
            switch event {
            case .head(let h):
                receivedHead(h)
            case .body(let range):
                body.append(contentsOf: input[(base + range.lowerBound)..<(base + range.upperBound)])
                setDeadline(.body, after: context.configuration.bodyTimeout)
            case .end(let trailers):
                dispatch(trailers: trailers)
            case .error(let error):
                sendError(error.status, code: error.code, message: error.message)
            }
        }
    }

    private func receivedHead(_ h: HTTPRequestHead) {
        head = h
        body = []
        if case .length(let n) = h.framing { body.reserveCapacity(min(n, 1 << 20)) }
        if let coding = h.headers["content-encoding"]?.lowercased(), coding != "gzip", coding != "identity" {
            return sendError(.unsupportedMediaType, code: "unsupported_content_encoding", message: "Unsupported Content-Encoding.")
        }
        if h.framing == .none {
            setDeadline(.none)
            return
        }
        setDeadline(.body, after: context.configuration.bodyTimeout)
        if h.expectContinue && inputStart == input.count {
            // The client waits for this before sending the body.
            enqueue(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
        }
    }

    private func dispatch(trailers: HTTPHeaders) {
        guard let head else { return }
        self.head = nil
        var payload = body
        body = []
        if head.headers["content-encoding"]?.lowercased() == "gzip" && !payload.isEmpty {
            do {
                payload = try Gzip.decompress(payload, limit: context.configuration.maxInflatedBodyBytes)
            } catch Gzip.Failure.tooLarge {
                return sendError(.payloadTooLarge, code: "body_too_large", message: "Inflated request body is too large.")
            } catch {
                return sendError(.badRequest, code: "bad_gzip", message: "Request body is not valid gzip.")
            }
        }
        let requestID = loop.requestID(from: head.headers, prefix: context.idPrefix)
        var request = HTTPRequest(method: head.method, target: head.target, version: head.version, headers: head.headers,
                                  body: payload, trailers: trailers, remoteAddress: remoteAddress, requestID: requestID)
        if head.headers["content-encoding"]?.lowercased() == "gzip" {
            request.headers.remove(name: "content-encoding")  // the body handed over is plain
        }
        response = ResponseState(keepAlive: head.keepAlive && !draining, isHead: head.method == "HEAD",
                                 requestHeaders: head.headers,
                                 http10: head.version == .http1_0, requestID: requestID)
        let responder = HTTPResponder(connection: self, loop: loop, requestID: requestID, method: head.method,
                                      limit: context.configuration.maxResponseBufferBytes)
        self.responder = responder
        setDeadline(.none)
        context.handler(request, responder)
    }

    // MARK: - Called through HTTPResponder (on the loop)

    func sendWhole(_ whole: HTTPResponse, for r: HTTPResponder) {
        guard r === responder, !closed else { return }
        var bodyBytes = whole.body
        var headers = whole.headers
        for field in r.headersToAdd { headers.add(name: field.name, value: field.value) }
        if context.configuration.gzipEnabled, whole.status.allowsBody, bodyBytes.count >= context.configuration.gzipMinimumLength,
           Gzip.accepts(response.requestHeaders),
           headers["content-encoding"] == nil, !Self.isEventStream(headers),
           let compressed = Gzip.compress(bodyBytes), compressed.count < bodyBytes.count {
            bodyBytes = compressed
            headers.add(name: "Content-Encoding", value: "gzip")
            headers.add(name: "Vary", value: "Accept-Encoding")
        }
        var out = serializeHead(status: whole.status, headers: headers,
                                framing: whole.status.allowsBody ? "Content-Length: \(bodyBytes.count)" : nil)
        if !response.isHead && whole.status.allowsBody { out.append(contentsOf: bodyBytes) }
        enqueue(out)
        complete(status: whole.status)
    }

    func startStream(status: HTTPStatus, headers given: HTTPHeaders, for r: HTTPResponder) {
        guard r === responder, !closed else { return }
        var headers = given
        for field in r.headersToAdd { headers.add(name: field.name, value: field.value) }
        let framing: String?
        if !status.allowsBody || response.isHead {
            response.mode = .none
            framing = status.allowsBody ? "Transfer-Encoding: chunked" : nil
        } else if response.http10 {
            // No chunked coding in 1.0: the body ends when the connection closes.
            response.mode = .untilClose
            response.keepAlive = false
            framing = nil
        } else {
            response.mode = .chunked
            framing = "Transfer-Encoding: chunked"
        }
        enqueue(serializeHead(status: status, headers: headers, framing: framing))
        response.status = status
        if !processing { flush() }
    }

    /// Returns the bytes still pending in the transport afterwards (nil if the write was ignored);
    /// the responder records it together with the hand-over of the chunk.
    func writeChunk(_ bytes: [UInt8], for r: HTTPResponder) -> Int? {
        guard r === responder, !closed else { return nil }
        switch response.mode {
        case .none: return pendingOutput
        case .untilClose: enqueue(bytes)
        case .chunked:
            var framed: [UInt8] = Array(String(bytes.count, radix: 16).utf8)
            framed.reserveCapacity(framed.count + bytes.count + 4)
            framed.append(13)
            framed.append(10)
            framed.append(contentsOf: bytes)
            framed.append(13)
            framed.append(10)
            enqueue(framed)
        }
        if !processing { flush(reportPending: false) }
        return closed ? nil : pendingOutput
    }

    func endStream(for r: HTTPResponder) {
        guard r === responder, !closed else { return }
        if response.mode == .chunked { enqueue(Array("0\r\n\r\n".utf8)) }
        complete(status: response.status ?? .ok)
    }

    /// The producer overflowed its buffer: drop the connection.
    func abort(for r: HTTPResponder) {
        guard r === responder else { return }
        close()
    }

    // MARK: - Helpers

    private func complete(status: HTTPStatus) {
        guard let finished = responder else { return }
        responder = nil
        finished.finished(status: status)
        if !response.keepAlive || draining {
            closeAfterFlush = true
        } else {
            setDeadline(.idle, after: context.configuration.idleTimeout)
        }
        if !processing {
            processInput()  // answers pipelined requests already buffered, then flushes
            updateReadInterest()
        }
    }

    /// Answers an error raised by the HTTP layer and closes after it (the framing cannot be trusted).
    func sendError(_ status: HTTPStatus, code: String, message: String) {
        guard !closed else { return }
        let error = context.configuration.errorResponse(status, code, message)
        response = ResponseState(keepAlive: false, isHead: false, http10: false,
                                 requestID: loop.requestID(from: head?.headers ?? HTTPHeaders(), prefix: context.idPrefix))
        var out = serializeHead(status: status, headers: error.headers, framing: "Content-Length: \(error.body.count)")
        out.append(contentsOf: error.body)
        enqueue(out)
        closeAfterFlush = true
        setDeadline(.none)
        if let pending = responder {
            responder = nil
            pending.cancel()
        }
    }

    /// Status line and header block. Fields the server owns are written here, never taken from
    /// the handler, and handler fields that could split the response are dropped.
    private func serializeHead(status: HTTPStatus, headers: HTTPHeaders, framing: String?) -> [UInt8] {
        // Built from byte pieces rather than interpolated strings: this runs for every response.
        var out: [UInt8] = []
        out.reserveCapacity(256)
        @inline(__always) func crlf() { out.append(13); out.append(10) }
        out.append(contentsOf: loop.statusLine(status))
        out.append(contentsOf: loop.dateAndServerLines(serverName: context.configuration.serverName))
        out.append(contentsOf: "X-Request-Id: ".utf8)
        out.append(contentsOf: response.requestID.utf8)
        crlf()
        for field in headers where Self.mayForward(field.name, field.value) {
            out.append(contentsOf: field.name.utf8)
            out.append(58)
            out.append(32)
            out.append(contentsOf: field.value.utf8)
            crlf()
        }
        if let framing {
            out.append(contentsOf: framing.utf8)
            crlf()
        }
        if !response.keepAlive || draining || closeAfterFlush {
            out.append(contentsOf: "Connection: close\r\n".utf8)
        } else if response.http10 {
            out.append(contentsOf: "Connection: keep-alive\r\n".utf8)
        }
        crlf()
        return out
    }

    private static let serverOwned = ["date", "server", "x-request-id", "content-length", "transfer-encoding", "connection", "keep-alive"]

    private static func mayForward(_ name: String, _ value: String) -> Bool {
        guard !name.isEmpty, name.utf8.allSatisfy(HTTPRequestParser.isTokenChar) else { return false }
        guard value.utf8.allSatisfy({ $0 >= 32 && $0 != 127 || $0 == 9 }) else { return false }
        return !serverOwned.contains { HTTPHeaders.equalsIgnoringCase($0, name) }
    }

    private static func isEventStream(_ headers: HTTPHeaders) -> Bool {
        headers["content-type"]?.lowercased().hasPrefix("text/event-stream") ?? false
    }
}
