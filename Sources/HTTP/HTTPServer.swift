import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The HTTP/1.1 (optionally HTTPS) server: one listening socket, accepted through a dispatch
/// source, connections spread round-robin over `loopCount` serial queues.
///
///     let router = Router()
///     router.get("/health") { _, r in r.respond(HTTPResponse(contentType: "text/plain", body: "ok")) }
///     let server = HTTPServer(configuration: .init(host: "127.0.0.1", port: 0), router: router)
///     try server.start()
///     print(server.port)
///     ...
///     server.stop(timeout: 5)
// @unchecked Sendable: `boundPort` is under `lock`; `context`, `loops`, `listenFD` and
// `acceptSource` are written by `start()` before the accept source is resumed (which publishes
// them to `acceptQueue`), then read only, by accepting and by callers after `start()` returns;
// `nextLoop`, `acceptPaused` and later `acceptSource` changes happen on `acceptQueue` only.
public final class HTTPServer: @unchecked Sendable {
    public enum StartError: Error, CustomStringConvertible {
        case address(String)
        case socket(String, Int32)
        case tls(String)
        public var description: String {
            switch self {
            case .address(let host): return "cannot resolve listen address \(host)"
            case let .socket(call, code): return "\(call) failed: \(String(cString: strerror(code)))"
            case .tls(let message): return message
            }
        }
    }

    public let configuration: HTTPServerConfiguration
    private let handler: HTTPHandler
    private var context: ServerContext?
    private var loops: [EventLoop] = []
    private var listenFD: Int32 = -1
    private var acceptSource: DispatchSourceRead?
    private let acceptQueue = DispatchQueue(label: "jeton.http.accept", qos: .userInitiated)
    private var nextLoop = 0
    private var acceptPaused = false
    private let lock = Lock()
    private var boundPort = 0

    public init(configuration: HTTPServerConfiguration, handler: @escaping HTTPHandler) {
        self.configuration = configuration
        self.handler = handler
    }

    public convenience init(configuration: HTTPServerConfiguration, router: Router) {
        self.init(configuration: configuration, handler: router.handler)
    }

    /// The bound port (the real one when configured with port 0). Valid after `start()`.
    public var port: Int { lock.withLock { boundPort } }

    /// The delivery actually in use (epoll falls back to dispatch sources where unavailable).
    public var eventDeliveryInUse: HTTPEventDelivery {
        #if os(Linux)
        if !loops.isEmpty && loops.allSatisfy({ loop in loop.queue.sync { loop.epoll != nil } }) { return .epoll }
        #endif
        return .dispatchSources
    }

    /// Open connections right now.
    public var connectionCount: Int { context?.openConnections ?? 0 }

    /// What `start` checks before it binds: the TLS files load and the address resolves (a port
    /// in use shows only when binding). For `jeton serve --check-config`.
    public static func check(_ configuration: HTTPServerConfiguration) throws {
        _ = try tlsContext(configuration)
        freeaddrinfo(try addressInfo(host: configuration.host, port: configuration.port))
    }

    /// Reads the certificate and key files again (a rotated certificate): new connections use
    /// them, open ones finish with the old. Throws, keeping the old, if they do not load.
    public func reloadTLS() throws {
        guard let context, context.tls != nil, let tls = try Self.tlsContext(configuration) else { return }
        context.replaceTLS(tls)
    }

    /// The configuration's certificate and key, loaded (nil without them: plain HTTP).
    static func tlsContext(_ configuration: HTTPServerConfiguration) throws -> TLSContext? {
        guard let cert = configuration.tlsCertificatePath, let key = configuration.tlsKeyPath else { return nil }
        do { return try TLSContext(certificatePath: cert, keyPath: key) } catch { throw StartError.tls("\(error)") }
    }

    /// The listen address resolved (freed by the caller).
    static func addressInfo(host: String, port: Int) throws -> UnsafeMutablePointer<addrinfo> {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let info = result else { throw StartError.address(host) }
        return info
    }

