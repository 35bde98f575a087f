// libFuzzer target for the GGUF reader and the reference dequantizer.
// Built by run.sh together with Sources/GGUF/*.swift and Sources/Kernels/Dequantize.swift
// as one module named GGUF (Dequantize.swift's `import GGUF` then names its own module,
// which Swift ignores with a warning), so the sources are fuzzed unchanged.

/// Rows longer than this are skipped: the point is reading the bytes, not the time.
let maxRowElements = 1 << 16

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buffer = UnsafeRawBufferPointer(start: data, count: size)
    var parser = GGUFParser(buffer)
    guard let header = try? parser.parse() else { return 0 }  // a thrown GGUFError is a pass

    // Whatever the parser accepts must lie inside the input: dequantize the first row of
    // each tensor so ASan sees any read past the end.
    var row = [Float](repeating: 0, count: 256)  // [rowLength], grown as needed
    for t in header.tensors where t.elementCount > 0 && Dequantize.supports(t.type) {
        guard t.rowLength <= maxRowElements else { continue }
        let end = header.dataOffset + t.offset + t.byteCount
        precondition(end <= size, "tensor \(t.name) ends at \(end), past the input's \(size) bytes")
        precondition(t.rowBytes * t.rowCount == t.byteCount, "tensor \(t.name) rows do not tile its bytes")
        if row.count < t.rowLength { row = [Float](repeating: 0, count: t.rowLength) }
        row.withUnsafeMutableBufferPointer { out in
            try? Dequantize.row(t.type, UnsafeRawPointer(data) + header.dataOffset + t.offset,
                                count: t.rowLength, into: out.baseAddress!)
        }
    }
    // Touch the typed accessors the model loader uses.
    for (_, v) in header.metadata {
        _ = v.intValue; _ = v.floatValue; _ = v.stringArray; _ = v.int32Array; _ = v.floatArray
    }
    return 0
}
