/// Parses the header, metadata and tensor table of a GGUF file held in memory.
/// Every read is bounds-checked against the buffer, and every count is checked
/// against the bytes left before anything is allocated, so a hostile file costs
/// at most a few times its own size.
public struct GGUFParser {
    public static let magic: UInt32 = 0x4655_4747  // "GGUF" little-endian
    static let maxArrayDepth = 8
    static let maxDimensions = 4

    let base: UnsafeRawBufferPointer
    var offset = 0

    public init(_ buffer: UnsafeRawBufferPointer) { base = buffer }

    public struct Header: Sendable {
        public var version: UInt32
        public var metadata: [String: GGUFValue]
        public var metadataKeys: [String]
        public var tensors: [GGUFTensorInfo]
        public var alignment: Int
        public var dataOffset: Int
        public var dataSize: Int
    }

    public mutating func parse() throws -> Header {
        let magic = try read(UInt32.self, "magic")
        guard magic == Self.magic else { throw GGUFError.badMagic(found: magic) }
        let version = try read(UInt32.self, "version")
        guard version == 2 || version == 3 else { throw GGUFError.unsupportedVersion(version) }
        let tensorCount = try read(UInt64.self, "tensor count")
        let kvCount = try read(UInt64.self, "metadata count")
        // A key-value pair takes at least 8 (key length) + 4 (type) + 1 bytes.
        try checkCount(kvCount, minBytesEach: 13, what: "metadata")

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        for _ in 0..<Int(kvCount) {
            let key = try readString("metadata key")
            let type = try read(UInt32.self, "value type of \(key)")
            let value = try readValue(type: type, key: key, depth: 0)
            guard metadata.updateValue(value, forKey: key) == nil else { throw GGUFError.duplicateKey(key) }
            keys.append(key)
        }

        var alignment = 32
        if let a = metadata["general.alignment"] {
            guard let v = a.intValue, v > 0, v <= 65536, v & (v - 1) == 0 else {
                throw GGUFError.badAlignment(UInt64(truncatingIfNeeded: a.intValue ?? 0))
            }
            alignment = v
        }

        // A tensor entry takes at least 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset).
        try checkCount(tensorCount, minBytesEach: 24, what: "tensor")
        var raw: [(String, [Int], GGMLType, UInt64)] = []
        var names = Set<String>()
        for _ in 0..<Int(tensorCount) {
            let name = try readString("tensor name")
            guard names.insert(name).inserted else { throw GGUFError.duplicateTensor(name) }
            let nDims = try read(UInt32.self, "dimension count of \(name)")
            guard nDims >= 1, nDims <= UInt32(Self.maxDimensions) else {
                throw GGUFError.badTensorShape(tensor: name, reason: "\(nDims) dimensions (1 to 4 allowed)")
            }
            var dims: [Int] = []
            for _ in 0..<Int(nDims) {
                let d = try read(UInt64.self, "dimension of \(name)")
                guard d <= UInt64(Int32.max) else {
                    throw GGUFError.badTensorShape(tensor: name, reason: "dimension \(d) is too large")
                }
                dims.append(Int(d))
            }
            let typeRaw = try read(UInt32.self, "type of \(name)")
            guard let type = GGMLType(rawValue: typeRaw) else {
                throw GGUFError.unknownTensorType(tensor: name, type: typeRaw)
            }
            let off = try read(UInt64.self, "offset of \(name)")
            raw.append((name, dims, type, off))
        }

        let dataOffset = (offset + alignment - 1) / alignment * alignment
        let dataSize = max(0, base.count - dataOffset)
        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(raw.count)
        for (name, dims, type, off) in raw {
            var count = 1
            for d in dims {
                let (p, o) = count.multipliedReportingOverflow(by: d)
                guard !o, p <= Int(Int32.max) * 64 else {
                    throw GGUFError.badTensorShape(tensor: name, reason: "element count overflows")
                }
                count = p
            }
            guard dims[0] % type.blockSize == 0, let bytes = type.byteCount(elements: count) else {
                throw GGUFError.badTensorShape(
                    tensor: name, reason: "row length \(dims[0]) is not a multiple of \(type.name)'s block of \(type.blockSize)")
            }
            // Checked apart from the range: an unaligned offset is a different defect to report.
            guard off % UInt64(alignment) == 0 else {
                throw GGUFError.misalignedTensor(tensor: name, offset: off, alignment: alignment)
            }
            guard off <= UInt64(dataSize), UInt64(bytes) <= UInt64(dataSize) - off else {
                throw GGUFError.tensorOutOfRange(tensor: name, offset: off, size: UInt64(bytes), dataSize: UInt64(dataSize))
            }
            tensors.append(GGUFTensorInfo(name: name, dimensions: dims, type: type, offset: Int(off), byteCount: bytes))
        }
        return Header(version: version, metadata: metadata, metadataKeys: keys, tensors: tensors,
                      alignment: alignment, dataOffset: dataOffset, dataSize: dataSize)
    }

