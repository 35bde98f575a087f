import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A serial queue that owns a set of connections. All connection state is touched only on
/// `queue`; other threads hop onto it with `execute`. A coarse tick drives every timeout,
/// which is cheaper than one timer per connection and precise enough for second-scale limits.
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
    }

    func register(_ connection: HTTPConnection) { connections[ObjectIdentifier(connection)] = connection }
    func unregister(_ connection: HTTPConnection) { connections.removeValue(forKey: ObjectIdentifier(connection)) }
    var connectionCount: Int { connections.count }
    var allConnections: [HTTPConnection] { Array(connections.values) }

    private func checkTimeouts() {
        let now = DispatchTime.now().uptimeNanoseconds
        for connection in connections.values { connection.checkTimeout(now: now) }
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
