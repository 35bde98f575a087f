#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A safetensors file mapped read-only. Tensor views point into the mapping, which lives as
/// long as this object.
// @unchecked Sendable: every property is a `let`; `mapping` (a pointer, hence unchecked) is
// mapped PROT_READ in init and unmapped only in deinit.
public final class SafetensorsFile: @unchecked Sendable {
    public let path: String
    public let header: SafetensorsParser.Header
    public var tensors: [SafetensorsTensorInfo] { header.tensors }
    public let fileSize: Int
    private let mapping: UnsafeMutableRawPointer
    private let tensorIndex: [String: Int]

    public init(path: String) throws {
        self.path = path
        let (p, size) = try ReadOnlyMapping.map(path, minimumSize: 8,
            cannotOpen: { SafetensorsError.cannotOpen(path: path, reason: $0) },
            tooSmall: { SafetensorsError.truncated(needed: 8, available: $0) })
        fileSize = size
        mapping = p
        do {
            header = try SafetensorsParser(UnsafeRawBufferPointer(start: p, count: size)).parse()
        } catch {
            munmap(p, size)
            throw error
        }
        var index: [String: Int] = [:]
        for (i, t) in header.tensors.enumerated() { index[t.name] = i }
        tensorIndex = index
    }

    deinit {
        munmap(mapping, fileSize)
    }

    public func tensorInfo(_ name: String) -> SafetensorsTensorInfo? {
        tensorIndex[name].map { header.tensors[$0] }
    }

    /// Raw bytes of a tensor, valid while this file is alive.
    public func data(of info: SafetensorsTensorInfo) -> UnsafeRawPointer {
        UnsafeRawPointer(mapping).advanced(by: header.dataOffset + info.offset)
    }
}
