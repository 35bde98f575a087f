/// Everything that can be wrong with a safetensors file, each case naming the tensor or the
/// part of the header at fault.
public enum SafetensorsError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case truncated(needed: Int, available: Int)
    case headerTooLarge(UInt64)
    case badJSON(offset: Int, reason: String)
    case badEntry(tensor: String, reason: String)
    case unsupportedDType(tensor: String, dtype: String)
    case tensorOutOfRange(tensor: String, begin: UInt64, end: UInt64, dataSize: Int)
    case sizeMismatch(tensor: String, expected: Int, found: UInt64)
    case overlappingTensors(String, String)

    public var description: String {
        switch self {
        case let .cannotOpen(path, reason): return "cannot open safetensors file \(path): \(reason)"
        case let .truncated(needed, available):
            return "safetensors file is truncated: the header needs \(needed) bytes, \(available) are there"
        case let .headerTooLarge(n): return "safetensors header length \(n) is larger than allowed (\(SafetensorsParser.maxHeaderBytes) bytes)"
        case let .badJSON(offset, reason): return "safetensors header is not valid JSON at byte \(offset): \(reason)"
        case let .badEntry(t, reason): return "safetensors tensor \(t): \(reason)"
        case let .unsupportedDType(t, d): return "safetensors tensor \(t) has unsupported dtype \(d) (F32, F16 and BF16 are read)"
        case let .tensorOutOfRange(t, b, e, size):
            return "safetensors tensor \(t) (bytes \(b)..<\(e)) lies outside the data section of \(size) bytes"
        case let .sizeMismatch(t, expected, found):
            return "safetensors tensor \(t) covers \(found) bytes but its shape and dtype need \(expected)"
        case let .overlappingTensors(a, b): return "safetensors tensors \(a) and \(b) overlap"
        }
    }
}
