import HTTP

/// Server-sent events framing over a chunked response.
enum SSE {
    static var headers: HTTPHeaders {
        var h = HTTPHeaders()
        h.add(name: "Content-Type", value: "text/event-stream")
        h.add(name: "Cache-Control", value: "no-cache")
        h.add(name: "X-Accel-Buffering", value: "no")
        return h
    }

    static func event(_ json: JSON) -> [UInt8] { Array(("data: " + json.serialized + "\n\n").utf8) }
    /// A typed event (the Responses API's): its `type` as the event name, then the data line.
    static func event(named json: JSON) -> [UInt8] {
        guard case let .string(type)? = json["type"] else { return event(json) }
        return Array(("event: " + type + "\n").utf8) + event(json)
    }
    static let done: [UInt8] = Array("data: [DONE]\n\n".utf8)
}

extension HTTPResponse {
    public static func json(_ value: JSON, status: HTTPStatus = .ok) -> HTTPResponse {
        var h = HTTPHeaders()
        h.add(name: "Content-Type", value: "application/json")
        return HTTPResponse(status: status, headers: h, body: Array(value.serialized.utf8))
    }
}
