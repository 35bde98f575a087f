import XCTest
@testable import Kernels
import KernelsAVX2

/// The AVX2 passes over a token's logits give the portable loops' results exactly: the same
/// sums bit for bit, the same first largest index (ties, NaN, -infinity, rows not a multiple of 16).
final class LogitStatsTests: XCTestCase {
    /// A seeded generator (xorshift), so a failure can be replayed.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return state }
    }
    private func scalarArgmax(_ x: [Float]) -> Int {
        var best = 0, bv = -Float.infinity
        for (i, v) in x.enumerated() where v > bv { bv = v; best = i }
        return best
    }

    private func rows() -> [[Float]] {
        var g = Seeded(state: 0x9E37_79B9_7F4A_7C15)
        var out: [[Float]] = []
        for n in [0, 1, 7, 15, 16, 17, 33, 151_936] {
            out.append((0..<n).map { _ in Float.random(in: -20...30, using: &g) })
        }
        // The largest value twice (the first must win), once in the tail past the last 16.
        var ties = (0..<1000).map { Float($0 % 97) - 50 }
        ties[333] = 99; ties[777] = 99
        out.append(ties)
        var tail = (0..<1003).map { _ in Float.random(in: -5...5, using: &g) }
        tail[1001] = 40
        out.append(tail)
        // NaN never wins; masked (-infinity) rows; a NaN-only row; +infinity.
        var nan = (0..<64).map { Float($0) }
        nan[10] = .nan; nan[63] = .nan
        out.append(nan)
        out.append([Float](repeating: -.infinity, count: 40))
        out.append([Float](repeating: .nan, count: 20))
        var inf = (0..<50).map { Float($0) }
        inf[20] = .infinity; inf[30] = .infinity
        out.append(inf)
        out.append([-0.0, 0.0, -0.0, 0.0] + [Float](repeating: -1, count: 30))
        return out
    }

    func testArgmaxIsTheFirstLargest() {
        for x in rows() {
            let got = x.withUnsafeBufferPointer { LogitStats.argmax($0.baseAddress ?? UnsafePointer(bitPattern: 64)!, x.count) }
            XCTAssertEqual(got, scalarArgmax(x), "n \(x.count)")
            #if arch(x86_64)
            // The AVX2 steps themselves, whatever backend the run chose.
            if CPUFeatures.hasAVX2 {
                let avx2 = x.withUnsafeBufferPointer { b -> Int in
                    let p = b.baseAddress ?? UnsafePointer(bitPattern: 64)!
                    let m = AVX2LogitScan.maximum(p, x.count)
                    return m > -.infinity ? AVX2LogitScan.firstIndex(of: m, p, x.count) : 0
                }
                XCTAssertEqual(avx2, scalarArgmax(x), "AVX2, n \(x.count)")
            }
            #endif
        }
    }

    func testAVX2SumsEqualPortableBitForBit() throws {
        #if arch(x86_64)
        try XCTSkipUnless(CPUFeatures.hasAVX2, "no AVX2 on this CPU")
        var g = Seeded(state: 0xD1B5_4A32_D192_ED03)
        for n in [8, 15, 128, 129, 1000, 151_936] {
            var x = (0..<n).map { _ in Float.random(in: -30...25, using: &g) }
            if n > 100 { x[5] = -.infinity; x[99] = -.infinity }  // masked tokens weigh nothing
            let m = x.filter { $0.isFinite }.max()!
            for inv: Float in [1, 1 / 0.7, 1 / 1.6, 10] {  // 10: finite values under the -80 floor
                let (pt, pw) = x.withUnsafeBufferPointer { LogitStats.portableSums($0.baseAddress!, n, max: m, inverseTemperature: inv) }
                let (at, aw) = x.withUnsafeBufferPointer { AVX2SoftmaxSums.sums($0.baseAddress!, n, max: m, inverseTemperature: inv) }
                XCTAssertEqual(at.bitPattern, pt.bitPattern, "n \(n) inv \(inv)")
                XCTAssertEqual(aw.bitPattern, pw.bitPattern, "n \(n) inv \(inv)")
                // With the tail (past n / 8 · 8), the largest value's weight, 1, is in the total.
                let whole = x.withUnsafeBufferPointer { LogitStats.softmaxSums($0.baseAddress!, n, max: m, inverseTemperature: inv) }
                XCTAssertGreaterThanOrEqual(whole.total, 1, "n \(n) inv \(inv)")
            }
        }
        #else
        throw XCTSkip("x86-64 only")
        #endif
    }

    func testMaximumIgnoresNaN() {
        for x in rows() {
            let got = x.withUnsafeBufferPointer { LogitStats.maximum($0.baseAddress ?? UnsafePointer(bitPattern: 64)!, x.count) }
            let want = x.filter { !$0.isNaN }.max() ?? -.infinity
            XCTAssertEqual(got, want, "n \(x.count)")
        }
    }
}
