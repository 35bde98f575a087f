/// Everything that can be wrong with a GGUF file, each case naming what and where,
/// so a user with a bad download learns which part of the file is broken.
public enum GGUFError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case truncated(what: String, offset: Int, needed: Int, available: Int)
    case badMagic(found: UInt32)
    case unsupportedVersion(UInt32)
    case countTooLarge(what: String, count: UInt64)
    case unknownValueType(key: String, type: UInt32)
    case nestingTooDeep(key: String)
    case duplicateKey(String)
    case duplicateTensor(String)
    case badAlignment(UInt64)
    case unknownTensorType(tensor: String, type: UInt32)
    case badTensorShape(tensor: String, reason: String)
    case tensorOutOfRange(tensor: String, offset: UInt64, size: UInt64, dataSize: UInt64)
    case misalignedTensor(tensor: String, offset: UInt64, alignment: Int)
    case missingKey(String)
    case wrongValueType(key: String, expected: String)
    case missingTensor(String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): return "cannot open GGUF file \(path): \(reason)"
        case let .truncated(what, offset, needed, available):
            return "GGUF file is truncated: \(what) at byte \(offset) needs \(needed) bytes, \(available) remain"
        case let .badMagic(found): return "not a GGUF file (magic 0x\(String(found, radix: 16)) instead of \"GGUF\")"
        case let .unsupportedVersion(v):
            // A big-endian file shows its version byte-swapped; say so rather than print 50331648.
            if v.byteSwapped == 2 || v.byteSwapped == 3 {
                return "big-endian GGUF file (version \(v.byteSwapped)); only little-endian files are supported"
            }
            return "unsupported GGUF version \(v) (2 and 3 are supported)"
        case let .countTooLarge(what, count): return "GGUF \(what) count \(count) is larger than the file allows"
        case let .unknownValueType(key, type): return "metadata key \(key) has unknown value type \(type)"
        case let .nestingTooDeep(key): return "metadata key \(key) nests arrays too deeply"
        case let .duplicateKey(k): return "metadata key \(k) appears twice"
        case let .duplicateTensor(n): return "tensor \(n) appears twice"
        case let .badAlignment(a): return "general.alignment \(a) is not a power of two between 1 and 65536"
        case let .unknownTensorType(t, type): return "tensor \(t) has unsupported type \(type)"
        case let .badTensorShape(t, reason): return "tensor \(t) has a bad shape: \(reason)"
        case let .tensorOutOfRange(t, off, size, dataSize):
            return "tensor \(t) (offset \(off), \(size) bytes) lies outside the data section of \(dataSize) bytes"
        case let .misalignedTensor(t, off, a):
            return "tensor \(t) starts at offset \(off), which is not a multiple of general.alignment \(a)"
        case let .missingKey(k): return "model metadata lacks \(k)"
        case let .wrongValueType(k, expected): return "metadata key \(k) should be \(expected)"
        case let .missingTensor(n): return "model lacks tensor \(n)"
        }
    }
}
