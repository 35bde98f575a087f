import GGUF
import KernelsAVX2

/// The integer matmul in plain Swift SIMD, for CPUs without AVX2 (and as a second
/// opinion on the AVX2 kernels): each weight row is decoded once into int16
/// quants with a float scale and min per block of 32, then dotted with every token.
enum PortableQ8MatMul {
    static func supports(_ type: GGMLType) -> Bool {
        switch type {
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K, .iq4_nl: return true
        default: return false
        }
    }

    /// Scratch floats `rows` needs beyond the int16 row: 2 · blocks.
    static func scratchFloats(blocks: Int) -> Int { 2 * blocks }

    /// y[t·ldy + r] for r in r0..<r1 and every token of act.
    static func rows(_ w: WeightMatrix, r0: Int, r1: Int, act: Q8ActivationsView, y: UnsafeMutablePointer<Float>, ldy: Int,
                     wq: UnsafeMutablePointer<Int16>, scratch: UnsafeMutablePointer<Float>) {
        let nb = act.blocks
        let dR = scratch, mR = scratch + nb  // [nb] each
        for r in r0..<r1 {
            let hasMin = decode(w.type, w.row(r), nb, wq, dR, mR)
            for t in 0..<act.nTokens {
                let a = UnsafeRawPointer(act.qs + t * nb * 32)
                let da = act.d + t * nb
                let wr = UnsafeRawPointer(wq)
                var acc: Float = 0
                for b in 0..<nb {
                    var p = SIMD16<Int32>()
                    for h in 0..<2 {
                        let wv = wr.loadUnaligned(fromByteOffset: 64 * b + 32 * h, as: SIMD16<Int16>.self)
                        let av = a.loadUnaligned(fromByteOffset: 32 * b + 16 * h, as: SIMD16<Int8>.self)
                        p &+= SIMD16<Int32>(truncatingIfNeeded: wv) &* SIMD16<Int32>(truncatingIfNeeded: av)
                    }
                    acc += dR[b] * da[b] * Float(p.wrappedSum())
                }
                if hasMin {
                    let sa = act.s + t * nb
                    for b in 0..<nb { acc += mR[b] * sa[b] }
                }
                y[t * ldy + r] = acc
            }
        }
    }

    /// Writes the row's integer quants (so that w = dR·q + mR per block) to q [nb·32];
    /// returns whether the format has mins.
    static func decode(_ type: GGMLType, _ p: UnsafeRawPointer, _ nb: Int, _ q: UnsafeMutablePointer<Int16>,
                       _ dR: UnsafeMutablePointer<Float>, _ mR: UnsafeMutablePointer<Float>) -> Bool {
        @inline(__always) func h(_ off: Int) -> Float { halfToFloat(p.loadUnaligned(fromByteOffset: off, as: UInt16.self)) }
        @inline(__always) func u8(_ off: Int) -> Int16 { Int16(p.load(fromByteOffset: off, as: UInt8.self)) }
        switch type {
        case .q4_0, .q4_1:
            let bb = type.blockBytes, qo = type == .q4_0 ? 2 : 4, off: Int16 = type == .q4_0 ? 8 : 0
            for b in 0..<nb {
                dR[b] = h(b * bb)
                mR[b] = type == .q4_1 ? h(b * bb + 2) : 0
                for j in 0..<16 {
                    let v = u8(b * bb + qo + j)
                    q[32 * b + j] = (v & 15) - off
                    q[32 * b + j + 16] = (v >> 4) - off
                }
            }
            return type == .q4_1
        case .q5_0, .q5_1:
            let bb = type.blockBytes, hasM = type == .q5_1, off: Int16 = hasM ? 0 : 16
            let ho = hasM ? 4 : 2
            for b in 0..<nb {
                dR[b] = h(b * bb)
                mR[b] = hasM ? h(b * bb + 2) : 0
                let qh = p.loadUnaligned(fromByteOffset: b * bb + ho, as: UInt32.self)
                for j in 0..<16 {
                    let v = u8(b * bb + ho + 4 + j)
                    q[32 * b + j] = ((v & 15) | Int16((qh >> UInt32(j)) & 1) << 4) - off
                    q[32 * b + j + 16] = ((v >> 4) | Int16((qh >> UInt32(j + 16)) & 1) << 4) - off
                }
            }
            return hasM
        case .iq4_nl:
            for b in 0..<nb {
                dR[b] = h(b * 18)
                for j in 0..<16 {
                    let v = Int(p.load(fromByteOffset: b * 18 + 2 + j, as: UInt8.self))
                    q[32 * b + j] = Int16(Dequantize.iq4Levels[v & 15])
                    q[32 * b + j + 16] = Int16(Dequantize.iq4Levels[v >> 4])
                }
            }
            return false
        case .q8_0:
            for b in 0..<nb {
                dR[b] = h(b * 34)
                for j in 0..<32 { q[32 * b + j] = Int16(p.load(fromByteOffset: b * 34 + 2 + j, as: Int8.self)) }
            }
            return false
        case .q4_K, .q5_K:
            let bb = type.blockBytes, five = type == .q5_K
            for sb in 0..<nb / 8 {
                let base = sb * bb
                let d = h(base), dmin = h(base + 2)
                let sc = (p + base + 4).assumingMemoryBound(to: UInt8.self)
                let qs = base + (five ? 48 : 16)
                for j in 0..<8 {
                    let (s, m) = Dequantize.scaleMinK4(j, sc)
                    dR[sb * 8 + j] = d * s
                    mR[sb * 8 + j] = -dmin * m
                    for l in 0..<32 {
                        let byte = u8(qs + (j / 2) * 32 + l)
                        var v = j % 2 == 0 ? byte & 15 : byte >> 4
                        if five { v |= (u8(base + 16 + l) >> Int16(j)) & 1 == 1 ? 16 : 0 }
                        q[sb * 256 + 32 * j + l] = v
                    }
                }
            }
            return true
        case .q6_K:
            for sb in 0..<nb / 8 {
                let base = sb * 210
                let d = h(base + 208)
                for i in 0..<8 { dR[sb * 8 + i] = d }
                for hh in 0..<2 {
                    for l in 0..<32 {
                        let ql0 = u8(base + 64 * hh + l), ql1 = u8(base + 64 * hh + l + 32), qh = u8(base + 128 + 32 * hh + l)
                        let vals: (Int16, Int16, Int16, Int16) = (
                            (ql0 & 15) | ((qh >> 0) & 3) << 4, (ql1 & 15) | ((qh >> 2) & 3) << 4,
                            (ql0 >> 4) | ((qh >> 4) & 3) << 4, (ql1 >> 4) | ((qh >> 6) & 3) << 4)
                        let s = l / 16
                        func sc(_ g: Int) -> Int16 { Int16(p.load(fromByteOffset: base + 192 + 8 * hh + s + 2 * g, as: Int8.self)) }
                        let o = sb * 256 + 128 * hh + l
                        q[o] = sc(0) * (vals.0 - 32)
                        q[o + 32] = sc(1) * (vals.1 - 32)
                        q[o + 64] = sc(2) * (vals.2 - 32)
                        q[o + 96] = sc(3) * (vals.3 - 32)
                    }
                }
            }
            return false
        default:
            return false
        }
    }
}
