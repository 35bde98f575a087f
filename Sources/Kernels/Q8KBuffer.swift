import KernelsAVX2
#if arch(x86_64)
import KernelsAVX512
#endif

/// Owns activations quantized per super-block of 256 (see `Q8KActivationsView`) and
/// fills them from floats: d = max|x| / 127, q = round-to-nearest-even(x · (127 / max|x|)), and
/// the sum of each 16 quants. Every K-quant kernel reads these same values.
struct Q8KBuffer {
    let qs: UnsafeMutablePointer<Int8>      // [nTokens, superBlocks * 256]
    let qsK4: UnsafeMutablePointer<Int8>    // [nTokens, superBlocks * 256] Q4_K nibble order
    let d: UnsafeMutablePointer<Float>      // [nTokens, superBlocks]
    let bsums: UnsafeMutablePointer<Int16>  // [nTokens, superBlocks * 16]
    let pairSums: UnsafeMutablePointer<Int32>  // [nTokens, superBlocks * 4] (see Q8KActivationsView)
    let superBlocks: Int
    let nTokens: Int

    init(nTokens: Int, superBlocks: Int) {
        self.nTokens = nTokens
        self.superBlocks = superBlocks
        // One allocation for all five arrays: a matmul call makes one of these.
        let n = max(1, nTokens * superBlocks)
        let base = UnsafeMutableRawPointer.allocate(byteCount: n * (2 * 256 + 4 + 32 + 16), alignment: 64)
        qs = base.bindMemory(to: Int8.self, capacity: n * 256)
        qsK4 = (base + n * 256).bindMemory(to: Int8.self, capacity: n * 256)
        d = (base + n * 512).bindMemory(to: Float.self, capacity: n)
        bsums = (base + n * 516).bindMemory(to: Int16.self, capacity: n * 16)
        pairSums = (base + n * 548).bindMemory(to: Int32.self, capacity: n * 4)
    }

    func free() { UnsafeMutableRawPointer(qs).deallocate() }

    var view: Q8KActivationsView {
        Q8KActivationsView(qs: qs, qsK4: qsK4, d: d, bsums: bsums, pairSums: pairSums, superBlocks: superBlocks,
                           nTokens: nTokens)
    }

    /// Quantizes tokens `range` of x ([nTokens, superBlocks·256]): in AVX-512 where the kernels
    /// run on it, else `quantizePortable` (the same values for finite x).
    func quantize(_ x: UnsafePointer<Float>, tokens range: Range<Int>) {
        #if arch(x86_64)
        if Self.avx512 {
            AVX512Q8KQuantize.quantize(x, superBlocks: superBlocks, tokens: range, qs: qs, qsK4: qsK4, d: d, bsums: bsums,
                                       pairSums: pairSums)
            return
        }
        #endif
        quantizePortable(x, tokens: range)
    }

    #if arch(x86_64)
    static let avx512 = MatMul.defaultBackend == .avx512
    #endif

    /// `quantize` in portable SIMD code.
    func quantizePortable(_ x: UnsafePointer<Float>, tokens range: Range<Int>) {
        let cols = superBlocks * 256
        // Adding 1.5·2²³ rounds to nearest even in the mantissa: no SSE4.1 roundps needed.
        let magic = SIMD16<Float>(repeating: 12_582_912)
        let magicBits = SIMD16<Int32>(repeating: 0x4B40_0000)
        for t in range {
            let xr = UnsafeRawPointer(x + t * cols)
            for s in 0..<superBlocks {
                var m = SIMD16<Float>()
                for g in 0..<16 {
                    let v = xr.loadUnaligned(fromByteOffset: 1024 * s + 64 * g, as: SIMD16<Float>.self)
                    let a = unsafeBitCast(unsafeBitCast(v, to: SIMD16<UInt32>.self) & 0x7FFF_FFFF, to: SIMD16<Float>.self)
                    m = m.replacing(with: a, where: a .> m)
                }
                var amax: Float = 0
                for i in 0..<16 where m[i] > amax { amax = m[i] }
                d[t * superBlocks + s] = amax / 127
                let inv = SIMD16<Float>(repeating: Q8KScale.inverse(amax))
                let out = UnsafeMutableRawPointer(qs + t * cols + 256 * s)
                for g in 0..<16 {
                    let v = xr.loadUnaligned(fromByteOffset: 1024 * s + 64 * g, as: SIMD16<Float>.self)
                    let q = unsafeBitCast(v * inv + magic, to: SIMD16<Int32>.self) &- magicBits
                    out.storeBytes(of: SIMD16<Int8>(truncatingIfNeeded: q), toByteOffset: 16 * g, as: SIMD16<Int8>.self)
                    bsums[(t * superBlocks + s) * 16 + g] = Int16(truncatingIfNeeded: q.wrappedSum())
                }
                let b = bsums + (t * superBlocks + s) * 16
                for k in 0..<4 {
                    let s0 = Int32(b[4 * k]) + Int32(b[4 * k + 1]), s1 = Int32(b[4 * k + 2]) + Int32(b[4 * k + 3])
                    pairSums[(t * superBlocks + s) * 4 + k] = (s0 & 0xFFFF) | (s1 << 16)
                }
                let k4 = UnsafeMutableRawPointer(qsK4 + t * cols + 256 * s)
                @inline(__always) func move(_ to: Int, _ from: Int) {
                    k4.storeBytes(of: out.loadUnaligned(fromByteOffset: from, as: SIMD32<Int8>.self), toByteOffset: to,
                                  as: SIMD32<Int8>.self)
                }
                for b in stride(from: 0, to: 256, by: 128) {
                    move(b, b); move(b + 32, b + 64); move(b + 64, b + 32); move(b + 96, b + 96)
                }
            }
        }
    }
}
