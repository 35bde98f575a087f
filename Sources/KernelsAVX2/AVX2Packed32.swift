#if arch(x86_64)
import _Builtin_intrinsics.intel
import CPrefetch

/// The 32-element formats (Q4_0, Q4_1, Q5_0, Q8_0, IQ4_NL) packed at load for AVX2, 8 rows side by side: a
/// row per int32 lane, so a broadcast dword of 4 activations meets 8 rows' 4 weights in one
/// `vpmaddubsw`, and a block's sums come out per row with no horizontal reduction. The file's
/// layout (a row's 32 weights per block) cost about 23 instructions per block and row, most of
/// them decoding: Qwen2.5-Coder-0.5B's Q5_0 matrices streamed at half the read bandwidth.
/// A block of 8 rows holds the same bytes as the file's 8 blocks:
///
///     [0, 16)           the 8 rows' f16 scales d
///     [16, 32)          Q4_1: the 8 rows' f16 mins m
///     4 × 32 bytes      nibbles: in vector v, byte 4i + j holds row i's column 4v + j (low
///                       nibble) and column 4(v + 4) + j (high nibble)
///     [144, 176)        Q5_0: fifth bits, byte 4i + j, bit c, is row i's column 4c + j
///     [16, 272)         Q8_0: 8 × 32 bytes, in vector v byte 4i + j is row i's column 4v + j,
///                       q ^ 0x80
///
/// so quad c of columns (8 rows × 4 weights) is a nibble mask and, for Q5_0, a shift of the
/// fifth bits to bit 4. A tile is 16 rows (two such halves per block; rows past the matrix
/// zero). Sums are exact in integers (Σ q·a - offset·Σa per block, offset 8 for Q4_0, 16 for
/// Q5_0; Q8_0's Σ q·a straight from its signed bytes), then c = fma(Float(dot), d·da, c) block by block and, for Q4_1, c = fma(m, s, c):
/// the bits of the scalar twin and of the AVX-512 kernels, for any number of tokens.
public enum AVX2Packed32 {
    /// Formats this kernel reads: Q4_0, Q4_1, Q5_0, IQ4_NL, Q8_0 (its bytes, stored q ^ 0x80 for the AVX-512
    /// kernel's unsigned operand, are turned back into q and meet the activations by the sign trick:
    /// q + 128 against an int8 activation would overflow `vpmaddubsw`'s int16 pairs).
    public static func supports(typeID: UInt32) -> Bool { format(typeID) != nil }