    /// Binds, listens and starts accepting. Throws on bad address, busy port or bad TLS files.
    public func start() throws {
        signal(SIGPIPE, SIG_IGN)  // belt and braces: sends already use MSG_NOSIGNAL
        let tls = try Self.tlsContext(configuration)
        let context = ServerContext(configuration: configuration, handler: handler, tls: tls)
        let (fd, port) = try Self.listen(host: configuration.host, port: configuration.port, backlog: configuration.backlog)
        listenFD = fd
        lock.withLock { boundPort = port }
        self.context = context
        let timeouts = [configuration.headerTimeout, configuration.bodyTimeout, configuration.idleTimeout,
                        configuration.writeTimeout, configuration.lingerTimeout]
        let tick = min(0.25, max(0.01, (timeouts.min() ?? 1) / 8))
        loops = (0..<max(1, configuration.loopCount)).map { EventLoop(index: $0) }
        for loop in loops {
            #if os(Linux)
            if configuration.eventDelivery == .epoll { _ = loop.queue.sync { loop.useEpoll() } }
            #endif
            loop.start(tick: tick)
        }

        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: acceptQueue)
        source.setEventHandler { [weak self] in self?.acceptConnections() }
        source.setCancelHandler { Glibc.close(fd) }
        acceptSource = source
        source.resume()
    }

    /// The first half of a graceful stop, while the server still accepts (the process tells its
    /// load balancer it is going): idle keep-alive connections that have answered a request close
    /// now, and every response from now on, on old connections or new, says `Connection: close`
    /// and ends its connection, so clients and proxies reconnect (elsewhere) instead of reusing
    /// this one. A connection that has not sent its first request yet keeps it (it may be on its way).
    public func beginDrain() {
        guard let context else { return }
        context.markDraining()
        for loop in loops { loop.queue.sync { loop.allConnections.forEach { $0.beginDrain(closeUnused: false) } } }
    }

    /// Graceful stop: stops accepting, closes idle connections, lets in-flight exchanges
    /// finish until `timeout` seconds, then drops what is left (their handlers see onCancel).
    /// Blocks the caller; never call it from a handler or a loop queue.
    public func stop(timeout: Double = 10) {
        stop(deadline: .now() + .milliseconds(Int(max(0, timeout) * 1000)))
    }

    public func stop(deadline: DispatchTime) {
        acceptQueue.sync {
            if acceptPaused { acceptSource?.resume() }
            acceptPaused = false
            acceptSource?.cancel()
            acceptSource = nil
        }
        guard context != nil else { return }  // never started
        for loop in loops { loop.queue.sync { loop.allConnections.forEach { $0.beginDrain() } } }
        while DispatchTime.now() < deadline && totalConnections() > 0 { usleep(10_000) }
        for loop in loops { loop.queue.sync { loop.allConnections.forEach { $0.close() } } }
        for loop in loops { loop.queue.sync { loop.stopTicker() } }
    }

    private func totalConnections() -> Int {
        loops.reduce(0) { sum, loop in sum + loop.queue.sync { loop.connectionCount } }
    }

    // MARK: - Accepting

    private func acceptConnections() {
        guard let context else { return }
        for _ in 0..<256 {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    accept(listenFD, $0, &length)
                }
            }
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM {
                    pauseAccepting()  // out of descriptors: let the backlog hold them a moment
                }
                return
            }
            guard Self.makeNonBlocking(fd) else {
                // A blocking socket would stall its whole event loop on the first read: refuse it.
                Glibc.close(fd)
                continue
            }
            var one: Int32 = 1
            // Streamed tokens must leave at once, not wait for Nagle.
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let address = Self.describe(storage)
            let loop = loops[nextLoop % loops.count]
            nextLoop &+= 1
            let counted = context.reserveConnection()
            let probe = !counted && !configuration.pathsAnsweredAtLimit.isEmpty && context.reserveProbe()
            loop.queue.async {
                let connection = HTTPConnection(fd: fd, loop: loop, context: context, remoteAddress: address, counted: counted, probe: probe)
                connection.start()  // over the limit (not counted), it answers 503 and closes
            }
        }
    }

    private func pauseAccepting() {
        guard !acceptPaused, let source = acceptSource else { return }
        source.suspend()
        acceptPaused = true
        acceptQueue.asyncAfter(deadline: .now() + .milliseconds(100)) { [weak self] in
            guard let self, self.acceptPaused, let source = self.acceptSource else { return }
            self.acceptPaused = false
            source.resume()
        }
    }

    // MARK: - Sockets

    /// Non-blocking and close-on-exec, as accept4 would set them (Swift's Glibc module does not
    /// export accept4). False if either fcntl fails.
    static func makeNonBlocking(_ fd: Int32) -> Bool {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 else { return false }
        return fcntl(fd, F_SETFD, FD_CLOEXEC) == 0
    }

    static func listen(host: String, port: Int, backlog: Int32) throws -> (Int32, Int) {
        let info = try addressInfo(host: host, port: port)
        defer { freeaddrinfo(info) }
        let family = info.pointee.ai_family
        let fd = socket(family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw StartError.socket("socket", errno) }
        var one: Int32 = 1, zero: Int32 = 0
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if family == AF_INET6 {
            // "::" serves IPv4 too (dual-stack); a specific IPv6 address stays IPv6 only.
            var v6only: Int32 = host == "::" ? zero : one
            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &v6only, socklen_t(MemoryLayout<Int32>.size))
        }
        guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            let code = errno
            Glibc.close(fd)
            throw StartError.socket("bind \(host):\(port)", code)
        }
        guard Glibc.listen(fd, backlog) == 0 else {
            let code = errno
            Glibc.close(fd)
            throw StartError.socket("listen", code)
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let named = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else {
            // Without it the real port of a port-0 listener is unknown, and callers rely on it.
            let code = errno
            Glibc.close(fd)
            throw StartError.socket("getsockname", code)
        }
        return (fd, Self.port(of: storage))
    }

    static func port(of storage: sockaddr_storage) -> Int {
        var copy = storage
        return withUnsafePointer(to: &copy) { pointer -> Int in
            if storage.ss_family == sa_family_t(AF_INET6) {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin6_port)) }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { Int(UInt16(bigEndian: $0.pointee.sin_port)) }
        }
    }

    /// A C string buffer up to its first NUL.
    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// "1.2.3.4:port" or "[::1]:port".
    static func describe(_ storage: sockaddr_storage) -> String {
        var copy = storage
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let port = Self.port(of: storage)
        return withUnsafePointer(to: &copy) { pointer -> String in
            if storage.ss_family == sa_family_t(AF_INET6) {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 -> String in
                    var address = sin6.pointee.sin6_addr
                    inet_ntop(AF_INET6, &address, &text, socklen_t(text.count))
                    return "[\(Self.text(text))]:\(port)"
                }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin -> String in
                var address = sin.pointee.sin_addr
                inet_ntop(AF_INET, &address, &text, socklen_t(text.count))
                return "\(Self.text(text)):\(port)"
            }
        }
    }
}