    // MARK: - primitives

    private var remaining: Int { base.count - offset }

    private func checkCount(_ count: UInt64, minBytesEach: Int, what: String) throws {
        guard count <= UInt64(remaining / minBytesEach) else {
            throw GGUFError.countTooLarge(what: what, count: count)
        }
    }

    private mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: String) throws -> T {
        let n = MemoryLayout<T>.size
        guard remaining >= n else {
            throw GGUFError.truncated(what: what, offset: offset, needed: n, available: remaining)
        }
        let v = base.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += n
        return T(littleEndian: v)
    }

    private mutating func readString(_ what: String) throws -> String {
        let len = try read(UInt64.self, "length of \(what)")
        guard len <= UInt64(remaining) else {
            throw GGUFError.truncated(what: what, offset: offset, needed: Int(clamping: len), available: remaining)
        }
        let n = Int(len)
        let s = String(decoding: UnsafeRawBufferPointer(rebasing: base[offset..<offset + n]), as: UTF8.self)
        offset += n
        return s
    }

    private mutating func readValue(type: UInt32, key: String, depth: Int) throws -> GGUFValue {
        switch type {
        case 0: return .uint8(try read(UInt8.self, key))
        case 1: return .int8(try read(Int8.self, key))
        case 2: return .uint16(try read(UInt16.self, key))
        case 3: return .int16(try read(Int16.self, key))
        case 4: return .uint32(try read(UInt32.self, key))
        case 5: return .int32(try read(Int32.self, key))
        case 6: return .float32(Float(bitPattern: try read(UInt32.self, key)))
        case 7: return .bool(try read(UInt8.self, key) != 0)
        case 8: return .string(try readString(key))
        case 9:
            guard depth < Self.maxArrayDepth else { throw GGUFError.nestingTooDeep(key: key) }
            let elemType = try read(UInt32.self, "array type of \(key)")
            let count = try read(UInt64.self, "array length of \(key)")
            guard let size = Self.minValueSize(elemType) else {
                throw GGUFError.unknownValueType(key: key, type: elemType)
            }
            try checkCount(count, minBytesEach: size, what: "array \(key)")
            var items: [GGUFValue] = []
            items.reserveCapacity(Int(count))
            for _ in 0..<Int(count) {
                items.append(try readValue(type: elemType, key: key, depth: depth + 1))
            }
            return .array(items)
        case 10: return .uint64(try read(UInt64.self, key))
        case 11: return .int64(try read(Int64.self, key))
        case 12: return .float64(Double(bitPattern: try read(UInt64.self, key)))
        default: throw GGUFError.unknownValueType(key: key, type: type)
        }
    }

    /// Fewest bytes one value of a type can take in the file.
    static func minValueSize(_ type: UInt32) -> Int? {
        switch type {
        case 0, 1, 7: return 1
        case 2, 3: return 2
        case 4, 5, 6: return 4
        case 8, 10, 11, 12: return 8
        case 9: return 12
        default: return nil
        }
    }
}
