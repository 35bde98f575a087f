import XCTest
import GGUF
@testable import Kernels
#if arch(x86_64)
import KernelsAVX2
#endif

/// Matrices rewritten in Q4_0 at load (`Requantize`, a draft model's `ModelWeights.Shrink`): each
/// element within half a level of the source's value, the block's largest value kept, zero blocks
/// zero, scales past f16's range clamped (finite results), and the copy multiplied by the same
/// kernels as a Q4_0 file's matrix (bits of their scalar twin).
final class RequantizeTests: XCTestCase {
    func testABlockKeepsItsLargestValueAndEveryOtherWithinHalfALevel() {
        var rng = SplitMix(7)
        var out = [UInt8](repeating: 0, count: 18), back = [Float](repeating: 0, count: 32)
        for trial in 0..<200 {
            // Mixed signs and magnitudes; every fifth block's largest value is positive.
            var x = (0..<32).map { _ in Float(rng.unit() * 2 - 1) * (trial % 3 == 0 ? 1e-3 : 3) }
            let k = trial % 32
            x[k] = (trial % 5 == 0 ? 1 : -1) * x.map(abs).max()! * 1.5
            out.withUnsafeMutableBytes { o in
                x.withUnsafeBufferPointer { Requantize.q4_0Block($0.baseAddress!, o.baseAddress!) }
                back.withUnsafeMutableBufferPointer { Dequantize.q4_0(o.baseAddress!, $0.baseAddress!) }
            }
            let d = abs(halfToFloat(UInt16(out[0]) | UInt16(out[1]) << 8))
            XCTAssertEqual(back[k], x[k], accuracy: abs(x[k]) * 1e-3, "trial \(trial): the largest value is a level")
            for j in 0..<32 {
                // Level k·d: at most half a level off, or the top level (7d) for values past it.
                let bound = x[j] * (x[k] < 0 ? 1 : -1) > 7 * d ? abs(x[j]) - 7 * d + 1e-6 : d / 2 * 1.001 + 1e-9
                XCTAssertLessThanOrEqual(abs(back[j] - x[j]), bound, "trial \(trial) element \(j)")
            }
        }
    }

    /// The AVX2 level step gives the scalar rule's nibbles: random blocks at several scales,
    /// values on a level's half (ties), NaN, infinities, zeros, and a zero scale.
    func testAVX2NibblesAreTheScalarRules() throws {
        #if arch(x86_64)
        try XCTSkipUnless(CPUFeatures.hasAVX2, "no AVX2 on this CPU")
        var rng = SplitMix(11)
        var blocks: [([Float], Float)] = (0..<300).map { t in
            let scale: Float = [1e-6, 1e-2, 1, 300][t % 4]
            return ((0..<32).map { _ in Float(rng.unit() * 2 - 1) * scale * 8 }, 1 / scale)
        }
        // Scales of either sign (negative when the block's largest value is positive).
        blocks += blocks.map { ($0.0, -$0.1) }
        blocks.append(((0..<32).map { Float($0 % 17) - 8.5 }, 1))  // v·inv + 8.5 exactly an integer
        blocks.append(((0..<32).map { (Float($0 % 17) - 8.5) * 0.1 }, 10))  // near halves, inexact products
        blocks.append(((0..<32).map { (Float($0 % 17) - 8.5) * 0.1 }, -10))
        // NaN, infinities and zeros in both halves and at both ends, with a scale and with none.
        let odd: [Float] = [.nan, .infinity, -.infinity, 0, -0.0, 7, -3]
        for inv: Float in [0.5, -0.25, 0] {
            blocks.append(((0..<32).map { odd[$0 % odd.count] }, inv))
            blocks.append(((0..<32).map { odd[(31 - $0) % odd.count] }, inv))
        }
        blocks.append(([Float](repeating: 3, count: 32), 0))
        for (i, (x, inv)) in blocks.enumerated() {
            var simd = [UInt8](repeating: 0xAA, count: 16), scalar = [UInt8](repeating: 0x55, count: 16)
            x.withUnsafeBufferPointer { p in
                simd.withUnsafeMutableBytes { AVX2Requantize.q4_0Nibbles(p.baseAddress!, inv, $0.baseAddress!) }
                scalar.withUnsafeMutableBytes { Requantize.q4_0Nibbles(p.baseAddress!, inv, $0.baseAddress!) }
            }
            XCTAssertEqual(simd, scalar, "block \(i)")
        }
        #else
        throw XCTSkip("x86 only")
        #endif
    }

    func testZeroAndOutOfRangeBlocks() {
        var out = [UInt8](repeating: 0xFF, count: 18), back = [Float](repeating: 1, count: 32)
        let zero = [Float](repeating: 0, count: 32)
        var huge = [Float](repeating: 3e6, count: 32)
        huge[4] = -9e6
        for (x, name) in [(zero, "zero"), (huge, "huge")] {
            out.withUnsafeMutableBytes { o in
                x.withUnsafeBufferPointer { Requantize.q4_0Block($0.baseAddress!, o.baseAddress!) }
                back.withUnsafeMutableBufferPointer { Dequantize.q4_0(o.baseAddress!, $0.baseAddress!) }
            }
            XCTAssertTrue(back.allSatisfy(\.isFinite), name)
            if name == "zero" { XCTAssertEqual(back, zero) }
            // Clamped scale: the largest value saturates at -8 levels of f16's largest scale, signs kept.
            if name == "huge" { XCTAssertEqual(back[4], -8 * 65504); XCTAssertGreaterThan(back[0], 0) }
        }
    }

