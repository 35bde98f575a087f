import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A serial queue that owns a set of connections. All connection state is touched only on
/// `queue`; other threads hop onto it with `execute`. A coarse tick drives every timeout,
/// which is cheaper than one timer per connection and precise enough for second-scale limits.
// @unchecked Sendable: `queue`, `index` and `readBuffer` are immutable; every other property is
// touched only on `queue` (callers from elsewhere go through `execute` or `queue.sync`), but for
// `ticker`, set by `start(tick:)` before the server accepts and later read on `queue`.
final class EventLoop: @unchecked Sendable {
    let queue: DispatchQueue
    let index: Int
    private static let key = DispatchSpecificKey<Int>()
    private var connections: [ObjectIdentifier: HTTPConnection] = [:]
    private var ticker: DispatchSourceTimer?
    /// Shared read buffer: reads happen one at a time on this queue.
    let readBuffer: UnsafeMutableRawBufferPointer
    private var cachedDateSecond = -1
    private var cachedDate = ""
    private var cachedDateLines: [UInt8] = []
    private var cachedLinesSecond = -1
    private var statusLines: [Int: [UInt8]] = [:]
    private var requestCounter: UInt64 = 0

    init(index: Int) {
        self.index = index
        queue = DispatchQueue(label: "jeton.http.loop\(index)", qos: .userInitiated)
        queue.setSpecific(key: Self.key, value: index + 1)
        readBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
    }

    deinit { readBuffer.deallocate() }

    var inLoop: Bool { DispatchQueue.getSpecific(key: Self.key) == index + 1 }

    /// Runs `block` now if already on this loop (keeps synchronous handlers cheap), else later on it.
    @inline(__always)
    func execute(_ block: @escaping () -> Void) {
        if inLoop { return block() }
        nonisolated(unsafe) let work = block  // loop-confined state is only touched inside
        queue.async { work() }
    }

    #if os(Linux)
    /// Set when this loop delivers socket readiness through one epoll set (see `HTTPEventDelivery`).
    private(set) var epoll: Epoll?
    private var epollSource: DispatchSourceRead?
    private var watched: [Int32: HTTPConnection] = [:]

    /// Switches the loop to one epoll set watched by a single dispatch source. False if unavailable.
    func useEpoll() -> Bool {
        guard let epoll = Epoll() else { return false }
        self.epoll = epoll
        let source = DispatchSource.makeReadSource(fileDescriptor: epoll.fd, queue: queue)
        source.setEventHandler { [weak self] in self?.pollSockets() }
        source.setCancelHandler { _ = epoll }  // the epoll fd stays open until dispatch lets go of it
        source.resume()
        epollSource = source
        return true
    }

    func watch(_ connection: HTTPConnection) -> Bool {
        guard let epoll, epoll.add(connection.fd) else { return false }
        watched[connection.fd] = connection
        return true
    }

    func unwatch(_ connection: HTTPConnection) {
        guard let epoll, watched[connection.fd] === connection else { return }
        epoll.remove(connection.fd)
        watched.removeValue(forKey: connection.fd)
    }

    /// One wake-up serves every ready socket of the loop: this batching is the point of epoll mode.
    private func pollSockets() {
        guard let epoll else { return }
        var rounds = 0
        while rounds < 4 {
            rounds += 1
            let n = epoll.poll { fd, events in
                guard let connection = watched[fd] else { return }
                connection.socketReady(readable: events & (Epoll.readable | Epoll.error | Epoll.hangUp | Epoll.readHangUp) != 0,
                                       writable: events & Epoll.writable != 0,
                                       hungUp: events & (Epoll.hangUp | Epoll.readHangUp) != 0)
            }
            if n < epoll.capacity { break }
        }
    }
    #endif

    func start(tick: Double) {
        let timer = DispatchSource.makeTimerSource(queue: queue)
        let ms = max(10, Int(tick * 1000))
        timer.schedule(deadline: .now() + .milliseconds(ms), repeating: .milliseconds(ms), leeway: .milliseconds(ms / 4))
        timer.setEventHandler { [weak self] in self?.checkTimeouts() }
        timer.resume()
        ticker = timer
    }

    func stopTicker() {
        ticker?.cancel()
        ticker = nil
        #if os(Linux)
        epollSource?.cancel()
        epollSource = nil
        #endif
    }

    func register(_ connection: HTTPConnection) { connections[ObjectIdentifier(connection)] = connection }
    func unregister(_ connection: HTTPConnection) { connections.removeValue(forKey: ObjectIdentifier(connection)) }
    var connectionCount: Int { connections.count }
    var allConnections: [HTTPConnection] { Array(connections.values) }

    private func checkTimeouts() {
        let now = MonotonicInstant.now
        for connection in connections.values { connection.tick(now: now) }
    }

    /// `Date:` and `Server:` header lines, rebuilt once per second.
    func dateAndServerLines(serverName: String) -> [UInt8] {
        let second = Int(time(nil))
        if second != cachedLinesSecond {
            cachedLinesSecond = second
            cachedDateLines = Array("Date: \(httpDate)\r\nServer: \(serverName)\r\n".utf8)
        }
        return cachedDateLines
    }

    func statusLine(_ status: HTTPStatus) -> [UInt8] {
        if let line = statusLines[status.code] { return line }
        let line = Array("HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\n".utf8)
        if statusLines.count < 64 { statusLines[status.code] = line }
        return line
    }

    /// The client's X-Request-Id when it is short and plain, else a fresh one. Counting per loop
    /// needs no lock; the loop index keeps ids unique across loops.
    func requestID(from headers: HTTPHeaders, prefix: String) -> String {
        if let given = headers["x-request-id"], ServerContext.isSaneID(given) { return given }
        requestCounter &+= 1
        return prefix + "-" + String(index, radix: 16) + "-" + String(requestCounter, radix: 16)
    }

    /// IMF-fixdate for the Date header, rebuilt once per second.
    var httpDate: String {
        var now = time(nil)
        if Int(now) == cachedDateSecond { return cachedDate }
        cachedDateSecond = Int(now)
        var parts = tm()
        gmtime_r(&now, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        cachedDate = "\(days[Int(parts.tm_wday) % 7]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon) % 12]) \(parts.tm_year + 1900) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
        return cachedDate
    }
}
