#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Maps a regular file read-only, as the GGUF and safetensors readers do. Each reader keeps
/// its own errors: `cannotOpen` gets the reason, `tooSmall` the file's size when it is under
/// `minimumSize` (mmap refuses an empty file, and each format needs its first bytes).
enum ReadOnlyMapping {
    static func map(_ path: String, minimumSize: Int, cannotOpen: (String) -> Error,
                    tooSmall: (Int) -> Error) throws -> (pointer: UnsafeMutableRawPointer, size: Int) {
        // O_NONBLOCK: opening a FIFO must not hang waiting for a writer (fstat then refuses
        // it); it changes nothing for the regular file we mmap.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw cannotOpen(String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw cannotOpen(String(cString: strerror(errno))) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw cannotOpen("not a regular file") }
        let size = Int(st.st_size)
        guard size >= max(1, minimumSize) else { throw tooSmall(size) }
        guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
            throw cannotOpen("mmap failed: \(String(cString: strerror(errno)))")
        }
        return (p, size)
    }
}
