#if arch(x86_64)
import _Builtin_intrinsics.intel
import KernelsAVX2

/// K-quant weights against many tokens of Q8_K activations on AVX-512 VNNI (prompts,
/// many sequences): a tile of 16 rows is repacked once per call with the rows side by
/// side in the 16 int32 lanes (as `VNNIMatMul` does), then each group of up to 8 tokens
/// runs over it. Per scale unit (Q4_K, Q5_K: 32 elements, Q6_K: 16) `vpdpbusd` gives the exact
/// dot of all 16 rows with one token, `vpmulld` (Q4_K: `vpdpwssd`) applies the unit's scale, and the sums
/// stay integers until the super-block ends; then the float steps of `KQuantDot`. The
/// results are bit for bit those of `VNNIKQuantMatVec` and of the reference.
public enum VNNIKQuantBatch {
    public static let tileRows = 16

    /// Q4_K, Q5_K and Q6_K.
    public static func supports(typeID: UInt32) -> Bool { typeID == 12 || typeID == 13 || typeID == 14 }

    /// Bytes of 64-aligned scratch `rows` needs for rows of `superBlocks` super-blocks.
    public static func scratchBytes(superBlocks nsb: Int, rowBytes: Int) -> Int {
        nsb * (4096 + 16 * 64 + 8 * 64 + 2 * 64) + 16 * 8 + 16 * rowBytes + 64
    }

    /// y[t·ldy + r] = Σ_c w[r, c] · x[t, c] for r in r0..<r1 (at most 16) and every token of `act`.
    @discardableResult
    public static func rows(typeID: UInt32, w: UnsafeRawPointer, rowBytes: Int, r0: Int, r1: Int,
                            act: Q8KActivationsView, y: UnsafeMutablePointer<Float>, ldy: Int,
                            scratch: UnsafeMutableRawPointer) -> Bool {
        precondition(r1 - r0 <= tileRows && r1 > r0)
        switch typeID {
        case 12: tile(Q4K.self, w, rowBytes, r0, r1, act, y, ldy, scratch)
        case 13: tile(Q5K.self, w, rowBytes, r0, r1, act, y, ldy, scratch)
        case 14: tile(Q6K.self, w, rowBytes, r0, r1, act, y, ldy, scratch)
        default: return false
        }
        return true
    }

    static func tile<F: Unit>(_: F.Type, _ w: UnsafeRawPointer, _ rowBytes: Int, _ r0: Int, _ r1: Int,
                              _ act: Q8KActivationsView, _ y: UnsafeMutablePointer<Float>, _ ldy: Int,
                              _ scratch: UnsafeMutableRawPointer) {
        let nsb = act.superBlocks, n = act.nTokens, count = r1 - r0
        let units = F.units, vpu = F.vectorsPerUnit
        let packed = scratch.bindMemory(to: __m512i.self, capacity: nsb * units * vpu)  // [nsb, units, vpu] 16 rows × 4 bytes
        let scales = packed + nsb * units * vpu         // [nsb, units] int32 lanes
        let pairs = scales + nsb * units                // [nsb, 8] int16 pairs (mins or scales) for the Σq term
        let dw = UnsafeMutableRawPointer(pairs + nsb * 8).bindMemory(to: __m512.self, capacity: 2 * nsb)  // [nsb] d, [nsb] dmin
        let dm = dw + nsb
        let rows = UnsafeMutableRawPointer(dm + nsb).bindMemory(to: UnsafeRawPointer.self, capacity: 16)
        let copy = UnsafeMutableRawPointer(rows + 16)  // [count, rowBytes] (+64 so 16-byte reads stay inside)
        copy.copyMemory(from: w + r0 * rowBytes, byteCount: count * rowBytes)
        for i in 0..<16 { rows[i] = UnsafeRawPointer(copy + min(i, count - 1) * rowBytes) }
        for s in 0..<nsb {
            F.pack(rows, s, packed + s * units * vpu, scales + s * units, pairs + 8 * s, &dw[s], &dm[s])
        }
        let mask = __mmask16(truncatingIfNeeded: (1 << count) - 1)
        var t = 0
        while t < n {
            let nt = min(8, n - t)
            group(F.self, packed, scales, pairs, dw, dm, act, t, nt, y + t * ldy + r0, ldy, mask)
            t += nt
        }
    }

