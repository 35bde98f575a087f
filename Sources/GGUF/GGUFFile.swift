#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A GGUF file mapped read-only into memory. Tensor data is never copied: views
/// point into the mapping, which lives as long as this object.
// @unchecked Sendable: every property is a `let`; `mapping` (a pointer, hence unchecked) is
// mapped PROT_READ in init and unmapped only in deinit.
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let header: GGUFParser.Header
    public var metadata: [String: GGUFValue] { header.metadata }
    public var tensors: [GGUFTensorInfo] { header.tensors }
    public var version: UInt32 { header.version }
    public let fileSize: Int

    private let mapping: UnsafeMutableRawPointer?
    private let tensorIndex: [String: Int]

    public init(path: String) throws {
        self.path = path
        let (p, size) = try ReadOnlyMapping.map(path, minimumSize: 1,
            cannotOpen: { GGUFError.cannotOpen(path: path, reason: $0) },
            tooSmall: { GGUFError.truncated(what: "magic", offset: 0, needed: 4, available: $0) })
        fileSize = size
        mapping = p
        var parser = GGUFParser(UnsafeRawBufferPointer(start: p, count: size))
        do {
            header = try parser.parse()
        } catch {
            munmap(p, size)
            throw error
        }
        var index: [String: Int] = [:]
        for (i, t) in header.tensors.enumerated() { index[t.name] = i }
        tensorIndex = index
    }

    deinit {
        if let m = mapping { munmap(m, fileSize) }
    }

    public func tensorInfo(_ name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { header.tensors[$0] }
    }

    /// Raw bytes of a tensor, valid while this file is alive.
    public func data(of info: GGUFTensorInfo) -> UnsafeRawPointer {
        UnsafeRawPointer(mapping!).advanced(by: header.dataOffset + info.offset)
    }

    /// Asks the kernel to read the tensor data ahead (weights are then warm).
    public func adviseWillNeed() {
        guard let m = mapping else { return }
        _ = madvise(m, fileSize, MADV_WILLNEED)
    }

    /// Drops the whole pages of `bytes` bytes at `p` (inside the mapping) from this process's
    /// memory: for tensors a repacked copy replaces. They are read from the file again if touched.
    public func adviseDontNeed(_ p: UnsafeRawPointer, bytes: Int) {
        guard let m = mapping, bytes > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let lo = UnsafeRawPointer(m), hi = lo + fileSize
        guard p >= lo, p + bytes <= hi else { return }
        let start = (Int(bitPattern: p) + page - 1) / page * page, end = (Int(bitPattern: p) + bytes) / page * page
        guard end > start, let s = UnsafeMutableRawPointer(bitPattern: start) else { return }
        _ = madvise(s, end - start, MADV_DONTNEED)
    }

    // MARK: - typed metadata access for model loaders

    public func int(_ key: String) throws -> Int {
        guard let v = metadata[key] else { throw GGUFError.missingKey(key) }
        guard let i = v.intValue else { throw GGUFError.wrongValueType(key: key, expected: "an integer") }
        return i
    }

    public func float(_ key: String) throws -> Float {
        guard let v = metadata[key] else { throw GGUFError.missingKey(key) }
        guard let f = v.floatValue else { throw GGUFError.wrongValueType(key: key, expected: "a number") }
        return f
    }

    public func string(_ key: String) throws -> String {
        guard let v = metadata[key] else { throw GGUFError.missingKey(key) }
        guard let s = v.stringValue else { throw GGUFError.wrongValueType(key: key, expected: "a string") }
        return s
    }
}
