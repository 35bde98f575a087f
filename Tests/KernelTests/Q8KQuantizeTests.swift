import XCTest
@testable import Kernels

/// The AVX-512 activation quantizer (`AVX512Q8KQuantize`, what `Q8KBuffer.quantize` runs on
/// AVX-512 machines) against the portable one, byte for byte in all five arrays, and the portable
/// one against the definition (d = max|x| / 127, q = x · (127 / max|x|) rounded to nearest even;
/// q = 0 where that quotient overflows).
final class Q8KQuantizeTests: XCTestCase {
    /// Tokens of 3 super-blocks: random, an all-zero super-block, one outlier among tiny values,
    /// values landing on .5 after scaling (ties to even), the largest and smallest normal floats.
    func activations(seed: UInt64) -> (x: [Float], tokens: Int, superBlocks: Int) {
        let nsb = 3, tokens = 6, cols = nsb * 256
        var rng = SplitMix(seed)  // seeded: a failure can be replayed
        var x = (0..<(tokens * cols)).map { _ in Float(rng.unit() * 8 - 4) }
        for i in 0..<256 { x[cols + i] = 0 }                                    // token 1, super-block 0
        for i in 0..<256 { x[cols + 256 + i] = Float(i % 7) * 1e-6 }            // token 1, super-block 1: tiny ...
        x[cols + 256 + 77] = -3e4                                               // ... beside one outlier
        for i in 0..<256 { x[2 * cols + i] = Float(i - 128) / 4 }               // token 2: x · 2 = (i - 128) / 2, ties to even
        x[2 * cols] = -63.5                                                     // the max: -127 exactly
        for i in 0..<256 { x[3 * cols + 512 + i] = (i % 2 == 0 ? 1 : -1) * Float.greatestFiniteMagnitude / Float(i + 1) }
        for i in 0..<256 { x[4 * cols + i] = Float.leastNormalMagnitude * Float(i % 5) }
        x[5 * cols + 255] = 1e-30                                               // token 5: one tiny value in a random block
        return (x, tokens, nsb)
    }

    func bytes(_ b: Q8KBuffer) -> [[UInt8]] {
        let n = b.nTokens * b.superBlocks
        func raw<T>(_ p: UnsafeMutablePointer<T>, _ count: Int) -> [UInt8] {
            Array(UnsafeRawBufferPointer(start: UnsafeRawPointer(p), count: count * MemoryLayout<T>.stride))
        }
        return [raw(b.qs, n * 256), raw(b.qsK4, n * 256), raw(b.d, n), raw(b.bsums, n * 16), raw(b.pairSums, n * 4)]
    }

    func testAVX512QuantizerMatchesThePortableOne() throws {
        #if arch(x86_64)
        try XCTSkipUnless(Q8KBuffer.avx512, "the AVX-512 kernels do not run on this CPU")
        for round in 0..<20 {
            let (x, tokens, nsb) = activations(seed: UInt64(round))
            let fast = Q8KBuffer(nTokens: tokens, superBlocks: nsb), portable = Q8KBuffer(nTokens: tokens, superBlocks: nsb)
            defer { fast.free(); portable.free() }
            x.withUnsafeBufferPointer { xp in
                // In two calls, as the pool splits tokens.
                fast.quantize(xp.baseAddress!, tokens: 0..<2)
                fast.quantize(xp.baseAddress!, tokens: 2..<tokens)
                portable.quantizePortable(xp.baseAddress!, tokens: 0..<tokens)
            }
            let names = ["qs", "qsK4", "d", "bsums", "pairSums"]
            for (name, (a, b)) in zip(names, zip(bytes(fast), bytes(portable))) {
                let first = zip(a, b).enumerated().first { $0.element.0 != $0.element.1 }?.offset
                XCTAssertNil(first, "seed \(round): \(name) differs first at byte \(first ?? -1)")
            }
        }
        #else
        throw XCTSkip("x86-64 only")
        #endif
    }

    /// A NaN element (a broken model's) leaves the block's scale as the portable select does: the
    /// max over the other elements, so they quantize alike (the NaN's own quant differs: -128 / 0).
    func testNaNElementKeepsTheBlockScale() throws {
        #if arch(x86_64)
        try XCTSkipUnless(Q8KBuffer.avx512, "the AVX-512 kernels do not run on this CPU")
        var x = (0..<256).map { Float($0 % 17) - 8.5 }
        x[8] = 30  // the max, in lane 8 of the first group of 16 ...
        x[40] = .nan  // ... and a NaN in lane 8 of the third: maxps's operand order decides
        let fast = Q8KBuffer(nTokens: 1, superBlocks: 1), portable = Q8KBuffer(nTokens: 1, superBlocks: 1)
        defer { fast.free(); portable.free() }
        x.withUnsafeBufferPointer {
            fast.quantize($0.baseAddress!, tokens: 0..<1)
            portable.quantizePortable($0.baseAddress!, tokens: 0..<1)
        }
        XCTAssertEqual(fast.d[0], 30 / 127)
        XCTAssertEqual(fast.d[0], portable.d[0])
        for e in 0..<256 where e != 40 { XCTAssertEqual(fast.qs[e], portable.qs[e], "element \(e)") }
        #else
        throw XCTSkip("x86-64 only")
        #endif
    }

    func testPortableQuantizerFollowsTheDefinition() {
        let (x, tokens, nsb) = activations(seed: 7)
        let b = Q8KBuffer(nTokens: tokens, superBlocks: nsb)
        defer { b.free() }
        x.withUnsafeBufferPointer { b.quantizePortable($0.baseAddress!, tokens: 0..<tokens) }
        for t in 0..<tokens {
            for s in 0..<nsb {
                let i = t * nsb + s, base = t * nsb * 256 + 256 * s
                let amax = x[base..<(base + 256)].map(abs).max()!
                XCTAssertEqual(b.d[i], amax / 127)
                // 0 where 127 / max|x| overflows (token 4's first block) or the block is all zero.
                let inv: Float = amax > 0 && (127 / amax).isFinite ? 127 / amax : 0
                var sums = [Int](repeating: 0, count: 16)
                for e in 0..<256 {
                    let q = Int((x[base + e] * inv).rounded(.toNearestOrEven))
                    XCTAssertEqual(Int(b.qs[base + e]), q, "token \(t) super-block \(s) element \(e)")
                    sums[e / 16] += q
                    // Q4_K nibble order per 128: [0, 32) [64, 96) [32, 64) [96, 128).
                    let h = e % 128, k4 = e - h + (h < 32 ? h : h < 64 ? h + 32 : h < 96 ? h - 32 : h)
                    XCTAssertEqual(b.qsK4[base + k4], b.qs[base + e])
                }
                for g in 0..<16 { XCTAssertEqual(Int(b.bsums[16 * i + g]), sums[g]) }
                for k in 0..<4 {
                    let p = b.pairSums[4 * i + k]
                    XCTAssertEqual(Int(Int16(truncatingIfNeeded: p)), sums[4 * k] + sums[4 * k + 1])
                    XCTAssertEqual(Int(p >> 16), sums[4 * k + 2] + sums[4 * k + 3])
                }
            }
        }
    }
}