    /// The 16 rows against tokens t0..<t0+nt (nt ≤ 8); y[k·ldy + lane] for token t0+k.
    @inline(__always)
    static func group<F: Unit>(_: F.Type, _ packed: UnsafePointer<__m512i>, _ scales: UnsafePointer<__m512i>,
                               _ pairs: UnsafePointer<__m512i>, _ dw: UnsafePointer<__m512>, _ dm: UnsafePointer<__m512>,
                               _ act: Q8KActivationsView, _ t0: Int, _ nt: Int, _ y: UnsafeMutablePointer<Float>,
                               _ ldy: Int, _ mask: __mmask16) {
        let nsb = act.superBlocks, units = F.units, vpu = F.vectorsPerUnit, width = 256 / units
        // Byte shuffle moving each lane's low int16 to its high half (for the merge below).
        let lowHalves = _mm512_set1_epi32(0xFFFF)
        var c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0
        for s in 0..<nsb {
            let z = _mm512_setzero_si512()
            var i0 = z, i1 = z, i2 = z, i3 = z, i4 = z, i5 = z, i6 = z, i7 = z
            for u in 0..<units {
                let wp = packed + (s * units + u) * vpu
                let sc = scales[s * units + u]
                let scLow = _mm512_and_si512(sc, lowHalves)  // Q4_K's scale in the low int16 only
                let w0 = wp[0], w1 = wp[1], w2 = wp[2], w3 = wp[3]
                let w4 = vpu == 8 ? wp[4] : z, w5 = vpu == 8 ? wp[5] : z, w6 = vpu == 8 ? wp[6] : z, w7 = vpu == 8 ? wp[7] : z
                @inline(__always) func token(_ k: Int, _ acc: inout __m512i) {
                    let a = UnsafeRawPointer(act.qs + ((t0 + k) * nsb + s) * 256 + u * width)
                    @inline(__always) func bc(_ j: Int) -> __m512i { _mm512_set1_epi32(a.loadUnaligned(fromByteOffset: 4 * j, as: Int32.self)) }
                    // Two chains of 4 (latency 5 each) so the 8 tokens keep both multiply ports fed.
                    var i = _mm512_dpbusd_epi32(z, w0, bc(0))
                    i = _mm512_dpbusd_epi32(i, w1, bc(1))
                    i = _mm512_dpbusd_epi32(i, w2, bc(2))
                    i = _mm512_dpbusd_epi32(i, w3, bc(3))
                    if vpu == 8 {
                        var j = _mm512_dpbusd_epi32(z, w4, bc(4))
                        j = _mm512_dpbusd_epi32(j, w5, bc(5))
                        j = _mm512_dpbusd_epi32(j, w6, bc(6))
                        j = _mm512_dpbusd_epi32(j, w7, bc(7))
                        if F.halvesFitInt16 {
                            // Each chain (16 elements) fits int16, so its low half is its value: one
                            // vpdpwssd each against the scale in the low half (the high half zero)
                            // scales and adds it. Two µops, where merging the halves first took a
                            // vpermt2w (three) and vpmulld takes two more of the port vpdpbusd needs.
                            acc = _mm512_dpwssd_epi32(_mm512_dpwssd_epi32(acc, i, scLow), j, scLow)
                            return
                        }
                        i = _mm512_add_epi32(i, j)
                    }
                    acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(i, sc))
                }
                if nt == 8 {
                    // A full group: the tokens' products step by step across them (`eightTokenSums`),
                    // scaled as `token` scales them (a 32-element unit's halves as one chain where
                    // their total is scaled: the same integer).
                    let a0 = UnsafeRawPointer(act.qs + (t0 * nsb + s) * 256 + u * width), stride = nsb * 256
                    let l = eightTokenSums((w0, w1, w2, w3), a0, stride: stride, from: 0)
                    var acc = (i0, i1, i2, i3, i4, i5, i6, i7)
                    if vpu == 8 && F.halvesFitInt16 {
                        addLowWordProducts(&acc, l, scLow)
                        addLowWordProducts(&acc, eightTokenSums((w4, w5, w6, w7), a0, stride: stride, from: 4), scLow)
                    } else {
                        addProducts(&acc, vpu == 8 ? eightTokenSums((w4, w5, w6, w7), a0, stride: stride, from: 4, onto: l) : l, sc)
                    }
                    (i0, i1, i2, i3, i4, i5, i6, i7) = acc
                    continue
                }
                token(0, &i0)
                if nt > 1 { token(1, &i1) }
                if nt > 2 { token(2, &i2) }
                if nt > 3 { token(3, &i3) }
                if nt > 4 { token(4, &i4) }
                if nt > 5 { token(5, &i5) }
                if nt > 6 { token(6, &i6) }
                if nt > 7 { token(7, &i7) }
            }
            // The Σq term (mins, or Q6_K's +32 offset) from the token's sums per 16 (Q6_K, two at
            // a time as one int32 broadcast) or per 32 (Q4_K/Q5_K), then the float steps.
            @inline(__always) func finish(_ k: Int, _ isum: __m512i, _ c: inout __m512) {
                let i = (t0 + k) * nsb + s
                if F.hasMin {
                    // Q4_K/Q5_K: one min per 32, so the sums per 32 (made with the quants) meet
                    // pairs of mins: 4 vpdpwssd instead of 8.
                    c = Q4KFinish.step(c, isum: isum, pairs: (pairs[8 * s], pairs[8 * s + 1], pairs[8 * s + 2], pairs[8 * s + 3]),
                                       pairSums: act.pairSums + i * 4, d: dw[s], dmin: dm[s], da: act.d[i])
                } else {
                    let bs = UnsafeRawPointer(act.bsums + i * 16)
                    var p = z
                    for j in 0..<8 { p = _mm512_dpwssd_epi32(p, pairs[8 * s + j], _mm512_set1_epi32(bs.loadUnaligned(fromByteOffset: 4 * j, as: Int32.self))) }
                    let da = _mm512_set1_ps(act.d[i])
                    c = _mm512_fmadd_ps(_mm512_mul_ps(dw[s], da), _mm512_cvtepi32_ps(_mm512_sub_epi32(isum, _mm512_slli_epi32(p, 5))), c)
                }
            }
            finish(0, i0, &c0)
            if nt > 1 { finish(1, i1, &c1) }
            if nt > 2 { finish(2, i2, &c2) }
            if nt > 3 { finish(3, i3, &c3) }
            if nt > 4 { finish(4, i4, &c4) }
            if nt > 5 { finish(5, i5, &c5) }
            if nt > 6 { finish(6, i6, &c6) }
            if nt > 7 { finish(7, i7, &c7) }
        }
        storeTokenRows(y, ldy, mask, nt, (c0, c1, c2, c3, c4, c5, c6, c7))
    }

    /// A K-quant format repacked for `group`: per super-block, `units` scale units of
    /// `vectorsPerUnit` vectors (vector v: elements 4v..<4v+4 of the unit, row r in lane r),
    /// each unit's scale as int32 lanes, 8 vectors of int16 pairs that meet the token's
    /// sums per 16 (Q6_K: scales 2j, 2j+1) or per 32 (Q4_K/Q5_K: mins 2k, 2k+1), and the float d (and dmin) of each row.
    protocol Unit {
        static var units: Int { get }
        static var vectorsPerUnit: Int { get }
        static var hasMin: Bool { get }
        /// Whether a 16-element half of a unit's dot always fits int16 (then `scales` holds each
        /// scale in both int16 halves of a lane, for vpdpwssd); else scales are int32.
        static var halvesFitInt16: Bool { get }
        static func pack(_ rows: UnsafePointer<UnsafeRawPointer>, _ s: Int, _ out: UnsafeMutablePointer<__m512i>,
                         _ scales: UnsafeMutablePointer<__m512i>, _ pairs: UnsafeMutablePointer<__m512i>,
                         _ d: inout __m512, _ dmin: inout __m512)
    }

    /// Byte k (0..<4) of each int32 lane, zero- or sign-extended.
    @inline(__always) static func byte(_ v: __m512i, _ k: Int) -> __m512i {
        _mm512_and_si512(_mm512_srli_epi32(v, UInt32(8 * k)), _mm512_set1_epi32(0xFF))
    }
    @inline(__always) static func signedByte(_ v: __m512i, _ k: Int) -> __m512i {
        _mm512_srai_epi32(_mm512_slli_epi32(v, UInt32(24 - 8 * k)), 24)
    }

    // Unit j = sub-block j (32 elements): the nibbles as `VNNIQ4_K.pack` lays them out,
    // the 6-bit scale, and the min twice per pair (it multiplies both sums per 16).
    // |Σ| of 16 elements ≤ 16 · 15 · 128 = 30720: the int16 path.
    enum Q4K: Unit {
        static var units: Int { 8 }
        static var vectorsPerUnit: Int { 8 }
        static var hasMin: Bool { true }
        static var halvesFitInt16: Bool { true }
        static func pack(_ rows: UnsafePointer<UnsafeRawPointer>, _ s: Int, _ out: UnsafeMutablePointer<__m512i>,
                         _ scales: UnsafeMutablePointer<__m512i>, _ pairs: UnsafeMutablePointer<__m512i>,
                         _ d: inout __m512, _ dmin: inout __m512) {
            packScales(rows, s * 144, scales, pairs, &d, &dmin)
            for j in 0..<8 { scales[j] = _mm512_or_si512(scales[j], _mm512_slli_epi32(scales[j], 16)) }
            for j in 0..<8 { VNNIQ4_K.pack(rows, s * 8 + j, out + 8 * j) }
        }
    }

    // Q5_K: Q4_K's scales and nibbles (after 32 bytes of fifth bits: bit j of byte l is
    // element l of sub-block j), each element n | h << 4 in 0..<32.
    enum Q5K: Unit {
        static var units: Int { 8 }
        static var vectorsPerUnit: Int { 8 }
        static var hasMin: Bool { true }
        static var halvesFitInt16: Bool { false }  // 16 · 31 · 128 does not
        static func pack(_ rows: UnsafePointer<UnsafeRawPointer>, _ s: Int, _ out: UnsafeMutablePointer<__m512i>,
                         _ scales: UnsafeMutablePointer<__m512i>, _ pairs: UnsafeMutablePointer<__m512i>,
                         _ d: inout __m512, _ dmin: inout __m512) {
            let base = s * 176
            packScales(rows, base, scales, pairs, &d, &dmin)
            let (h0, h1, h2, h3) = transpose16x4(rows, base + 16)  // fifth bits of elements 0..<16
            let (h4, h5, h6, h7) = transpose16x4(rows, base + 32)  // and 16..<32
            let hs = [h0, h1, h2, h3, h4, h5, h6, h7]
            let nib = _mm512_set1_epi8(0x0F), bit4 = _mm512_set1_epi8(0x10)
            for j in 0..<8 {
                let (w0, w1, w2, w3) = transpose16x4(rows, base + 48 + 32 * (j / 2))
                let (w4, w5, w6, w7) = transpose16x4(rows, base + 64 + 32 * (j / 2))
                let ws = [w0, w1, w2, w3, w4, w5, w6, w7]
                let shift = _mm512_set1_epi32(Int32(4 * (j & 1)))
                // Bit j of each byte to bit 4 (32-bit shifts: the mask keeps each byte's own bit).
                let up = _mm512_set1_epi32(Int32(max(0, 4 - j))), down = _mm512_set1_epi32(Int32(max(0, j - 4)))
                for v in 0..<8 {
                    let n = _mm512_and_si512(_mm512_srlv_epi32(ws[v], shift), nib)
                    let h = _mm512_and_si512(_mm512_srlv_epi32(_mm512_sllv_epi32(hs[v], up), down), bit4)
                    out[8 * j + v] = _mm512_or_si512(n, h)
                }
            }
        }
    }

    /// Q4_K/Q5_K: d, dmin and each sub-block's 6-bit scale (as int32 lanes) and the mins as
    /// int16 pairs (sub-blocks 2k, 2k + 1) of the super-block at byte `base` of each row.
    @inline(__always)
    static func packScales(_ rows: UnsafePointer<UnsafeRawPointer>, _ base: Int, _ scales: UnsafeMutablePointer<__m512i>,
                           _ pairs: UnsafeMutablePointer<__m512i>, _ d: inout __m512, _ dmin: inout __m512) {
        let dm = column0(rows, base)
        d = halfsLow(dm)
        dmin = halfsHigh(dm)
        let q0 = column0(rows, base + 4), q1 = column0(rows, base + 8), q2 = column0(rows, base + 12)
        let six = _mm512_set1_epi32(63), four = _mm512_set1_epi32(15)
        for j in 0..<8 {
            let sc: __m512i, m: __m512i
            if j < 4 {
                sc = _mm512_and_si512(byte(q0, j), six)
                m = _mm512_and_si512(byte(q1, j), six)
            } else {
                let b0 = byte(q0, j - 4), b1 = byte(q1, j - 4), b2 = byte(q2, j - 4)
                sc = _mm512_or_si512(_mm512_and_si512(b2, four), _mm512_slli_epi32(_mm512_srli_epi32(b0, 6), 4))
                m = _mm512_or_si512(_mm512_srli_epi32(b2, 4), _mm512_slli_epi32(_mm512_srli_epi32(b1, 6), 4))
            }
            scales[j] = sc
            // Pair k: the mins of sub-blocks 2k and 2k + 1 (each |Σq per 32| ≤ 32 · 127 fits int16).
            if j % 2 == 0 { pairs[j / 2] = m } else { pairs[j / 2] = _mm512_or_si512(pairs[j / 2], _mm512_slli_epi32(m, 16)) }
        }
    }

    // Unit g = 16 elements with one signed scale. Element e of half h: quarter q = (e / 32) % 4,
    // l = e % 32; low nibble (q < 2) or high nibble of ql[64h + 32(q % 2) + l], bits 2q of qh[32h + l].
    enum Q6K: Unit {
        static var units: Int { 16 }
        static var vectorsPerUnit: Int { 4 }
        static var hasMin: Bool { false }
        static var halvesFitInt16: Bool { false }
        static func pack(_ rows: UnsafePointer<UnsafeRawPointer>, _ s: Int, _ out: UnsafeMutablePointer<__m512i>,
                         _ scales: UnsafeMutablePointer<__m512i>, _ pairs: UnsafeMutablePointer<__m512i>,
                         _ d: inout __m512, _ dmin: inout __m512) {
            let base = s * 210
            d = halfsLow(column0(rows, base + 208))
            dmin = d
            let nib = _mm512_set1_epi8(0x0F), two = _mm512_set1_epi8(0x03)
            let v0 = column0(rows, base + 192), v1 = column0(rows, base + 196)
            let v2 = column0(rows, base + 200), v3 = column0(rows, base + 204)
            @inline(__always) func scale(_ g: Int) -> __m512i {
                let v = g < 4 ? v0 : g < 8 ? v1 : g < 12 ? v2 : v3
                return signedByte(v, g % 4)
            }
            for g in 0..<16 {
                let h = g / 8, q = (g % 8) / 2, l0 = 16 * (g % 2)
                let (l_0, l_1, l_2, l_3) = transpose16x4(rows, base + 64 * h + 32 * (q % 2) + l0)
                let (h_0, h_1, h_2, h_3) = transpose16x4(rows, base + 128 + 32 * h + l0)
                let shift = UInt32(2 * q)
                @inline(__always) func six(_ lo: __m512i, _ hi: __m512i) -> __m512i {
                    let n = q < 2 ? _mm512_and_si512(lo, nib) : _mm512_and_si512(_mm512_srli_epi32(lo, 4), nib)
                    return _mm512_or_si512(n, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(hi, shift), two), 4))
                }
                out[4 * g] = six(l_0, h_0)
                out[4 * g + 1] = six(l_1, h_1)
                out[4 * g + 2] = six(l_2, h_2)
                out[4 * g + 3] = six(l_3, h_3)
                scales[g] = scale(g)
            }
            let low = _mm512_set1_epi32(0xFFFF)
            for j in 0..<8 { pairs[j] = _mm512_or_si512(_mm512_and_si512(scale(2 * j), low), _mm512_slli_epi32(scale(2 * j + 1), 16)) }
        }
    }
}
#endif
