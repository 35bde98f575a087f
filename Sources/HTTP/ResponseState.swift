/// What the connection remembers about the response being produced. Whether the connection
/// stays open after it is the state machine's decision (`responseKeepsAlive`).
struct ResponseState {
    enum BodyMode { case none, chunked, untilClose }
    var isHead = false
    /// Kept to decide on gzip only for bodies large enough to need it.
    var requestHeaders = HTTPHeaders()
    var http10 = false
    var mode = BodyMode.none
    var requestID = ""
    var status: HTTPStatus?
}
