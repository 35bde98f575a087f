/// One tensor of a safetensors file. `shape` is row-major as written (the last dimension
/// varies fastest), unlike ggml's dimensions: a [rows, cols] matrix has shape [rows, cols].
public struct SafetensorsTensorInfo: Sendable, Equatable {
    public let name: String
    public let type: GGMLType
    public let shape: [Int]
    /// Offset from the start of the data section (right after the header).
    public let offset: Int
    public let byteCount: Int

    public var elementCount: Int { shape.reduce(1, *) }
}

/// Parses a safetensors file held in memory: an 8-byte little-endian header length, a JSON
/// object of {name: {dtype, shape, data_offsets}} (and an optional "__metadata__" of strings),
/// then the raw tensors. Every length, offset and shape is checked against the buffer before
/// use, so a hostile file gives an error, never a read outside it.
public struct SafetensorsParser {
    /// The reference implementation's cap on the header (100 MB).
    public static let maxHeaderBytes = 100_000_000
    static let maxDimensions = 8

    public struct Header: Sendable {
        public var metadata: [String: String]
        public var tensors: [SafetensorsTensorInfo]
        public var dataOffset: Int
        public var dataSize: Int
    }

    let base: UnsafeRawBufferPointer

    public init(_ buffer: UnsafeRawBufferPointer) { base = buffer }

    public func parse() throws -> Header {
        guard base.count >= 8 else { throw SafetensorsError.truncated(needed: 8, available: base.count) }
        let n = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        guard n <= UInt64(Self.maxHeaderBytes) else { throw SafetensorsError.headerTooLarge(n) }
        guard Int(n) <= base.count - 8 else { throw SafetensorsError.truncated(needed: Int(n), available: base.count - 8) }
        let dataOffset = 8 + Int(n), dataSize = base.count - dataOffset
        var reader = SafetensorsJSON.Reader(UnsafeRawBufferPointer(rebasing: base[8..<dataOffset]))
        guard case let .object(members) = try reader.parseDocument() else {
            throw SafetensorsError.badJSON(offset: 0, reason: "the header is not an object")
        }

        var metadata: [String: String] = [:]
        var tensors: [SafetensorsTensorInfo] = []
        var names = Set<String>()
        for (name, value) in members {
            guard names.insert(name).inserted else { throw SafetensorsError.badEntry(tensor: name, reason: "appears twice") }
            if name == "__metadata__" {
                guard case let .object(pairs) = value else {
                    throw SafetensorsError.badEntry(tensor: name, reason: "is not an object")
                }
                for (k, v) in pairs {
                    guard case let .string(s) = v else { throw SafetensorsError.badEntry(tensor: name, reason: "value of \(k) is not a string") }
                    metadata[k] = s
                }
                continue
            }
            tensors.append(try Self.tensor(name, value, dataSize: dataSize))
        }

        // Tensors must not share bytes: sorted by start, each begins at or after the previous end.
        let sorted = tensors.filter { $0.byteCount > 0 }.sorted { $0.offset < $1.offset }
        for (a, b) in zip(sorted, sorted.dropFirst()) {
            guard b.offset >= a.offset + a.byteCount else { throw SafetensorsError.overlappingTensors(a.name, b.name) }
        }
        return Header(metadata: metadata, tensors: tensors, dataOffset: dataOffset, dataSize: dataSize)
    }

    static func tensor(_ name: String, _ value: SafetensorsJSON, dataSize: Int) throws -> SafetensorsTensorInfo {
        guard case let .object(fields) = value else { throw SafetensorsError.badEntry(tensor: name, reason: "is not an object") }
        func field(_ key: String) throws -> SafetensorsJSON {
            guard let v = fields.first(where: { $0.0 == key })?.1 else {
                throw SafetensorsError.badEntry(tensor: name, reason: "lacks \(key)")
            }
            return v
        }
        guard case let .string(dtype) = try field("dtype") else {
            throw SafetensorsError.badEntry(tensor: name, reason: "dtype is not a string")
        }
        let type: GGMLType
        switch dtype {
        case "F32": type = .f32
        case "F16": type = .f16
        case "BF16": type = .bf16
        default: throw SafetensorsError.unsupportedDType(tensor: name, dtype: dtype)
        }
        guard case let .array(dims) = try field("shape"), dims.count <= maxDimensions else {
            throw SafetensorsError.badEntry(tensor: name, reason: "shape is not an array of at most \(maxDimensions) integers")
        }
        var shape: [Int] = [], count = 1
        for (i, d) in dims.enumerated() {
            guard let u = d.unsignedValue, u <= UInt64(Int32.max) else {
                throw SafetensorsError.badEntry(tensor: name, reason: "shape[\(i)] is not an integer from 0 to 2^31-1")
            }
            let (p, o) = count.multipliedReportingOverflow(by: Int(u))
            guard !o, p <= Int(Int32.max) * 64 else { throw SafetensorsError.badEntry(tensor: name, reason: "element count overflows") }
            count = p
            shape.append(Int(u))
        }
        guard case let .array(offsets) = try field("data_offsets"), offsets.count == 2,
              let begin = offsets[0].unsignedValue, let end = offsets[1].unsignedValue, begin <= end else {
            throw SafetensorsError.badEntry(tensor: name, reason: "data_offsets is not [begin, end] with begin <= end")
        }
        guard end <= UInt64(dataSize) else {
            throw SafetensorsError.tensorOutOfRange(tensor: name, begin: begin, end: end, dataSize: dataSize)
        }
        // count is at most 2^37, so the byte count cannot overflow.
        let bytes = count * type.blockBytes
        guard UInt64(bytes) == end - begin else { throw SafetensorsError.sizeMismatch(tensor: name, expected: bytes, found: end - begin) }
        return SafetensorsTensorInfo(name: name, type: type, shape: shape, offset: Int(begin), byteCount: bytes)
    }
}
