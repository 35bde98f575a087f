/// Requests to the handler, responses back to the socket: what the driver does for the
/// machine's `.dispatch` and `.sendError`, and for the calls `HTTPResponder` makes on the loop.
extension HTTPConnection {
    func dispatch(_ head: HTTPRequestHead, body: [UInt8], trailers: HTTPHeaders) {
        let requestID = loop.requestID(from: head.headers, prefix: context.idPrefix)
        let request = HTTPRequest(method: head.method, target: head.target, version: head.version, headers: head.headers,
                                  body: body, trailers: trailers, remoteAddress: remoteAddress, requestID: requestID)
        response = ResponseState(isHead: head.method == "HEAD", requestHeaders: head.headers,
                                 http10: head.version == .http1_0, requestID: requestID)
        let responder = HTTPResponder(connection: self, loop: loop, requestID: requestID,
                                      limit: context.configuration.maxResponseBufferBytes)
        self.responder = responder
        context.handler(request, responder)
    }

    // MARK: - Called through HTTPResponder (on the loop)

    func sendWhole(_ whole: HTTPResponse, for r: HTTPResponder) {
        guard r === responder, !closed else { return }
        var bodyBytes = whole.body
        var headers = whole.headers
        for field in r.headersToAdd { headers.add(name: field.name, value: field.value) }
        // A body that would be compressed for a client asking for gzip varies by Accept-Encoding
        // whether or not this client asked: a shared cache must not hand one form to the other.
        if context.configuration.gzipEnabled, whole.status.allowsBody, bodyBytes.count >= context.configuration.gzipMinimumLength,
           headers["content-encoding"] == nil, !Self.isEventStream(headers) {
            headers.add(name: "Vary", value: "Accept-Encoding")
            if Gzip.accepts(response.requestHeaders), let compressed = Gzip.compress(bodyBytes), compressed.count < bodyBytes.count {
                bodyBytes = compressed
                headers.add(name: "Content-Encoding", value: "gzip")
            }
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
            machine.responseEndsWithClose()
            framing = nil
        } else {
            response.mode = .chunked
            framing = "Transfer-Encoding: chunked"
        }
        enqueue(serializeHead(status: status, headers: headers, framing: framing))
        response.status = status
        if !applying { flush() }
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
        if !applying { flush(reportPending: false) }
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
        process(machine.responseCompleted(pendingOutput: pendingOutput, now: .now))  // may schedule the next pipelined request
        if !applying { flush() }
    }

    /// Renders an error raised by the HTTP layer; the machine closes the connection after it.
    func sendError(_ error: HTTPParserError, head: HTTPRequestHead?, toHead: Bool) {
        guard !closed else { return }
        var reply = context.configuration.errorResponse(error.status, error.code, error.message, head?.path ?? machine.pathSoFar)
        addErrorHeaders(to: &reply, for: head?.headers ?? machine.fieldsSoFar)
        // RFC 9110 §15.5.16: a 415 for a body's coding names the codings that would do.
        if error.code == "unsupported_content_encoding" { reply.headers.add(name: "Accept-Encoding", value: "gzip") }
        // As the server's other 503s: a connection may be free in a moment.
        if error.code == "too_many_connections" { reply.headers.add(name: "Retry-After", value: "1") }
        response = ResponseState(requestID: loop.requestID(from: head?.headers ?? HTTPHeaders(), prefix: context.idPrefix))
        var out = serializeHead(status: error.status, headers: reply.headers, framing: "Content-Length: \(reply.body.count)")
        if !toHead { out.append(contentsOf: reply.body) }
        enqueue(out)
        context.configuration.errorSent?(head?.method, head?.path ?? machine.pathSoFar, response.requestID, error.status, error.code)
    }

    /// An answer decided before the request's body was read (`refuseEarly`); the connection closes after it.
    func sendRefusal(_ given: HTTPResponse, head: HTTPRequestHead) {
        guard !closed else { return }
        var answer = given
        addErrorHeaders(to: &answer, for: head.headers)
        response = ResponseState(requestID: loop.requestID(from: head.headers, prefix: context.idPrefix))
        var out = serializeHead(status: answer.status, headers: answer.headers, framing: "Content-Length: \(answer.body.count)")
        if head.method != "HEAD" { out.append(contentsOf: answer.body) }
        enqueue(out)
        context.configuration.refusalSent?(head, response.requestID, answer.status)
    }

    /// The fields every answer of the HTTP layer's own carries (`errorHeaders`: CORS for the
    /// request's Origin).
    private func addErrorHeaders(to reply: inout HTTPResponse, for headers: HTTPHeaders) {
        guard let extra = context.configuration.errorHeaders else { return }
        for field in extra(headers) { reply.headers.add(name: field.name, value: field.value) }
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
        machine.headWritten()
        if !machine.responseKeepsAlive {
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
