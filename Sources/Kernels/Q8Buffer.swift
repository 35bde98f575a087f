import KernelsAVX2

/// Owns activations quantized per block of 32 (see `Q8ActivationsView`) and fills
/// them from floats. Both kernel paths multiply the same quantized values, which
/// is what lets the tests compare them almost exactly.
struct Q8Buffer {
    let qs: UnsafeMutablePointer<Int8>   // [nTokens, blocks * 32]
    let d: UnsafeMutablePointer<Float>   // [nTokens, blocks]
    let s: UnsafeMutablePointer<Float>   // [nTokens, blocks]
    let blocks: Int
    let nTokens: Int

    init(nTokens: Int, blocks: Int) {
        self.nTokens = nTokens
        self.blocks = blocks
        qs = .allocate(capacity: max(1, nTokens * blocks * 32))
        d = .allocate(capacity: max(1, nTokens * blocks))
        s = .allocate(capacity: max(1, nTokens * blocks))
    }

    func free() {
        qs.deallocate()
        d.deallocate()
        s.deallocate()
    }

    var view: Q8ActivationsView { Q8ActivationsView(qs: qs, d: d, s: s, blocks: blocks, nTokens: nTokens) }

    /// Quantizes tokens `range` of x ([nTokens, blocks·32]): d = max|x| / 127,
    /// q = round-to-nearest-even(x / d), s = d · Σq.
    func quantize(_ x: UnsafePointer<Float>, tokens range: Range<Int>) {
        let cols = blocks * 32
        // Adding 1.5·2²³ rounds to nearest even in the mantissa: no SSE4.1 roundps needed.
        let magic = SIMD8<Float>(repeating: 12_582_912)
        let magicBits = SIMD8<Int32>(repeating: 0x4B40_0000)
        for t in range {
            let xr = UnsafeRawPointer(x + t * cols)
            for b in 0..<blocks {
                let o = b * 128
                let v0 = xr.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
                let v1 = xr.loadUnaligned(fromByteOffset: o + 32, as: SIMD8<Float>.self)
                let v2 = xr.loadUnaligned(fromByteOffset: o + 64, as: SIMD8<Float>.self)
                let v3 = xr.loadUnaligned(fromByteOffset: o + 96, as: SIMD8<Float>.self)
                let m = vmax(vmax(abs(v0), abs(v1)), vmax(abs(v2), abs(v3)))
                let m4 = vmax4(m.lowHalf, m.highHalf), m2 = vmax2(m4.lowHalf, m4.highHalf)
                let amax = Swift.max(m2[0], m2[1])  // (SIMD.max() is not specialized here: slow)
                let scale = amax / 127
                let inv = SIMD8<Float>(repeating: amax > 0 ? 127 / amax : 0)
                let out = UnsafeMutableRawPointer(qs + t * cols + b * 32)
                @inline(__always) func put(_ v: SIMD8<Float>, _ k: Int) -> SIMD8<Int32> {
                    let q = unsafeBitCast(v * inv + magic, to: SIMD8<Int32>.self) &- magicBits
                    out.storeBytes(of: SIMD8<Int8>(truncatingIfNeeded: q), toByteOffset: 8 * k, as: SIMD8<Int8>.self)
                    return q
                }
                let sum = put(v0, 0) &+ put(v1, 1) &+ put(v2, 2) &+ put(v3, 3)
                d[t * blocks + b] = scale
                s[t * blocks + b] = scale * Float(sum.wrappedSum())
            }
        }
    }

    @inline(__always) private func vmax(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a.replacing(with: b, where: b .> a) }

    @inline(__always) private func vmax4(_ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD4<Float> { a.replacing(with: b, where: b .> a) }
    @inline(__always) private func vmax2(_ a: SIMD2<Float>, _ b: SIMD2<Float>) -> SIMD2<Float> { a.replacing(with: b, where: b .> a) }

    @inline(__always) private func abs(_ v: SIMD8<Float>) -> SIMD8<Float> {
        unsafeBitCast(unsafeBitCast(v, to: SIMD8<UInt32>.self) & 0x7FFF_FFFF, to: SIMD8<Float>.self)
    }
}
