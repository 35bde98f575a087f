import XCTest
import GGUF
@testable import Kernels
#if arch(x86_64)
import KernelsAVX2
import KernelsAVX512
#endif

/// Q4_0, Q4_1, Q5_0 and IQ4_NL packed at load for AVX2 (`AVX2Packed32`, whose layout AVX-512 VNNI's kernel
/// `VNNIPacked32` reads too, and Q8_0 in it for that kernel only): through `MatMul` every token count gives the bits of the scalar twin (exact integer block dots, then an FMA per block), so a token's
/// result is the same alone and in any batch; hostile blocks (all zeros, the largest and a
/// subnormal f16 scale), rows not a multiple of the tile, a row range that starts mid-matrix.
final class Packed32Tests: XCTestCase {
    static let types: [GGMLType] = [.q4_0, .q4_1, .q5_0, .iq4_nl]
    static let shapes = [(1, 32), (5, 96), (15, 160), (16, 64), (17, 896), (33, 544), (37, 4864)]

    func packed(_ w: WeightMatrix, backend: MatMul.Backend = .avx2) throws -> (WeightMatrix, PackedWeights) {
        let owner = PackedWeights(backend: backend, enabled: true)
        let p = owner.pack(w)
        XCTAssertNotNil(p.packed, "\(w.type.name) is packed for \(backend)")
        return (p, owner)
    }

    /// The backends with a kernel for the layout on this CPU.
    static var backends: [MatMul.Backend] { [.avx2] + (CPUFeatures.hasAVX512VNNI ? [.avx512] : []) }

    /// The formats a backend packs (all four on both).
    static func types(_ backend: MatMul.Backend) -> [GGMLType] { types + [.q8_0] }

