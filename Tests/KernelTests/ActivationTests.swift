import XCTest
@testable import Kernels
#if arch(x86_64)
import KernelsAVX512
import KernelsAVX2
#endif

final class ActivationTests: XCTestCase {
    /// The AVX-512 SwiGLU gives the bits of the portable 8-lane one (same steps), including
    /// at the clamps of the exponential and past them.
    func testAVX512SwiGLUBitwiseEqualToPortable() throws {
        #if arch(x86_64)
        try XCTSkipUnless(CPUFeatures.hasAVX512VNNI, "no AVX-512 on this CPU")
        try check(AVX512Activation.swiglu)
        #else
        throw XCTSkip("x86_64 only")
        #endif
    }

    /// The AVX2 one too (compiled with AVX, where the portable loop runs as two SSE halves).
    func testAVX2SwiGLUBitwiseEqualToPortable() throws {
        #if arch(x86_64)
        try XCTSkipUnless(CPUFeatures.hasAVX2, "no AVX2 on this CPU")
        try check(AVX2Activation.swiglu)
        #else
        throw XCTSkip("x86_64 only")
        #endif
    }

    /// `fast` on 4096 elements, and `VectorOps.swiglu` (whichever kernel it dispatches to) on
    /// 1000, against the portable 8-lane loop, bit for bit.
    private func check(_ fast: (UnsafeMutablePointer<Float>, UnsafePointer<Float>, Int) -> Void) throws {
        let n = 4096
        var rng = SystemRandomNumberGenerator()
        var gate = (0..<n).map { _ in Float.random(in: -12...12, using: &rng) }
        // Extremes: the exponential's clamps, zero, signed zero, huge values.
        let special: [Float] = [0, -0.0, 87.3, -87.3, 88.3, -88.3, 100, -100, 1e30, -1e30, Float.leastNormalMagnitude]
        for (k, v) in special.enumerated() { gate[k] = v }
        let up = (0..<n).map { _ in Float.random(in: -4...4, using: &rng) }
        var portable = gate
        up.withUnsafeBufferPointer { u in
            portable.withUnsafeMutableBufferPointer { g in
                // The portable 8-lane loop, element by element from `exp8`.
                var i = 0
                while i < n {
                    let x = UnsafeRawPointer(g.baseAddress! + i).loadUnaligned(as: SIMD8<Float>.self)
                    let y = UnsafeRawPointer(u.baseAddress! + i).loadUnaligned(as: SIMD8<Float>.self)
                    let v = x / (1 + VectorOps.exp8(-x)) * y
                    for j in 0..<8 { g[i + j] = v[j] }
                    i += 8
                }
            }
        }
        var result = gate
        up.withUnsafeBufferPointer { u in
            result.withUnsafeMutableBufferPointer { fast($0.baseAddress!, u.baseAddress!, n) }
        }
        for i in 0..<n {
            XCTAssertEqual(result[i].bitPattern, portable[i].bitPattern, "element \(i): gate \(gate[i]) up \(up[i])")
        }
        // And through the dispatching entry point, with a tail that is not a multiple of 16
        // (the portable loop's when another backend is chosen: the same bits all the same).
        var viaOps = Array(gate[0..<1000])
        up.withUnsafeBufferPointer { u in
            viaOps.withUnsafeMutableBufferPointer { VectorOps.swiglu($0.baseAddress!, u.baseAddress!, 1000) }
        }
        for i in 0..<1000 { XCTAssertEqual(viaOps[i].bitPattern, portable[i].bitPattern, "element \(i)") }
    }
}