    /// A format's half block: its bytes, where its nibbles start, its offset, min and fifth
    /// bits, and where the file's block keeps them (kernels are specialized per format; public and
    /// inlinable for the AVX-512 VNNI kernel, `VNNIPacked32`, which reads the same layout).
    public protocol Format {
        static var halfBytes: Int { get }
        static var nibbles: Int { get }
        static var offset: Int32 { get }
        static var hasMin: Bool { get }
        static var fifthBits: Bool { get }
        static var fileBlock: Int { get }
        static var fileNibbles: Int { get }
        /// Whole int8 weights (Q8_0), stored as q ^ 0x80 (q + 128 unsigned), 4 per lane and vector
        /// from byte `nibbles` on.
        static var wholeBytes: Bool { get }
        /// Nibbles index IQ4_NL's 16 levels (−127...113): a byte shuffle decodes them.
        static var levels: Bool { get }
    }
    public enum Q4_0: Format {
        @inlinable public static var halfBytes: Int { 144 }
        @inlinable public static var nibbles: Int { 16 }
        @inlinable public static var offset: Int32 { 8 }
        @inlinable public static var hasMin: Bool { false }
        @inlinable public static var fifthBits: Bool { false }
        @inlinable public static var fileBlock: Int { 18 }
        @inlinable public static var fileNibbles: Int { 2 }
        @inlinable public static var wholeBytes: Bool { false }
        @inlinable public static var levels: Bool { false }
    }
    public enum Q4_1: Format {
        @inlinable public static var halfBytes: Int { 160 }
        @inlinable public static var nibbles: Int { 32 }
        @inlinable public static var offset: Int32 { 0 }
        @inlinable public static var hasMin: Bool { true }
        @inlinable public static var fifthBits: Bool { false }
        @inlinable public static var fileBlock: Int { 20 }
        @inlinable public static var fileNibbles: Int { 4 }
        @inlinable public static var wholeBytes: Bool { false }
        @inlinable public static var levels: Bool { false }
    }
    public enum Q5_0: Format {
        @inlinable public static var halfBytes: Int { 176 }
        @inlinable public static var nibbles: Int { 16 }
        @inlinable public static var offset: Int32 { 16 }
        @inlinable public static var hasMin: Bool { false }
        @inlinable public static var fifthBits: Bool { true }
        @inlinable public static var fileBlock: Int { 22 }
        @inlinable public static var fileNibbles: Int { 6 }
        @inlinable public static var wholeBytes: Bool { false }
        @inlinable public static var levels: Bool { false }
    }
    /// 8 rows × 32 int8 weights per half block (vector v: columns 4v..<4v+4), each q ^ 0x80, so
    /// the AVX-512 kernel takes Σ q·a = Σ (q + 128)·a − 128·Σa, exact, as `VNNIMatVec` computes it
    /// (`offset`); the AVX2 one flips the bytes back and needs no offset.
    public enum Q8_0: Format {
        @inlinable public static var halfBytes: Int { 272 }
        @inlinable public static var nibbles: Int { 16 }
        @inlinable public static var offset: Int32 { 128 }
        @inlinable public static var hasMin: Bool { false }
        @inlinable public static var fifthBits: Bool { false }
        @inlinable public static var fileBlock: Int { 34 }
        @inlinable public static var fileNibbles: Int { 2 }
        @inlinable public static var wholeBytes: Bool { true }
        @inlinable public static var levels: Bool { false }
    }

    /// IQ4_NL: Q4_0's block (f16 d, 16 nibble bytes) with each nibble a level: the AVX-512 kernel takes
    /// level + 128 (unsigned) and Σa's offset of 128; the AVX2 one meets the signed level by the sign
    /// trick, as Q8_0's bytes.
    public enum IQ4_NL: Format {
        @inlinable public static var halfBytes: Int { 144 }
        @inlinable public static var nibbles: Int { 16 }
        @inlinable public static var offset: Int32 { 128 }
        @inlinable public static var hasMin: Bool { false }
        @inlinable public static var fifthBits: Bool { false }
        @inlinable public static var fileBlock: Int { 18 }
        @inlinable public static var fileNibbles: Int { 2 }
        @inlinable public static var wholeBytes: Bool { false }
        @inlinable public static var levels: Bool { true }
    }

    static func format(_ typeID: UInt32) -> (any Format.Type)? {
        switch typeID {
        case 2: return Q4_0.self
        case 3: return Q4_1.self
        case 6: return Q5_0.self
        case 8: return Q8_0.self
        case 20: return IQ4_NL.self
        default: return nil
        }
    }

    public static func packedBytes(typeID: UInt32, rows: Int, blocks nb: Int) -> Int {
        ((rows + 15) / 16) * nb * 2 * (format(typeID)?.halfBytes ?? 0)
    }

    /// Writes tiles `tiles` (16 rows each) of the matrix at `w` (a supported type).
    public static func pack(typeID: UInt32, w: UnsafeRawPointer, rowBytes: Int, rows: Int, blocks nb: Int, tiles: Range<Int>,
                            out: UnsafeMutableRawPointer) {
        // Specialized per format (an existential's constants were read through its witness table
        // 64 times per block and row).
        for tile in tiles {
            switch typeID {
            case 2: packTile(Q4_0.self, w, rowBytes, rows, nb, tile, out)
            case 3: packTile(Q4_1.self, w, rowBytes, rows, nb, tile, out)
            case 6: packTile(Q5_0.self, w, rowBytes, rows, nb, tile, out)
            case 8: packTile(Q8_0.self, w, rowBytes, rows, nb, tile, out)
            case 20: packTile(IQ4_NL.self, w, rowBytes, rows, nb, tile, out)
            default: return
            }
        }
    }