    func testShrinksOnlyWhatWouldReadFewerBytes() {
        func w(_ t: GGMLType, cols: Int = 256) -> WeightMatrix {
            WeightMatrix(type: t, data: UnsafeRawPointer(bitPattern: 64)!, rows: 4, cols: cols)
        }
        for t in [GGMLType.q8_0, .q5_0, .q5_1, .q4_1, .q6_K, .q5_K, .f16, .f32] { XCTAssertTrue(Requantize.shrinks(w(t)), t.name) }
        for t in [GGMLType.q4_0, .q4_K, .q3_K, .q2_K] { XCTAssertFalse(Requantize.shrinks(w(t)), t.name) }
        XCTAssertFalse(Requantize.shrinks(w(.f32, cols: 40)), "rows of whole Q4_0 blocks only")
    }

    /// From each wider file type: a prefix of the rows, each element as the block rule gives it
    /// from the source's value, and through `MatMul` the bits of the Q4_0 scalar twin.
    func testMatricesFromEachWiderTypeMultiplyAsQ4_0() throws {
        let pool = ThreadPool(threads: 2)
        var backends: [MatMul.Backend] = [CPUFeatures.hasAVX2 ? .avx2 : .portable]
        if CPUFeatures.hasAVX512VNNI { backends.append(.avx512) }
        for backend in backends {
        for (type, rows, cols) in [(GGMLType.q8_0, 37, 896), (.q5_0, 40, 160), (.q4_1, 17, 96), (.q6_K, 33, 512)] {
            let (w, mem) = type.blockSize == 32
                ? MatVecTests.hostileMatrix(type, rows: rows, cols: cols, seed: UInt64(rows))
                : QuantizedMatMulTests.randomMatrix(type, rows: rows, cols: cols, seed: UInt64(rows))
            defer { mem.deallocate() }
            let owner = PackedWeights(backend: backend, enabled: true)
            let keep = rows - 5
            let q = owner.requantizedQ4_0(w, rows: keep)
            XCTAssertEqual(q.type, .q4_0)
            XCTAssertEqual(q.rows, keep)
            XCTAssertEqual(q.packed != nil, backend != .portable, "packed for AVX2's and AVX-512 VNNI's kernels")
            var src = [Float](repeating: 0, count: cols), mine = src, expected = [UInt8](repeating: 0, count: 18)
            var want = [Float](repeating: 0, count: 32)
            for r in 0..<keep {
                src.withUnsafeMutableBufferPointer { w.dequantizeRow(r, into: $0.baseAddress!) }
                mine.withUnsafeMutableBufferPointer { q.dequantizeRow(r, into: $0.baseAddress!) }
                for b in 0..<(cols / 32) {
                    expected.withUnsafeMutableBytes { o in
                        src.withUnsafeBufferPointer { Requantize.q4_0Block($0.baseAddress! + 32 * b, o.baseAddress!) }
                        want.withUnsafeMutableBufferPointer { Dequantize.q4_0(o.baseAddress!, $0.baseAddress!) }
                    }
                    XCTAssertEqual(Array(mine[(32 * b)..<(32 * b + 32)]), want, "\(type.name) row \(r) block \(b)")
                }
                XCTAssertTrue(mine.allSatisfy(\.isFinite))
            }
            // AVX2 and AVX-512 VNNI keep the copy only packed: the twin reads its rows written back in the
            // file's layout.
            XCTAssertEqual(q.onlyPacked, backend != .portable)
            let rowsMem = UnsafeMutableRawPointer.allocate(byteCount: keep * (cols / 32) * 18, alignment: 16)
            defer { rowsMem.deallocate() }
            for r in 0..<keep {
                let dst = rowsMem + r * (cols / 32) * 18
                #if arch(x86_64)
                if q.onlyPacked {
                    AVX2Packed32.unpackRow(typeID: GGMLType.q4_0.rawValue, packed: q.data, blocks: cols / 32, row: r,
                                           into: dst)
                    continue
                }
                #endif
                dst.copyMemory(from: q.row(r), byteCount: q.rowBytes)
            }
            let plain = WeightMatrix(type: .q4_0, data: UnsafeRawPointer(rowsMem), rows: q.rows, cols: cols)
            for n in [1, 3, 9] {
                let x = MatVecTests.activations(n, cols: cols, seed: UInt64(n))
                XCTAssertEqual(MatVecTests.multiply(q, x, n, backend: backend, pool: pool).map(\.bitPattern),
                               MatVecTests.vnniTwin(plain, x, n).map(\.bitPattern), "\(type.name) n=\(n) \(backend)")
            }
            XCTAssertGreaterThanOrEqual(owner.bytes, keep * cols / 32 * 18, "the copy is owned")
            XCTAssertLessThan(owner.bytes, 2 * keep * cols / 32 * 18, "one copy, not a plain one beside the packed one")
        }
        }
    }
}
