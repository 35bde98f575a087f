#if canImport(Glibc)
import Glibc
#endif

/// Buffers on 2 MiB pages: 2 MiB aligned and asked for as Linux's transparent huge pages. A
/// stream read once per token (packed weights, the read-bandwidth probe) costs a TLB miss every
/// 4 KiB on small pages, two page walks in a virtual machine. One place for the rounding: the
/// probe's own `count * 64 >> 21 << 21` (shifts bind tighter than `*` in Swift) asked for 0 bytes
/// from 2026-12-01 to the fiftieth session, and the probe read 4 KiB pages.
enum HugePages {
    static let size = 1 << 21

    /// `bytes` rounded up to whole huge pages.
    static func whole(_ bytes: Int) -> Int { (bytes + size - 1) & ~(size - 1) }

    /// A buffer of `whole(bytes)` bytes, 2 MiB aligned, all of it asked for as huge pages (off
    /// Linux, plain memory); the caller frees it with `deallocate()`.
    static func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        let n = whole(max(bytes, 1))
        let p = UnsafeMutableRawPointer.allocate(byteCount: n, alignment: size)
        #if os(Linux)
        _ = madvise(p, n, 14 /* MADV_HUGEPAGE */)
        #endif
        return p
    }
}