    /// In the file a block's nibble byte k holds elements k (low) and k + 16 (high): quads v and
    /// v + 4 of a row are its bytes 4v..<4v+4, a dword copied as it is.
    static func packTile<F: Format>(_: F.Type, _ w: UnsafeRawPointer, _ rowBytes: Int, _ rows: Int, _ nb: Int, _ tile: Int,
                                    _ out: UnsafeMutableRawPointer) {
        for b in 0..<nb {
            for h in 0..<2 {
                let o = out + ((tile * nb + b) * 2 + h) * F.halfBytes
                o.initializeMemory(as: UInt8.self, repeating: 0, count: F.halfBytes)
                for i in 0..<8 {
                    let r = tile * 16 + h * 8 + i
                    guard r < rows else { continue }
                    let src = w + r * rowBytes + b * F.fileBlock
                    o.storeBytes(of: src.loadUnaligned(as: UInt16.self), toByteOffset: 2 * i, as: UInt16.self)
                    if F.hasMin { o.storeBytes(of: src.loadUnaligned(fromByteOffset: 2, as: UInt16.self), toByteOffset: 16 + 2 * i, as: UInt16.self) }
                    if F.wholeBytes {
                        for v in 0..<8 {
                            let q = src.loadUnaligned(fromByteOffset: F.fileNibbles + 4 * v, as: UInt32.self) ^ 0x8080_8080
                            o.storeBytes(of: q, toByteOffset: F.nibbles + 32 * v + 4 * i, as: UInt32.self)
                        }
                        continue
                    }
                    for v in 0..<4 {
                        o.storeBytes(of: src.loadUnaligned(fromByteOffset: F.fileNibbles + 4 * v, as: UInt32.self),
                                     toByteOffset: F.nibbles + 32 * v + 4 * i, as: UInt32.self)
                    }
                    guard F.fifthBits else { continue }
                    // Byte j, bit c: the fifth bit of element 4c + j (bit 4c + j of the file's dword).
                    let qh = src.loadUnaligned(fromByteOffset: 2, as: UInt32.self)
                    let bits = _pext_u32(qh, 0x1111_1111) | _pext_u32(qh, 0x2222_2222) << 8
                        | _pext_u32(qh, 0x4444_4444) << 16 | _pext_u32(qh, 0x8888_8888) << 24
                    o.storeBytes(of: bits, toByteOffset: 144 + 4 * i, as: UInt32.self)
                }
            }
        }
    }

    /// Row r of a matrix packed by `pack`, written back in the file's block layout (`nb` blocks
    /// to `out`): the inverse of `packTile` for one row, for a copy kept only packed. Another
    /// type (not `supports`) leaves `out` as it is.
    public static func unpackRow(typeID: UInt32, packed: UnsafeRawPointer, blocks nb: Int, row r: Int,
                                 into out: UnsafeMutableRawPointer) {
        switch typeID {
        case 2: unpackRow(Q4_0.self, packed, nb, r, out)
        case 3: unpackRow(Q4_1.self, packed, nb, r, out)
        case 6: unpackRow(Q5_0.self, packed, nb, r, out)
        case 8: unpackRow(Q8_0.self, packed, nb, r, out)
        case 20: unpackRow(IQ4_NL.self, packed, nb, r, out)
        default: break
        }
    }

