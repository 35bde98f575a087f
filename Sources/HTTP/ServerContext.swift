#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// What every connection of one server shares: configuration, handler, TLS context and the
/// open-connection count. Immutable except for the counter and the TLS context (a reload swaps
/// it for new connections), which are locked.
final class ServerContext: Sendable {
    let configuration: HTTPServerConfiguration
    let handler: HTTPHandler
    private let tlsContext: Mutex<TLSContext?>
    /// The TLS context new connections take (nil: plain HTTP).
    var tls: TLSContext? { tlsContext.withLock { $0 } }
    private let open = Mutex(0)
    /// Set by `HTTPServer.beginDrain`: every response from then on ends its connection.
    private let drainingFlag = Atomic(false)
    /// Start of generated request ids, random per process so ids from restarts do not collide.
    let idPrefix: String

    init(configuration: HTTPServerConfiguration, handler: @escaping HTTPHandler, tls: TLSContext?) {
        self.configuration = configuration
        self.handler = handler
        tlsContext = Mutex(tls)
        var seed = UInt32(truncatingIfNeeded: time(nil)) ^ UInt32(truncatingIfNeeded: getpid() << 16)
        seed ^= UInt32.random(in: 0...UInt32.max)
        idPrefix = String(seed, radix: 16)
    }

    /// Counts a new connection unless the maximum is reached.
    func reserveConnection() -> Bool {
        let limit = configuration.maxConnections
        return open.withLock { open in
            guard open < limit else { return false }
            open += 1
            return true
        }
    }

    func releaseConnection() { open.withLock { $0 -= 1 } }

    /// Connections over the limit waiting to show whether they are health probes
    /// (`pathsAnsweredAtLimit`): a few at a time, so a flood over the limit is still refused at once.
    static let maxProbes = 16
    private let probes = Mutex(0)

    func reserveProbe() -> Bool {
        probes.withLock { n in
            guard n < Self.maxProbes else { return false }
            n += 1
            return true
        }
    }

    func releaseProbe() { probes.withLock { $0 -= 1 } }

    /// Swaps the TLS context: connections accepted from now on use it, open ones keep theirs.
    func replaceTLS(_ tls: TLSContext) { tlsContext.withLock { $0 = tls } }

    var openConnections: Int { open.withLock { $0 } }

    var draining: Bool { drainingFlag.load(ordering: .acquiring) }

    func markDraining() { drainingFlag.store(true, ordering: .releasing) }

    static func isSaneID(_ s: String) -> Bool {
        guard !s.isEmpty, s.utf8.count <= 128 else { return false }
        return s.utf8.allSatisfy { b in
            switch b {
            case 48...57, 65...90, 97...122, 45, 95, 46, 58, 47, 43, 61: return true  // alnum - _ . : / + =
            default: return false
            }
        }
    }
}
