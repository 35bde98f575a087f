// libFuzzer target for the safetensors reader (adapter files). Built by run.sh together with
// Sources/GGUF/*.swift as one module named GGUF, so the sources are fuzzed unchanged.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buffer = UnsafeRawBufferPointer(start: data, count: size)
    guard let header = try? SafetensorsParser(buffer).parse() else { return 0 }  // a thrown error is a pass

    // Whatever the parser accepts must lie inside the input and not overlap: read every byte
    // of each tensor so ASan sees any read past the end.
    var ranges: [Range<Int>] = []
    for t in header.tensors {
        let start = header.dataOffset + t.offset, end = start + t.byteCount
        precondition(end <= size, "tensor \(t.name) ends at \(end), past the input's \(size) bytes")
        precondition(t.elementCount * t.type.blockBytes == t.byteCount, "tensor \(t.name) shape does not match its bytes")
        var sum: UInt8 = 0
        for i in start..<end { sum &+= data[i] }
        _ = sum
        if t.byteCount > 0 { ranges.append(start..<end) }
    }
    ranges.sort { $0.lowerBound < $1.lowerBound }
    for (a, b) in zip(ranges, ranges.dropFirst()) { precondition(a.upperBound <= b.lowerBound, "tensors overlap") }
    return 0
}
