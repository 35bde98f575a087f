import XCTest
import GGUF
@testable import Kernels

/// A Q8_0 output projection packed at load on AVX-512 VNNI (`PackedWeights.pack(logits: true)`, read by
/// `VNNIPacked32Logits`): bit for bit the file-layout logits kernel (`VNNIQ8x16MatMul`, checked against
/// the float64 reference in `VNNIQ8x16MatMulTests`) at every token count, on extreme blocks, for a
/// prefix of the rows, and its rows looked up from the copy as from the file.
final class VNNIPacked32LogitsTests: XCTestCase {
    override func setUpWithError() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX512VNNI, "no AVX-512 VNNI on this CPU")
    }

    let pool = ThreadPool(threads: 2)

    func logits(_ w: WeightMatrix, _ x: [Float], _ n: Int) -> [Float] {
        var y = [Float](repeating: .nan, count: n * w.rows)
        x.withUnsafeBufferPointer { xb in
            y.withUnsafeMutableBufferPointer {
                MatMul.multiplyUnquantizedActivations(w, xb.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool, backend: .avx512)
            }
        }
        return y
    }

    func packed(_ w: WeightMatrix, _ owner: PackedWeights) throws -> WeightMatrix {
        let p = owner.pack(w, logits: true)
        XCTAssertNotNil(p.packed, "a Q8_0 output projection gets a packed copy on AVX-512 VNNI")
        XCTAssertEqual(p.data, w.data, "the file's rows stay where they were")
        return p
    }

    /// The packed matrix with its file rows replaced by garbage: only the copy can give its results.
    func copyOnly(_ p: WeightMatrix, _ garbage: UnsafeMutableRawPointer) -> WeightMatrix {
        garbage.initializeMemory(as: UInt8.self, repeating: 0x55, count: p.rows * p.rowBytes)
        return WeightMatrix(type: p.type, data: UnsafeRawPointer(garbage), rows: p.rows, cols: p.cols, packed: p.packed)
    }

    func bits(_ y: [Float]) -> [UInt32] { y.map(\.bitPattern) }

    /// Partial last tiles, token counts around the group of 8 (one group streams, more re-read the tile).
    func testSameBitsAsTheFileLayoutKernel() throws {
        for (rows, cols) in [(37, 576), (1000, 576), (5, 32), (19, 1536), (64, 64)] {
            let (w, mem) = QuantizedMatMulTests.randomMatrix(.q8_0, rows: rows, cols: cols, seed: UInt64(rows) &* 13)
            defer { mem.deallocate() }
            let owner = PackedWeights(backend: .avx512, enabled: true)
            let p = try packed(w, owner)
            let garbage = UnsafeMutableRawPointer.allocate(byteCount: rows * w.rowBytes, alignment: 64)
            defer { garbage.deallocate() }
            let c = copyOnly(p, garbage)
            for n in [1, 3, 8, 9, 17, 32] where rows < 1000 || n < 9 {
                let x = QuantizedMatMulTests.randomActivations(n * cols, seed: UInt64(n) + 41)
                XCTAssertEqual(bits(logits(c, x, n)), bits(logits(w, x, n)), "rows=\(rows) cols=\(cols) n=\(n)")
            }
        }
    }

    /// Weights at -128 and 127, all-zero blocks and rows, large scales; activations whose blocks round
    /// to ±32767 (the high byte at its ends, ±128 · 255 + 255), single outliers, and zero blocks.
    func testExtremeBlocks() throws {
        let rows = 40, cols = 256, nb = cols / 32
        let (w, mem) = QuantizedMatMulTests.randomMatrix(.q8_0, rows: rows, cols: cols, seed: 5)
        defer { mem.deallocate() }
        for r in 0..<rows {
            for b in 0..<nb {
                let block = mem + (r * nb + b) * 34
                let d: Float16 = r % 5 == 0 ? 60000 : r % 5 == 1 ? 0 : 0.01
                block.storeBytes(of: d.bitPattern, as: UInt16.self)
                for j in 0..<32 {
                    let q: Int8 = r % 4 == 0 ? (j % 2 == 0 ? -128 : 127) : r % 4 == 1 ? -128 : r % 4 == 2 ? 0 : Int8(truncatingIfNeeded: j * 37 + b)
                    block.storeBytes(of: q, toByteOffset: 2 + j, as: Int8.self)
                }
            }
        }
        // Three kinds of token, repeated to 12 (past a group of 8: the tile read again).
        var x = [Float](repeating: 0, count: 12 * cols)
        for t in 0..<12 {
            for i in 0..<cols {
                switch t % 3 {
                case 0: x[t * cols + i] = i % 32 == 0 ? -1 : 1e-3 * Float(i % 7)        // -1 rounds to -32767, the rest near 0
                case 1: x[t * cols + i] = (i / 32) % 2 == 0 ? 0 : (i % 2 == 0 ? 3 : -3)  // zero blocks, ±32767 blocks
                default: x[t * cols + i] = Float(i % 32) / 31 - 0.5                      // every high byte from -128 to 127
                }
            }
        }
        let owner = PackedWeights(backend: .avx512, enabled: true)
        let p = try packed(w, owner)
        var want: [[UInt32]] = []
        for n in [1, 3, 12] { want.append(bits(logits(w, Array(x[0..<(n * cols)]), n))) }
        let garbage = UnsafeMutableRawPointer.allocate(byteCount: rows * w.rowBytes, alignment: 64)
        defer { garbage.deallocate() }
        let c = copyOnly(p, garbage)
        for (k, n) in [1, 3, 12].enumerated() {
            XCTAssertEqual(bits(logits(c, Array(x[0..<(n * cols)]), n)), want[k], "n=\(n)")
        }
        // The exact integer dot decides the zero rows and the -128/127 rows' signs.
        let y = logits(c, Array(x[0..<(3 * cols)]), 3)
        XCTAssertEqual(y[2 * rows + 2], 0, "a row of zero weights")
        XCTAssertEqual(y[rows + 1], 0, "a row scaled by d = 0")
    }

    /// Views of the copy as the logits code takes them: the first rows (whole tiles or not: a draft's
    /// part of the vocabulary) and the rows from a tile on (the rest for a whole-vocabulary sequence)
    /// keep the copy and give the whole matrix's logits; a gathered row is the file's row.
    func testPrefixSuffixAndRows() throws {
        let rows = 70, cols = 576
        let (w, mem) = QuantizedMatMulTests.randomMatrix(.q8_0, rows: rows, cols: cols, seed: 8)
        defer { mem.deallocate() }
        let owner = PackedWeights(backend: .avx512, enabled: true)
        let p = try packed(w, owner)
        let xs = [1, 9].map { n in (n, QuantizedMatMulTests.randomActivations(n * cols, seed: UInt64(n))) }
        let all = xs.map { bits(logits(w, $0.1, $0.0)) }
        var fileRows = [UInt8](repeating: 0, count: rows * w.rowBytes)
        fileRows.withUnsafeMutableBytes { $0.baseAddress!.copyMemory(from: w.data, byteCount: rows * w.rowBytes) }
        let garbage = UnsafeMutableRawPointer.allocate(byteCount: rows * w.rowBytes, alignment: 64)
        defer { garbage.deallocate() }
        let c = copyOnly(p, garbage)
        for k in [32, 37, 5] {
            let head = c.prefix(rows: k)
            XCTAssertNotNil(head.packed, "\(k) rows keep the copy")
            for (i, (n, x)) in xs.enumerated() {
                let part = bits(logits(head, x, n))
                for t in 0..<n {
                    XCTAssertEqual(Array(part[(t * k)..<(t * k + k)]), Array(all[i][(t * rows)..<(t * rows + k)]), "first \(k), n=\(n) t=\(t)")
                }
            }
        }
        let tail = c.suffix(fromRow: 48)
        XCTAssertNotNil(tail.packed, "rows from a whole tile on keep the copy")
        for (i, (n, x)) in xs.enumerated() {
            let part = bits(logits(tail, x, n))
            for t in 0..<n {
                XCTAssertEqual(Array(part[(t * 22)..<(t * 22 + 22)]), Array(all[i][(t * rows + 48)..<(t * rows + rows)]), "rows 48..., n=\(n) t=\(t)")
            }
        }
        XCTAssertNil(c.suffix(fromRow: 40).packed, "mid-tile: the file's rows")
        var row = [UInt8](repeating: 0, count: w.rowBytes)
        for r in [0, 17, 69] {
            row.withUnsafeMutableBytes { c.copyRow(r, into: $0.baseAddress!) }
            XCTAssertEqual(row, Array(fileRows[(r * w.rowBytes)..<((r + 1) * w.rowBytes)]), "row \(r)'s bytes")
        }
    }

    /// A tied embedding's lookups read the copy (the file's pages were dropped): every row as the file has it.
    func testRowsLookedUpFromTheCopy() throws {
        let rows = 45, cols = 96
        let (w, mem) = QuantizedMatMulTests.randomMatrix(.q8_0, rows: rows, cols: cols, seed: 21)
        defer { mem.deallocate() }
        let owner = PackedWeights(backend: .avx512, enabled: true)
        let p = try packed(w, owner)
        // Scribble over the file's bytes: the copy alone must give the rows.
        let original = (0..<rows).map { r -> [Float] in
            var row = [Float](repeating: 0, count: cols)
            row.withUnsafeMutableBufferPointer { w.dequantizeRow(r, into: $0.baseAddress!) }
            return row
        }
        mem.initializeMemory(as: UInt8.self, repeating: 0x55, count: rows * w.rowBytes)
        for r in 0..<rows {
            var row = [Float](repeating: .nan, count: cols)
            row.withUnsafeMutableBufferPointer { p.dequantizeRow(r, into: $0.baseAddress!) }
            XCTAssertEqual(row, original[r], "row \(r)")
        }
    }

    /// A broken model's hidden state (NaN, infinity) reaches the logits without trapping the int16
    /// conversion, on both layouts alike: an infinite element makes the token's logits NaN.
    func testNonFiniteActivations() throws {
        let rows = 20, cols = 64
        let (w, mem) = QuantizedMatMulTests.randomMatrix(.q8_0, rows: rows, cols: cols, seed: 4)
        defer { mem.deallocate() }
        let owner = PackedWeights(backend: .avx512, enabled: true)
        let p = try packed(w, owner)
        var x = QuantizedMatMulTests.randomActivations(2 * cols, seed: 6)
        x[3] = .nan
        x[cols + 40] = .infinity
        let a = logits(p, x, 2), b = logits(w, x, 2)
        XCTAssertEqual(bits(a), bits(b))
        XCTAssertTrue(a[0..<rows].allSatisfy(\.isFinite), "a NaN element counts as zero")
        XCTAssertTrue(a[rows...].allSatisfy(\.isNaN), "an infinite element: NaN logits")
    }
}