    static func unpackRow<F: Format>(_: F.Type, _ packed: UnsafeRawPointer, _ nb: Int, _ r: Int,
                                     _ out: UnsafeMutableRawPointer) {
        let tile = r / 16, h = (r % 16) / 8, i = r % 8
        for b in 0..<nb {
            let o = packed + ((tile * nb + b) * 2 + h) * F.halfBytes, dst = out + b * F.fileBlock
            dst.storeBytes(of: o.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self), as: UInt16.self)
            if F.hasMin {
                let m = o.loadUnaligned(fromByteOffset: 16 + 2 * i, as: UInt16.self)
                dst.storeBytes(of: m, toByteOffset: 2, as: UInt16.self)
            }
            if F.wholeBytes {
                for v in 0..<8 {
                    let q = o.loadUnaligned(fromByteOffset: F.nibbles + 32 * v + 4 * i, as: UInt32.self) ^ 0x8080_8080
                    dst.storeBytes(of: q, toByteOffset: F.fileNibbles + 4 * v, as: UInt32.self)
                }
                continue
            }
            for v in 0..<4 {
                dst.storeBytes(of: o.loadUnaligned(fromByteOffset: F.nibbles + 32 * v + 4 * i, as: UInt32.self),
                               toByteOffset: F.fileNibbles + 4 * v, as: UInt32.self)
            }
            guard F.fifthBits else { continue }
            let bits = o.loadUnaligned(fromByteOffset: 144 + 4 * i, as: UInt32.self)
            let qh = _pdep_u32(bits & 0xFF, 0x1111_1111) | _pdep_u32(bits >> 8 & 0xFF, 0x2222_2222)
                | _pdep_u32(bits >> 16 & 0xFF, 0x4444_4444) | _pdep_u32(bits >> 24, 0x8888_8888)
            dst.storeBytes(of: qh, toByteOffset: 2, as: UInt32.self)
        }
    }

    /// Σa of each activation block of `tokens` (the exact offset term of Q4_0's q - 8, Q5_0's q - 16).
    public static func blockSums(_ act: Q8ActivationsView, tokens: Range<Int>, _ out: UnsafeMutablePointer<Int32>) {
        let nb = act.blocks
        for i in (tokens.lowerBound * nb)..<(tokens.upperBound * nb) {
            let a = act.qs + 32 * i
            var s: Int32 = 0
            for j in 0..<32 { s &+= Int32(a[j]) }
            out[i] = s
        }
    }

    /// y[t·ldy + r] = Σ_c w[r, c] · x[t, c] for r in r0..<r1 (r0 a multiple of 16) and every token of
    /// `act`, for a matrix packed by `pack`. `asum`: `blockSums` of the tokens (Q4_0, Q5_0). `end`: the
    /// end of the packed matrix (lines are asked for ahead up to it, past the caller's tiles too: bounded
    /// by the thread's run, SmolLM2's tg64x16 measured 5% slower on 2 threads, and through VNNIPacked32
    /// the 0.5B's 9-11%).
    public static func rows(typeID: UInt32, packed: UnsafeRawPointer, end: UnsafeRawPointer, r0: Int, r1: Int,
                            act: Q8ActivationsView, asum: UnsafePointer<Int32>, y: UnsafeMutablePointer<Float>, ldy: Int) {
        switch typeID {
        case 2: rows(Q4_0.self, packed, end, r0, r1, act, asum, y, ldy)
        case 3: rows(Q4_1.self, packed, end, r0, r1, act, asum, y, ldy)
        case 6: rows(Q5_0.self, packed, end, r0, r1, act, asum, y, ldy)
        case 8: rows(Q8_0.self, packed, end, r0, r1, act, asum, y, ldy)
        case 20: rows(IQ4_NL.self, packed, end, r0, r1, act, asum, y, ldy)
        default: preconditionFailure("not a packed 32-element format")
        }
    }

    static func rows<F: Format>(_: F.Type, _ packed: UnsafeRawPointer, _ end: UnsafeRawPointer, _ r0: Int, _ r1: Int,
                                _ act: Q8ActivationsView, _ asum: UnsafePointer<Int32>, _ y: UnsafeMutablePointer<Float>, _ ldy: Int) {
        precondition(r0 % 16 == 0, "rows start on a tile")
        guard act.nTokens > 0 else { return }
        let stride = act.blocks * 2 * F.halfBytes
        var r = r0
        while r < r1 {
            let tile = packed + (r / 16) * stride, count = min(16, r1 - r)
            if act.nTokens == 1 {
                vector(F.self, tile, end, act, asum, y + r, count)
            } else {
                // One group streams the tile as one token does; 2-4 groups (many sequences) each ask
                // for their share of the next tile, so memory keeps streaming while the later groups
                // multiply from cache (as the K-quant kernels); more (a prompt) leave it to the hardware.
                let groups = (act.nTokens + 7) / 8
                var t = 0
                while t < act.nTokens {
                    let nt = min(8, act.nTokens - t)
                    let ahead: Ahead = groups == 1 ? .stream(end)
                        : groups <= TileShare.maxGroups
                        ? .share(TileShare(tile: tile, steps: act.blocks, stepBytes: 2 * F.halfBytes, pass: t / 8, passes: groups,
                                           end: end))
                        : .none
                    group(F.self, tile, act, asum, t, nt, y + t * ldy + r, ldy, count, ahead)
                    t += nt
                }
            }
            r += 16
        }
    }

    typealias Weights = (__m256i, __m256i, __m256i, __m256i, __m256i, __m256i, __m256i, __m256i)

    @inline(__always) static func load(_ p: UnsafeRawPointer) -> __m256i { _mm256_loadu_si256(p.assumingMemoryBound(to: __m256i.self)) }

    /// The 8 quads of columns of a half block as unsigned bytes (8 rows × 4 each); Q8_0's and IQ4_NL's signed.
    @inline(__always) static func decode<F: Format>(_: F.Type, _ p: UnsafeRawPointer) -> Weights {
        let q = p + F.nibbles
        if F.wholeBytes {
            // Q8_0: the signed weights again (the layout keeps q ^ 0x80).
            let flip = _mm256_set1_epi8(-128)
            @inline(__always) func v(_ k: Int) -> __m256i { _mm256_xor_si256(load(q + 32 * k), flip) }
            return (v(0), v(1), v(2), v(3), v(4), v(5), v(6), v(7))
        }
        let m4 = _mm256_set1_epi8(0x0F)
        let n0 = load(q), n1 = load(q + 32), n2 = load(q + 64), n3 = load(q + 96)
        var w = (_mm256_and_si256(n0, m4), _mm256_and_si256(n1, m4), _mm256_and_si256(n2, m4), _mm256_and_si256(n3, m4),
                 _mm256_and_si256(_mm256_srli_epi16(n0, 4), m4), _mm256_and_si256(_mm256_srli_epi16(n1, 4), m4),
                 _mm256_and_si256(_mm256_srli_epi16(n2, 4), m4), _mm256_and_si256(_mm256_srli_epi16(n3, 4), m4))
        if F.fifthBits {
            // 16-bit shifts: bit 4 of each byte only ever takes a bit of the same byte (shifts ≤ 4).
            let h = load(p + 144), bit4 = _mm256_set1_epi8(0x10)
            w.0 = _mm256_or_si256(w.0, _mm256_and_si256(_mm256_slli_epi16(h, 4), bit4))
            w.1 = _mm256_or_si256(w.1, _mm256_and_si256(_mm256_slli_epi16(h, 3), bit4))
            w.2 = _mm256_or_si256(w.2, _mm256_and_si256(_mm256_slli_epi16(h, 2), bit4))
            w.3 = _mm256_or_si256(w.3, _mm256_and_si256(_mm256_slli_epi16(h, 1), bit4))
            w.4 = _mm256_or_si256(w.4, _mm256_and_si256(h, bit4))
            w.5 = _mm256_or_si256(w.5, _mm256_and_si256(_mm256_srli_epi16(h, 1), bit4))
            w.6 = _mm256_or_si256(w.6, _mm256_and_si256(_mm256_srli_epi16(h, 2), bit4))
            w.7 = _mm256_or_si256(w.7, _mm256_and_si256(_mm256_srli_epi16(h, 3), bit4))
        }
        if F.levels {
            let t = AVX2KQuantPacked.IQ4XS.levels  // IQ4_XS's table: the same 16 levels
            w = (_mm256_shuffle_epi8(t, w.0), _mm256_shuffle_epi8(t, w.1), _mm256_shuffle_epi8(t, w.2), _mm256_shuffle_epi8(t, w.3),
                 _mm256_shuffle_epi8(t, w.4), _mm256_shuffle_epi8(t, w.5), _mm256_shuffle_epi8(t, w.6), _mm256_shuffle_epi8(t, w.7))
        }
        return w
    }

    /// Each row's exact Σ (q - offset)·a over the block against the 32 activations at `a` (sum
    /// `s`). A product pair is at most 2·31·127 in magnitude, so four quads add in int16. Q8_0's
    /// signed q (and IQ4_NL's levels, none of them 0, so the sign never zeroes an activation): |q|
    /// against a with q's sign (at most 2·128·127 a pair, one quad at a time to int32).
    @inline(__always) static func dot<F: Format>(_: F.Type, _ w: Weights, _ a: UnsafeRawPointer, _ s: Int32) -> __m256i {
        @inline(__always) func quad(_ c: Int) -> __m256i { _mm256_set1_epi32(a.loadUnaligned(fromByteOffset: 4 * c, as: Int32.self)) }
        if F.wholeBytes || F.levels {
            let ones = _mm256_set1_epi16(1)
            @inline(__always) func part(_ q: __m256i, _ c: Int) -> __m256i {
                _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_abs_epi8(q), _mm256_sign_epi8(quad(c), q)), ones)
            }
            return _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(part(w.0, 0), part(w.1, 1)), _mm256_add_epi32(part(w.2, 2), part(w.3, 3))),
                                    _mm256_add_epi32(_mm256_add_epi32(part(w.4, 4), part(w.5, 5)), _mm256_add_epi32(part(w.6, 6), part(w.7, 7))))
        }
        let p0 = _mm256_add_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(w.0, quad(0)), _mm256_maddubs_epi16(w.1, quad(1))),
                                  _mm256_add_epi16(_mm256_maddubs_epi16(w.2, quad(2)), _mm256_maddubs_epi16(w.3, quad(3))))
        let p1 = _mm256_add_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(w.4, quad(4)), _mm256_maddubs_epi16(w.5, quad(5))),
                                  _mm256_add_epi16(_mm256_maddubs_epi16(w.6, quad(6)), _mm256_maddubs_epi16(w.7, quad(7))))
        let ones = _mm256_set1_epi16(1)
        let i = _mm256_add_epi32(_mm256_madd_epi16(p0, ones), _mm256_madd_epi16(p1, ones))
        return F.offset == 0 ? i : _mm256_sub_epi32(i, _mm256_set1_epi32(F.offset &* s))
    }

    @inline(__always) static func halfs(_ p: UnsafeRawPointer) -> __m256 {
        _mm256_cvtph_ps(_mm_loadu_si128(p.assumingMemoryBound(to: __m128i.self)))
    }

    /// One block's step for one token: c = fma(Float(dot), d·da, c), then c = fma(m, s, c) (Q4_1).
    @inline(__always) static func step<F: Format>(_: F.Type, _ w: Weights, _ ph: UnsafeRawPointer, _ a: UnsafeRawPointer,
                                                  _ asum: Int32, _ da: Float, _ s: Float, _ c: inout __m256) {
        let i = dot(F.self, w, a, asum)
        c = _mm256_fmadd_ps(_mm256_cvtepi32_ps(i), _mm256_mul_ps(halfs(ph), _mm256_set1_ps(da)), c)
        if F.hasMin { c = _mm256_fmadd_ps(halfs(ph + 16), _mm256_set1_ps(s), c) }
    }

    /// How far ahead of the block being read one token's stream asks for lines (as the K-quant one).
    static let streamDistance = 4096

    /// One token against a tile's 16 rows: both halves per block, one stream.
    static func vector<F: Format>(_: F.Type, _ tile: UnsafeRawPointer, _ end: UnsafeRawPointer, _ act: Q8ActivationsView,
                                  _ asum: UnsafePointer<Int32>, _ y: UnsafeMutablePointer<Float>, _ count: Int) {
        let nb = act.blocks, hb = F.halfBytes
        let a = UnsafeRawPointer(act.qs)
        var c0 = _mm256_setzero_ps(), c1 = _mm256_setzero_ps()
        for b in 0..<nb {
            let p = tile + 2 * b * hb
            let q = p + streamDistance
            if q < end { jeton_prefetch_stream(q, min(2 * hb, end - q)) }
            let ab = a + 32 * b
            step(F.self, decode(F.self, p), p, ab, asum[b], act.d[b], act.s[b], &c0)
            step(F.self, decode(F.self, p + hb), p + hb, ab, asum[b], act.d[b], act.s[b], &c1)
        }
        store(y, c0, min(8, count))
        if count > 8 { store(y + 8, c1, count - 8) }
    }

    /// What a group asks for ahead of its reads, per block.
    enum Ahead {
        case none
        /// The lines `streamDistance` ahead of the ones read, as a stream (`jeton_prefetch_stream`), up to the end.
        case stream(UnsafeRawPointer)
        /// This group's share of the next tile.
        case share(TileShare)
    }

    /// Tokens t0..<t0+nt (nt ≤ 8) against a tile: each half block decoded once for them all.
    static func group<F: Format>(_: F.Type, _ tile: UnsafeRawPointer, _ act: Q8ActivationsView, _ asum: UnsafePointer<Int32>,
                                 _ t0: Int, _ nt: Int, _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ count: Int,
                                 _ ahead: Ahead) {
        let nb = act.blocks, hb = F.halfBytes
        let a = UnsafeRawPointer(act.qs)
        withUnsafeTemporaryAllocation(of: __m256.self, capacity: 16) { acc in
            for k in 0..<16 { acc[k] = _mm256_setzero_ps() }
            for b in 0..<nb {
                switch ahead {
                case .none: break
                case .stream(let end):
                    let q = tile + 2 * b * hb + streamDistance
                    if q < end { jeton_prefetch_stream(q, min(2 * hb, end - q)) }
                case .share(let share): share.ask(step: b)
                }
                for h in 0..<2 where 8 * h < count {
                    let ph = tile + (2 * b + h) * hb
                    let w = decode(F.self, ph)
                    for k in 0..<nt {
                        let tb = (t0 + k) * nb + b
                        step(F.self, w, ph, a + 32 * tb, asum[tb], act.d[tb], act.s[tb], &acc[8 * h + k])
                    }
                }
            }
            for k in 0..<nt {
                store(y + k * ldy, acc[k], min(8, count))
                if count > 8 { store(y + k * ldy + 8, acc[8 + k], count - 8) }
            }
        }
    }

    @inline(__always) static func store(_ y: UnsafeMutablePointer<Float>, _ c: __m256, _ count: Int) {
        if count == 8 {
            _mm256_storeu_ps(y, c)
        } else {
            _mm256_maskstore_ps(y, _mm256_cmpgt_epi32(_mm256_set1_epi32(Int32(count)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)), c)
        }
    }
}
#endif
