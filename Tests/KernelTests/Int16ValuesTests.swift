#if arch(x86_64)
import XCTest
@testable import Kernels
import KernelsAVX2
@testable import KernelsAVX512

/// `Int16Values` (attention's value sums in int16 on Intel) against a scalar model of its
/// arithmetic, bit for bit: each slot's values times 8190 over their largest magnitude, rounded to
/// nearest (ties to even); each row's weights times the slots' steps, times 8190 over the chunk's
/// largest, rounded likewise; the exact Int32 sums; then o = sum·unit + c·o in one rounding. The
/// attention tests hold the outputs to a bound beside the int16 scores' 2⁻¹⁰ allowance, under which
/// a truncating rounding or a step a unit off passes; here they cannot.
final class Int16ValuesTests: XCTestCase {
    struct Chunk {
        let hs: Int, kvDim: Int
        var values: [UInt16]          // [32][kvDim] f16, the chunk's slots as the cache holds them
        var lo: Int, hi: Int          // slots of the tile in the chunk
    }

    /// Slot i's values as the kernel reads them (f16 to Float), its step and its int16 words.
    static func slot(_ c: Chunk, _ i: Int) -> (step: Float, q: [Int32]) {
        guard i >= c.lo && i < c.hi else { return (0, [Int32](repeating: 0, count: c.hs)) }
        let v = (0..<c.hs).map { Float(Float16(bitPattern: c.values[i * c.kvDim + $0])) }
        let top = v.reduce(Float(0)) { max($0, abs($1)) }
        let mult: Float = top > 0 ? 8190 / top : 0
        return (top / 8190, v.map { Int32(($0 * mult).rounded(.toNearestOrEven)) })
    }

    /// A row's output after the chunk: weights e under mask m, correction c, output o before.
    static func model(_ ch: Chunk, e: [Float], m: UInt32, c: Float, o: [Float]) -> [Float] {
        let slots = (0..<32).map { slot(ch, $0) }
        let w = (0..<32).map { k -> Float in m & (1 << k) != 0 ? e[k] * slots[k].step : 0 }
        let top = w.max()!
        let q: Float = top > 0 ? 8190 / top : 0
        let wq = w.map { Int32(($0 * q).rounded(.toNearestOrEven)) }
        let unit = top / 8190
        return (0..<ch.hs).map { j in
            var s: Int32 = 0
            for k in 0..<32 { s &+= slots[k].q[j] &* wq[k] }
            return (o[j] * c).addingProduct(Float(s), unit)
        }
    }

    /// `convert` of the halves the tile converts, then `accumulate` for rows a and b.
    static func kernel(_ ch: Chunk, ea: [Float], eb: [Float], ma: UInt32, mb: UInt32, ca: Float, cb: Float,
                       oa: [Float], ob: [Float]) -> (a: [Float], b: [Float]) {
        var vf = [Float](repeating: .nan, count: 16 * ch.hs), steps = [Float](repeating: .nan, count: Int16Values.scratchFloats)
        var eh = [Float](repeating: 0, count: 32), a = oa, b = ob
        let corr = [ca, cb]
        ch.values.withUnsafeBytes { vb in
            vf.withUnsafeMutableBufferPointer { vp in
                steps.withUnsafeMutableBufferPointer { sp in
                    for h in 0..<2 where 16 * h < ch.hi && 16 * (h + 1) > ch.lo {
                        Int16Values.convert(vb.baseAddress! + 16 * h * ch.kvDim * 2, ch.kvDim, ch.hs, h,
                                            max(ch.lo - 16 * h, 0), min(ch.hi - 16 * h, 16), vp.baseAddress!, sp.baseAddress!)
                    }
                }
            }
        }
        a.withUnsafeMutableBufferPointer { ap in
            b.withUnsafeMutableBufferPointer { bp in
                corr.withUnsafeBufferPointer { cp in
                    // As `tile` calls it: row b's output is row a's when b has no slot here.
                    let ob = mb != 0 ? bp.baseAddress! : ap.baseAddress!
                    let u = ma | mb, lo = u.trailingZeroBitCount, hi = 32 - u.leadingZeroBitCount
                    Int16Values.accumulate(ap.baseAddress!, ob, ma, mb, ea, eb, cp.baseAddress!, cp.baseAddress! + 1,
                                           vf, ch.hs, lo, hi, &eh, steps)
                }
            }
        }
        return (a, b)
    }

    func testBitForBitWithTheScalarModel() throws {
        try XCTSkipUnless(CPUFeatures.hasAVX512VNNI, "the AVX-512 attention")
        var rng = SplitMix(7)
        // Slot sizes side by side: zero, a thousand times and a thousandth of the others.
        let sizes: [Float] = [1, 0, 1000, 1e-3, 0.5, 1, 300, 1]
        var checked = 0
        for hs in [64, 144] {  // 144: one 128-wide pass and a 16-wide one
            for (lo, hi) in [(0, 32), (3, 29), (17, 32), (0, 9)] {
                let kvDim = hs + 32
                var values = [UInt16](repeating: 0xFFFF, count: 32 * kvDim)  // NaN outside each slot's hs values
                for i in 0..<32 {
                    for j in 0..<hs { values[i * kvDim + j] = Float16(Float(rng.unit() * 2 - 1) * sizes[i % sizes.count]).bitPattern }
                }
                let ch = Chunk(hs: hs, kvDim: kvDim, values: values, lo: lo, hi: hi)
                let inRange = (0..<32).reduce(UInt32(0)) { $1 >= lo && $1 < hi ? $0 | (1 << $1) : $0 }
                // Masks: all of the tile's slots, a causal prefix, a window's tail, and none (row b idle).
                let masks: [UInt32] = [inRange, inRange & (UInt32(1) << (lo + (hi - lo) / 2) - 1), inRange & ~((UInt32(1) << (lo + 2)) - 1), 0]
                for ma in masks where ma != 0 {
                    for mb in masks {
                        let ea = (0..<32).map { _ in Float(rng.unit()) }, eb = (0..<32).map { _ in Float(rng.unit()) }
                        let oa = (0..<hs).map { _ in Float(rng.unit() * 2 - 1) }, ob = (0..<hs).map { _ in Float(rng.unit() * 2 - 1) }
                        let ca = Float(rng.unit()), cb = Float(rng.unit())
                        let got = Self.kernel(ch, ea: ea, eb: eb, ma: ma, mb: mb, ca: ca, cb: cb, oa: oa, ob: ob)
                        let wantA = Self.model(ch, e: ea, m: ma, c: ca, o: oa)
                        XCTAssertEqual(got.a.map(\.bitPattern), wantA.map(\.bitPattern), "hs \(hs) slots \(lo)..<\(hi) ma \(ma) mb \(mb): row a")
                        let wantB = mb != 0 ? Self.model(ch, e: eb, m: mb, c: cb, o: ob) : ob
                        XCTAssertEqual(got.b.map(\.bitPattern), wantB.map(\.bitPattern), "hs \(hs) slots \(lo)..<\(hi) ma \(ma) mb \(mb): row b")
                        checked += 1
                    }
                }
            }
        }
        XCTAssertGreaterThan(checked, 60)
    }
}
#endif