    func testBitwiseEqualToScalarTwinForEveryTokenCount() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX2, "no AVX2 on this CPU")
        let pool = ThreadPool(threads: 2)
        for backend in Self.backends {
            for type in Self.types(backend) {
                for (rows, cols) in Self.shapes {
                    let (w, mem) = MatVecTests.hostileMatrix(type, rows: rows, cols: cols, seed: UInt64(rows * 29 + cols))
                    defer { mem.deallocate() }
                    let (p, owner) = try packed(w, backend: backend)
                    for n in [1, 2, 3, 4, 5, 8, 9, 17, 32, 33] {
                        let x = MatVecTests.activations(n, cols: cols, seed: UInt64(n * 13 + rows))
                        XCTAssertEqual(MatVecTests.multiply(p, x, n, backend: backend, pool: pool).map(\.bitPattern),
                                       MatVecTests.vnniTwin(w, x, n).map(\.bitPattern), "\(type.name) \(rows)x\(cols) n=\(n) \(backend)")
                    }
                    withExtendedLifetime(owner) {}
                }
            }
        }
    }

    /// With AVX-512 VNNI the packed matrix is read only by the packed kernel, at every token count:
    /// the file's rows it was packed from can be gone (their pages are dropped at load), so a kernel
    /// reading them instead would give other numbers here.
    func testVNNIReadsOnlyThePackedCopy() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX512VNNI, "no AVX-512 VNNI on this CPU")
        let pool = ThreadPool(threads: 2)
        for type in Self.types(.avx512) {
            let rows = 37, cols = 896
            let (w, mem) = MatVecTests.hostileMatrix(type, rows: rows, cols: cols, seed: 77)
            defer { mem.deallocate() }
            let (p, owner) = try packed(w, backend: .avx512)
            // Past 8 tokens Q5_0 and Q8_0 decode each tile once (then whole and partial groups of 8).
            let counts = [1, 2, 5, 8, 9, 16, 17, 33, 40]
            let x4 = counts.map { MatVecTests.activations($0, cols: cols, seed: UInt64(5 * $0)) }
            let want = x4.enumerated().map { MatVecTests.vnniTwin(w, $1, counts[$0]).map(\.bitPattern) }
            // The file's bytes overwritten with other weights: only the packed copy holds the matrix.
            let (other, otherMem) = MatVecTests.hostileMatrix(type, rows: rows, cols: cols, seed: 78)
            defer { otherMem.deallocate() }
            UnsafeMutableRawPointer(mutating: w.data).copyMemory(from: other.data, byteCount: rows * w.rowBytes)
            for (i, x) in x4.enumerated() {
                XCTAssertEqual(MatVecTests.multiply(p, x, counts[i], backend: .avx512, pool: pool).map(\.bitPattern), want[i],
                               "\(type.name) n=\(counts[i])")
            }
            withExtendedLifetime(owner) {}
        }
    }

    /// A packed row written back in the file's layout is the file's row, byte for byte (the
    /// fifth bits of Q5_0 too): what a copy kept only packed gives when a row is read.
    func testUnpackedRowsAreTheFilesBytes() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX2, "no AVX2 on this CPU")
        for type in Self.types {
            for (rows, cols) in Self.shapes {
                let (w, mem) = MatVecTests.hostileMatrix(type, rows: rows, cols: cols, seed: UInt64(rows * 7 + cols))
                defer { mem.deallocate() }
                let (p, owner) = try packed(w)
                let only = try XCTUnwrap(WeightMatrix(type: type, onlyPacked: try XCTUnwrap(p.packed), rows: rows, cols: cols))
                var back = [UInt8](repeating: 0, count: w.rowBytes)
                var mine = [Float](repeating: 0, count: cols), want = mine
                for r in 0..<rows {
                    back.withUnsafeMutableBytes {
                        AVX2Packed32.unpackRow(typeID: type.rawValue, packed: only.data, blocks: cols / 32, row: r,
                                               into: $0.baseAddress!)
                    }
                    let file = Array(UnsafeRawBufferPointer(start: w.row(r), count: w.rowBytes))
                    XCTAssertEqual(back, file, "\(type.name) row \(r)")
                    mine.withUnsafeMutableBufferPointer { only.dequantizeRow(r, into: $0.baseAddress!) }
                    want.withUnsafeMutableBufferPointer { w.dequantizeRow(r, into: $0.baseAddress!) }
                    XCTAssertEqual(mine.map(\.bitPattern), want.map(\.bitPattern), "\(type.name) row \(r) dequantized")
                }
                withExtendedLifetime(owner) {}
            }
        }
    }

    /// A row prefix of a packed-only matrix (a draft's first output rows) multiplies as the
    /// file's first rows, for any count of rows, whatever backend a call names (the AVX2 and AVX-512
    /// VNNI kernels read the layout; float activations take the unpacked rows); a plain matrix's prefix
    /// keeps its packed layout only for whole tiles or all rows. Types without the layout are refused.
    func testPrefixesOfAPackedOnlyMatrix() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX2, "no AVX2 on this CPU")
        let pool = ThreadPool(threads: 2)
        let rows = 37, cols = 160
        let (w, mem) = MatVecTests.hostileMatrix(.q4_0, rows: rows, cols: cols, seed: 21)
        defer { mem.deallocate() }
        let (p, owner) = try packed(w)
        let only = try XCTUnwrap(WeightMatrix(type: .q4_0, onlyPacked: try XCTUnwrap(p.packed), rows: rows, cols: cols))
        for k in [1, 9, 16, 33, 37] {
            let view = only.prefix(rows: k)
            XCTAssertTrue(view.onlyPacked)
            XCTAssertEqual(view.rows, k)
            let head = WeightMatrix(type: .q4_0, data: w.data, rows: k, cols: cols)
            for n in [1, 3] {
                let x = MatVecTests.activations(n, cols: cols, seed: UInt64(k * 3 + n))
                let twin = MatVecTests.vnniTwin(head, x, n).map(\.bitPattern)
                for backend in [MatMul.Backend.avx2, .portable] + (CPUFeatures.hasAVX512VNNI ? [.avx512] : []) {
                    XCTAssertEqual(MatVecTests.multiply(view, x, n, backend: backend, pool: pool).map(\.bitPattern), twin,
                                   "\(k) rows, n=\(n), \(backend)")
                }
                var float = [Float](repeating: 0, count: n * k), want = float
                x.withUnsafeBufferPointer { xp in
                    float.withUnsafeMutableBufferPointer {
                        MatMul.multiplyUnquantizedActivations(view, xp.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool)
                    }
                    want.withUnsafeMutableBufferPointer { MatMul.multiplyFloat(head, xp.baseAddress!, nTokens: n, $0.baseAddress!, pool: pool) }
                }
                XCTAssertEqual(float.map(\.bitPattern), want.map(\.bitPattern), "float activations, \(k) rows, n=\(n)")
            }
            // A plain matrix's prefix keeps its copy too, at any k (WeightMatrix.prefix).
            let plainView = p.prefix(rows: k)
            XCTAssertNotNil(plainView.packed, "\(k) rows of a plain matrix")
            let x = MatVecTests.activations(2, cols: cols, seed: UInt64(k))
            for backend in [MatMul.Backend.avx2] + (CPUFeatures.hasAVX512VNNI ? [.avx512] : []) {
                XCTAssertEqual(MatVecTests.multiply(plainView, x, 2, backend: backend, pool: pool).map(\.bitPattern),
                               MatVecTests.vnniTwin(head, x, 2).map(\.bitPattern), "\(k) rows of a plain matrix, \(backend)")
            }
        }
        XCTAssertNil(WeightMatrix(type: .q5_1, onlyPacked: w.data, rows: rows, cols: cols), "no packed layout for Q5_1")
        XCTAssertNil(WeightMatrix(type: .q4_0, onlyPacked: w.data, rows: rows, cols: 48), "rows of whole blocks only")
        withExtendedLifetime(owner) {}
    }

    /// Q8_0 is packed for both backends (stored q ^ 0x80), and its packed rows written back are the
    /// file's bytes.
    func testQ8_0PackedRowsAreTheFilesBytes() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX2, "no AVX2 on this CPU")
        let rows = 37, cols = 160
        let (w, mem) = MatVecTests.hostileMatrix(.q8_0, rows: rows, cols: cols, seed: 23)
        defer { mem.deallocate() }
        XCTAssertTrue(AVX2Packed32.supports(typeID: GGMLType.q8_0.rawValue))
        for backend in Self.backends {
            let (p, owner) = try packed(w, backend: backend)
            XCTAssertEqual(owner.bytes, AVX2Packed32.packedBytes(typeID: GGMLType.q8_0.rawValue, rows: rows, blocks: cols / 32))
            var back = [UInt8](repeating: 0, count: w.rowBytes)
            for r in 0..<rows {
                back.withUnsafeMutableBytes {
                    AVX2Packed32.unpackRow(typeID: GGMLType.q8_0.rawValue, packed: p.packed!, blocks: cols / 32, row: r, into: $0.baseAddress!)
                }
                XCTAssertEqual(back, Array(UnsafeRawBufferPointer(start: w.row(r), count: w.rowBytes)), "\(backend) row \(r)")
            }
            withExtendedLifetime(owner) {}
        }
    }

    /// The output projection multiplies float activations (its own kernels, on the file's layout):
    /// not packed for AVX2 (on AVX-512 VNNI only a Q8_0 one is: VNNIPacked32LogitsTests).
    func testOutputProjectionIsNotPacked() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX2, "no AVX2 on this CPU")
        let (w, mem) = MatVecTests.hostileMatrix(.q4_1, rows: 40, cols: 64, seed: 3)
        defer { mem.deallocate() }
        let owner = PackedWeights(backend: .avx2, enabled: true)
        XCTAssertNil(owner.pack(w, logits: true).packed)
        XCTAssertEqual(owner.bytes, 0)
    }

    /// Beside other matrices of the same width in one call (q, k and v): each gets its own bits.
    func testWithOtherMatricesInOneCall() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX2, "no AVX2 on this CPU")
        let pool = ThreadPool(threads: 2)
        let cols = 896
        for type in [GGMLType.q4_1, .q5_0, .iq4_nl] {
        let (a, ma) = MatVecTests.hostileMatrix(type, rows: 40, cols: cols, seed: 1)
        let (b, mb) = MatVecTests.hostileMatrix(.q8_0, rows: 24, cols: cols, seed: 2)
        defer { ma.deallocate(); mb.deallocate() }
        for backend in Self.backends {
            for n in [2, 7, 12] {
                let (pa, owner) = try packed(a, backend: backend)
                let x = MatVecTests.activations(n, cols: cols, seed: 4)
                var ya = [Float](repeating: 0, count: n * 40), yb = [Float](repeating: 0, count: n * 24)
                ya.withUnsafeMutableBufferPointer { ya in
                    yb.withUnsafeMutableBufferPointer { yb in
                        x.withUnsafeBufferPointer {
                            MatMul.multiply([(pa, ya.baseAddress!), (b, yb.baseAddress!)], $0.baseAddress!, nTokens: n, pool: pool,
                                            backend: backend)
                        }
                    }
                }
                XCTAssertEqual(ya.map(\.bitPattern), MatVecTests.vnniTwin(a, x, n).map(\.bitPattern), "\(type.name) \(backend) n=\(n)")
                XCTAssertEqual(yb, MatVecTests.multiply(b, x, n, backend: backend, pool: pool), "\(type.name) \(backend) n=\(n)")
                withExtendedLifetime(owner) {}
            }
        }
        }
    }

    /// The kernel on rows 16..<44 of 53: those rows get the twin's bits, no other is written.
    func testRowRange() throws {
        #if arch(x86_64)
        try XCTSkipUnless(CPUFeatures.hasAVX2, "no AVX2 on this CPU")
        let rows = 53, cols = 288, r0 = 16, r1 = 44
        for (type, n) in [(GGMLType.q5_0, 1), (.q5_0, 3), (.q4_0, 1), (.q4_1, 2), (.q4_0, 11), (.q5_0, 11), (.q4_1, 9),
                          (.iq4_nl, 1), (.iq4_nl, 11)] {
            let (w, mem) = MatVecTests.hostileMatrix(type, rows: rows, cols: cols, seed: 5)
            defer { mem.deallocate() }
            let (p, owner) = try packed(w)
            let x = MatVecTests.activations(n, cols: cols, seed: 9)
            let twin = MatVecTests.vnniTwin(w, x, n)
            let act = Q8Buffer(nTokens: n, blocks: cols / 32)
            let asum = UnsafeMutablePointer<Int32>.allocate(capacity: n * cols / 32)
            defer { act.free(); asum.deallocate() }
            x.withUnsafeBufferPointer { act.quantize($0.baseAddress!, tokens: 0..<n) }
            AVX2Packed32.blockSums(act.view, tokens: 0..<n, asum)
            let sentinel = Float(-12345)
            // The same layout through both kernels: AVX2's, and AVX-512 VNNI's where the CPU has it.
            for vnni in [false] + (CPUFeatures.hasAVX512VNNI ? [true] : []) {
                var y = [Float](repeating: sentinel, count: n * rows)
                y.withUnsafeMutableBufferPointer {
                    let end = p.packed! + AVX2Packed32.packedBytes(typeID: type.rawValue, rows: rows, blocks: cols / 32)
                    if vnni {
                        // Q5_0 past 8 tokens decodes each tile into scratch: a caller's, as the matmul passes it.
                        let scratch = UnsafeMutableRawPointer.allocate(byteCount: VNNIPacked32.scratchBytes(blocks: cols / 32),
                                                                       alignment: 64)
                        defer { scratch.deallocate() }
                        VNNIPacked32.rows(typeID: type.rawValue, packed: p.packed!, end: end, r0: r0, r1: r1, act: act.view,
                                          asum: asum, y: $0.baseAddress!, ldy: rows, scratch: scratch)
                    } else {
                        AVX2Packed32.rows(typeID: type.rawValue, packed: p.packed!, end: end, r0: r0, r1: r1, act: act.view,
                                          asum: asum, y: $0.baseAddress!, ldy: rows)
                    }
                }
                for t in 0..<n {
                    for r in 0..<rows {
                        let i = t * rows + r
                        if (r0..<r1).contains(r) {
                            XCTAssertEqual(y[i].bitPattern, twin[i].bitPattern, "\(type.name) n=\(n) t=\(t) r=\(r) vnni \(vnni)")
                        } else {
                            XCTAssertEqual(y[i], sentinel, "\(type.name) n=\(n) t=\(t) r=\(r) written outside its rows")
                        }
                    }
                }
            }
            withExtendedLifetime(owner) {}
        }
        #endif
    }
}
