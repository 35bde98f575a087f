#if os(Linux)
import Glibc

/// A minimal edge-triggered epoll set, used by `HTTPEventDelivery.epoll`: one dispatch source
/// per loop watches this set, instead of one read and one write source per connection.
///
/// Swift's Glibc module does not export `<sys/epoll.h>`, so the three calls are looked up with
/// `dlsym` as C function pointers (C calling convention, no guessing at the Swift ABI), and the
/// `struct epoll_event` (packed to 12 bytes on x86_64) is read and written by offset.
final class Epoll {
    static let readable: UInt32 = 0x001  // EPOLLIN
    static let writable: UInt32 = 0x004  // EPOLLOUT
    static let error: UInt32 = 0x008  // EPOLLERR
    static let hangUp: UInt32 = 0x010  // EPOLLHUP
    static let readHangUp: UInt32 = 0x2000  // EPOLLRDHUP
    static let edgeTriggered: UInt32 = 1 << 31  // EPOLLET

    private typealias Create = @convention(c) (Int32) -> Int32
    private typealias Control = @convention(c) (Int32, Int32, Int32, UnsafeMutableRawPointer?) -> Int32
    private typealias Wait = @convention(c) (Int32, UnsafeMutableRawPointer?, Int32, Int32) -> Int32

    private static let functions: (create: Create, control: Control, wait: Wait)? = {
        guard let create = dlsym(nil, "epoll_create1"), let control = dlsym(nil, "epoll_ctl"),
              let wait = dlsym(nil, "epoll_wait") else { return nil }
        return (unsafeBitCast(create, to: Create.self), unsafeBitCast(control, to: Control.self),
                unsafeBitCast(wait, to: Wait.self))
    }()

    #if arch(x86_64)
    private static let stride = 12, dataOffset = 4  // __EPOLL_PACKED on x86_64
    #else
    private static let stride = 16, dataOffset = 8
    #endif

    let fd: Int32
    let capacity: Int
    private let functions: (create: Create, control: Control, wait: Wait)
    private let events: UnsafeMutableRawPointer
    private let scratch: UnsafeMutableRawPointer

    /// Nil when epoll is not available (the caller falls back to per-connection sources).
    init?(capacity: Int = 256) {
        guard let functions = Self.functions else { return nil }
        let fd = functions.create(0x80000)  // EPOLL_CLOEXEC
        guard fd >= 0 else { return nil }
        self.fd = fd
        self.capacity = capacity
        self.functions = functions
        events = UnsafeMutableRawPointer.allocate(byteCount: capacity * Self.stride, alignment: 8)
        scratch = UnsafeMutableRawPointer.allocate(byteCount: Self.stride, alignment: 8)
    }

    deinit {
        Glibc.close(fd)
        events.deallocate()
        scratch.deallocate()
    }

    /// Watches `socket` for input, output space and hang-ups, edge-triggered: the owner reads
    /// until the socket is drained and writes until it would block, so no re-arming is needed.
    func add(_ socket: Int32) -> Bool {
        scratch.initializeMemory(as: UInt8.self, repeating: 0, count: Self.stride)
        scratch.storeBytes(of: Self.readable | Self.writable | Self.readHangUp | Self.edgeTriggered, as: UInt32.self)
        scratch.storeBytes(of: UInt64(UInt32(bitPattern: socket)), toByteOffset: Self.dataOffset, as: UInt64.self)
        return functions.control(fd, 1, socket, scratch) == 0  // EPOLL_CTL_ADD
    }

    func remove(_ socket: Int32) {
        _ = functions.control(fd, 2, socket, scratch)  // EPOLL_CTL_DEL
    }

    /// Collects ready sockets without blocking; returns how many were reported.
    func poll(_ body: (_ socket: Int32, _ events: UInt32) -> Void) -> Int {
        let n = Int(functions.wait(fd, events, Int32(capacity), 0))
        guard n > 0 else { return 0 }
        for i in 0..<n {
            let base = events + i * Self.stride
            let flags = base.loadUnaligned(as: UInt32.self)
            let data = base.loadUnaligned(fromByteOffset: Self.dataOffset, as: UInt64.self)
            body(Int32(truncatingIfNeeded: data), flags)
        }
        return n
    }
}
#endif
