#if arch(x86_64)
import _Builtin_intrinsics.intel
import KernelsAVX2
import CPrefetch

/// Q4_K weights (Q5_K and Q6_K below; Q2_K and Q3_K in `VNNIKQuantPacked+Q2K.swift`, `+Q3K.swift`)
/// repacked once, when the model loads (`VNNIKQuantPacked+Pack.swift`), into the order `VNNIKQuantBatch`
/// wants, still 4 bits per weight: tiles of 16 rows, and per tile and super-block
/// 2,368 bytes (the 16 rows take 2,304 in the file):
///
///     [0, 2048)     8 units × 4 vectors: lane r, byte k of vector (u, v) = element 4v + k of
///                   unit u of row r (low nibble) | element 16 + 4v + k (high nibble)
///     [2048, 2176)  the 6-bit scale of unit u, row r at byte 16u + r
///     [2176, 2304)  the mins as pairs: byte 32k + 2r + h = min of unit 2k + h, row r
///     [2304, 2368)  dword r = row r's f16 d | f16 dmin << 16, as in the file
///
/// A tile is one contiguous stream, so the hardware prefetcher follows it, and nothing
/// is copied or repacked per call: a nibble split (one shift, two ands per 64 bytes) per
/// group of 8 tokens replaces the per-call copy and repack, which cost about a third of
/// a step at 16 sequences. The integer sums and the float steps are those of
/// `VNNIKQuantBatch` in the same order, so results are bit for bit `KQuantDot`'s.
///
/// Q5_K is Q4_K's tile (its quants' low four bits as the nibbles) and 512 bytes of fifth bits,
/// 2,880 bytes (2,816 in the file):
///
///     [2368, 2880)  8 vectors: lane r, byte k of vector v, bit u = the fifth bit of the element
///                   nibble vector v of unit u holds there (v < 4: low nibbles, else high)
public enum VNNIKQuantPacked {
    public static let tileRows = 16
    static var q4kTileBytes: Int { KQuantTile.q4K }
    static var q5kTileBytes: Int { KQuantTile.q5K }

    /// Formats with a packed layout: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS (`AVX2KQuantPacked` reads the same tiles).
    public static func supports(typeID: UInt32) -> Bool { typeID >= 10 && typeID <= 14 || typeID == 23 }

    /// Bytes per tile of 16 rows and super-block (the AVX2 kernel's tiles are these).
    static func tileBytes(_ typeID: UInt32) -> Int { KQuantTile.bytes(typeID) }

    /// Q6_K per tile and super-block, 3,392 bytes (3,360 in the file): the low nibbles of units
    /// 2p and 2p + 1 in one byte (32 vectors), the top two bits of units 4q..<4q+4 in one byte
    /// (16 vectors), the two interleaved quad by quad in reading order (`KQuantTile.q6KTop`,
    /// `q6KLow`), then at 3,072 the signed scales as pairs (byte 32j + 2r + h: unit 2j + h, row r), 16 f16 d.
    static var q6kTileBytes: Int { KQuantTile.q6K }

    /// y[t·ldy + r] = Σ_c w[r, c] · x[t, c] for r in r0..<r1 (r0 a multiple of 16) and every
    /// token of `act`, from the packed copy made by `pack`, in groups of 8 tokens read straight
    /// from the packed tile. (Unpacking a tile once into scratch for all groups was measured
    /// 20-35 % slower at 9-64 tokens and no faster at a 512-token prompt, on AVX-512 without
    /// AMX: the unpack read the tile in a burst that did not overlap the products.) With `amx`,
    /// Q4_K tiles against more than 8 tokens go to `AMXKQuantPacked` (same bits), in `scratch`
    /// (`AMXKQuantPacked.scratchBytes`); Q5_K tiles against a prompt are decoded once
    /// (`decodedQ5K`), in `scratch` (`VNNIKQuantBatch.scratchBytes`). The read-ahead stops at
    /// row `aheadRows` (r1 by default; the end of the caller's stream when the next call goes on
    /// from r1, `ThreadPool.parallelStreams`). `twoScaleProducts`: Q4_K groups of 2-8 tokens meet
    /// their scales in two products a unit instead of a blend and one (`group`; same bits; one
    /// token keeps the blend, memory-bound either way).
    public static func rows(typeID: UInt32, packed: UnsafeRawPointer, r0: Int, r1: Int,
                            act: Q8KActivationsView, y: UnsafeMutablePointer<Float>, ldy: Int,
                            scratch: UnsafeMutableRawPointer?, amx: Bool = false, twoScaleProducts: Bool = false,
                            aheadRows: Int? = nil) {
        guard act.nTokens > 0 else { return }
        let nsb = act.superBlocks, stride = nsb * tileBytes(typeID)
        let end = packed + ((max(r1, aheadRows ?? r1) + tileRows - 1) / tileRows) * stride
        var r = r0
        while r < r1 {
            let count = min(tileRows, r1 - r)
            let tile = packed + (r / tileRows) * stride
            let mask = __mmask16(truncatingIfNeeded: (1 << count) - 1)
            if amx && typeID == 12 && act.nTokens > 8, let scratch {
                AMXKQuantPacked.q4k(tile, end, act, y + r, ldy, mask, scratch, twoScaleProducts: twoScaleProducts)
            } else if typeID == 13 && act.nTokens > 8 * TileShare.maxGroups, let scratch {
                decodedQ5K(tile, end, act, y + r, ldy, mask, scratch)
            } else {
                // One group (generation, up to 8 tokens): lines are asked for a fixed distance
                // ahead of the one read. 2 to `TileShare.maxGroups` groups (many sequences, a short
                // prompt chunk): the tile stays in L1/L2 after the first group, and every group
                // asks for its share of the next tile (the shares split it in order), so memory
                // keeps streaming while the later groups multiply from cache (16 sequences: a
                // tenth faster). More (a prompt): the first group alone asks ahead, since shares
                // measured slower there (the tile's read is a small part of its time).
                let groups = (act.nTokens + 7) / 8
                var t = 0
                while t < act.nTokens {
                    let nt = min(8, act.nTokens - t), g = t / 8
                    let ahead: Ahead = groups == 1 ? .stream(StreamAhead(tokens: nt))
                        : groups <= TileShare.maxGroups
                        ? .share(TileShare(tile: tile, steps: nsb, stepBytes: tileBytes(typeID), pass: g, passes: groups, end: end))
                        : g == 0 ? .distance : .none
                    if nt == 1 {
                        oneToken(typeID, tile, end, act, t, y + t * ldy + r, ldy, mask, ahead: ahead)
                    } else if typeID == 12 && twoScaleProducts {
                        group(Q4KTileTwoProducts.self, tile, end, act, t, nt, y + t * ldy + r, ldy, mask, ahead: ahead)
                    } else if typeID == 12 {
                        group(Q4KTile.self, tile, end, act, t, nt, y + t * ldy + r, ldy, mask, ahead: ahead)
                    } else if typeID == 13 {
                        group(Q5KTile.self, tile, end, act, t, nt, y + t * ldy + r, ldy, mask, ahead: ahead)
                    } else if typeID == 14 {
                        groupQ6K(tile, end, act, t, nt, y + t * ldy + r, ldy, mask, ahead: ahead)
                    } else if typeID == 11 {
                        groupLowK(Q3KTile.self, tile, end, act, t, nt, y + t * ldy + r, ldy, mask, ahead: ahead)
                    } else if typeID == 23 {
                        groupIQ4XS(tile, end, act, t, nt, y + t * ldy + r, ldy, mask, ahead: ahead)
                    } else {
                        precondition(typeID == 10, "no packed kernel for type \(typeID)")
                        groupLowK(Q2KTile.self, tile, end, act, t, nt, y + t * ldy + r, ldy, mask, ahead: ahead)
                    }
                    t += nt
                }
            }
            r += count
        }
    }

    /// Asks for the `bytes` bytes a fixed distance past `p` into L2 (not past `end`, the end of
    /// the call's tiles): the packed tiles of a call are one stream, read at memory speed only
    /// if enough lines are in flight ahead of the one being multiplied.
    static let aheadBytes = 16384  // measured: 4-64 KiB all close; none at all loses a fifth

    @inline(__always) static func ahead(_ p: UnsafeRawPointer, _ bytes: Int, _ end: UnsafeRawPointer) {
        let q = p + aheadBytes
        if q < end { jeton_prefetch_range_l2(q, min(bytes, end - q)) }
    }

    /// One token (generation): each type's group kernel compiled for exactly one, so its branches
    /// on the token count fold and the seven other sums leave the registers. The kernels for up to
    /// 8 tokens, run with one, spilled and tested the count in every unit: on Zen 4 (AVX-512 at
    /// half width, where Q6_K's single-token kernel runs out of compute before memory) a token of
    /// Qwen2.5-Coder-1.5B took 12-15% longer with them. One function per type: with all five in
    /// one, the compiler left Q6_K's kernel out of line, for any count.
    static func oneToken(_ typeID: UInt32, _ tile: UnsafeRawPointer, _ end: UnsafeRawPointer, _ act: Q8KActivationsView,
                         _ t0: Int, _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ mask: __mmask16, ahead: Ahead) {
        switch typeID {
        case 12: OneToken.q4K(tile, end, act, t0, y, ldy, mask, ahead)
        case 13: OneToken.q5K(tile, end, act, t0, y, ldy, mask, ahead)
        case 14: OneToken.q6K(tile, end, act, t0, y, ldy, mask, ahead)
        case 11: OneToken.q3K(tile, end, act, t0, y, ldy, mask, ahead)
        case 23: OneToken.iq4XS(tile, end, act, t0, y, ldy, mask, ahead)
        default:
            precondition(typeID == 10, "no packed kernel for type \(typeID)")
            OneToken.q2K(tile, end, act, t0, y, ldy, mask, ahead)
        }
    }

    enum OneToken {
        @inline(never) static func q4K(_ tile: UnsafeRawPointer, _ end: UnsafeRawPointer, _ act: Q8KActivationsView, _ t0: Int,
                                       _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ mask: __mmask16, _ ahead: Ahead) {
            group(Q4KTile.self, tile, end, act, t0, 1, y, ldy, mask, ahead: ahead)
        }
        @inline(never) static func q5K(_ tile: UnsafeRawPointer, _ end: UnsafeRawPointer, _ act: Q8KActivationsView, _ t0: Int,
                                       _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ mask: __mmask16, _ ahead: Ahead) {
            group(Q5KTile.self, tile, end, act, t0, 1, y, ldy, mask, ahead: ahead)
        }
        @inline(never) static func q6K(_ tile: UnsafeRawPointer, _ end: UnsafeRawPointer, _ act: Q8KActivationsView, _ t0: Int,
                                       _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ mask: __mmask16, _ ahead: Ahead) {
            groupQ6K(tile, end, act, t0, 1, y, ldy, mask, ahead: ahead)
        }
        @inline(never) static func q3K(_ tile: UnsafeRawPointer, _ end: UnsafeRawPointer, _ act: Q8KActivationsView, _ t0: Int,
                                       _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ mask: __mmask16, _ ahead: Ahead) {
            groupLowK(Q3KTile.self, tile, end, act, t0, 1, y, ldy, mask, ahead: ahead)
        }
        @inline(never) static func iq4XS(_ tile: UnsafeRawPointer, _ end: UnsafeRawPointer, _ act: Q8KActivationsView, _ t0: Int,
                                         _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ mask: __mmask16, _ ahead: Ahead) {
            groupIQ4XS(tile, end, act, t0, 1, y, ldy, mask, ahead: ahead)
        }
        @inline(never) static func q2K(_ tile: UnsafeRawPointer, _ end: UnsafeRawPointer, _ act: Q8KActivationsView, _ t0: Int,
                                       _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ mask: __mmask16, _ ahead: Ahead) {
            groupLowK(Q2KTile.self, tile, end, act, t0, 1, y, ldy, mask, ahead: ahead)
        }
    }

    /// What a group asks for ahead of its reads: per super-block (`ask`), or for `.stream` a part
    /// at each unit (`unit`).
    enum Ahead {
        /// Nothing (a later group of a tile already in cache).
        case none
        /// The tile's own lines as `StreamAhead` says, a few at each unit (`unit`; one group of tokens).
        case stream(StreamAhead)
        /// The tile's own lines `aheadBytes` ahead into L2.
        case distance
        /// The group's share of the next tile.
        case share(TileShare)

        /// At super-block `s` (at `base`, `bytes` bytes) of the tile; nothing at or past `end`.
        @inline(__always) func ask(_ base: UnsafeRawPointer, _ s: Int, _ bytes: Int, _ end: UnsafeRawPointer) {
            switch self {
            case .none, .stream: return
            case .distance: VNNIKQuantPacked.ahead(base, bytes, end)
            case .share(let share): share.ask(step: s)
            }
        }

        /// At unit `part` of `parts` of the super-block at `base` (`bytes` bytes): `.stream` asks for
        /// that part of the lines its distance ahead (those before `end`) as a stream. The
        /// whole super-block asked for at its start (37-53 requests in a row) stalled the loads
        /// behind them on Zen 4: spread, a token of Qwen2.5-Coder-1.5B took 5-8% less (as the
        /// AVX2 kernel found on Zen 3, `AVX2KQuantPacked.spread`; into L1 measured the same).
        @inline(__always) func unit(_ base: UnsafeRawPointer, _ part: Int, _ parts: Int, _ bytes: Int, _ end: UnsafeRawPointer) {
            guard case .stream(let rule) = self else { return }
            // Rounded up: a Q3_K tile (1,824 bytes) starts mid-line every other super-block.
            let lines = (bytes + 63) / 64, first = 64 * (lines * part / parts), last = 64 * (lines * (part + 1) / parts)
            // Line by line, not `rule.ask`: its loops, unrolled for any length, put more work between
            // the loads of a memory-bound kernel (Qwen2.5-Coder-1.5B tg128 at 68-73% of the probe
            // against 77-90% this way, three alternated rounds on Emerald Rapids).
            var q = base + rule.distance + first
            let stop = min(base + rule.distance + last, end)
            while q < stop {
                jeton_prefetch_stream(q, 64)
                q += 64
            }
            if rule.near {
                let p = base + Int(JETON_STREAM_NEAR_BYTES)
                let n = p + first, nearStop = min(p + last, end)
                if n < nearStop { jeton_prefetch_stream_near(n, nearStop - n) }
            }
        }
    }

    /// Unit u's nibble vectors `w` of a Q5_K tile (super-block at `q`) with each element's fifth bit
    /// (bit u of the fifth-bit vectors) moved to bit 4: 16-bit shifts of at most 4, so the mask
    /// keeps each byte's own bit.
    @inline(__always)
    static func withFifthBits(_ w: BlockWeights, _ q: UnsafePointer<__m512i>, _ u: Int) -> BlockWeights {
        let bit4 = _mm512_set1_epi8(0x10)
        @inline(__always) func fifth(_ v: Int) -> __m512i {
            let h = _mm512_loadu_si512(q + q4kTileBytes / 64 + v)
            return _mm512_and_si512(u < 4 ? _mm512_slli_epi16(h, UInt32(4 - u)) : _mm512_srli_epi16(h, UInt32(u - 4)), bit4)
        }
        return (_mm512_or_si512(w.0, fifth(0)), _mm512_or_si512(w.1, fifth(1)), _mm512_or_si512(w.2, fifth(2)),
                _mm512_or_si512(w.3, fifth(3)), _mm512_or_si512(w.4, fifth(4)), _mm512_or_si512(w.5, fifth(5)),
                _mm512_or_si512(w.6, fifth(6)), _mm512_or_si512(w.7, fifth(7)))
    }

    /// A Q5_K tile against a prompt's tokens (more groups than take shares): decoded once into
    /// `scratch` in `VNNIKQuantBatch`'s layout, whose group loop then runs on it (the same steps,
    /// the same bits). Decoding the fifth bits again for every group of 8 made Qwen2.5-Coder-1.5B
    /// Q5_K_M's 512-token prompt 12% slower than the per-call repacking kernel.
    static func decodedQ5K(_ tile: UnsafeRawPointer, _ end: UnsafeRawPointer, _ act: Q8KActivationsView,
                           _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ mask: __mmask16, _ scratch: UnsafeMutableRawPointer) {
        let nsb = act.superBlocks
        let packed = scratch.bindMemory(to: __m512i.self, capacity: nsb * 80)  // [nsb, 8 units, 8 vectors]
        let scales = packed + nsb * 64, pairs = scales + nsb * 8              // [nsb, 8] each
        let dw = UnsafeMutableRawPointer(pairs + nsb * 8).bindMemory(to: __m512.self, capacity: 2 * nsb), dm = dw + nsb
        let nibbles = _mm512_set1_epi8(0x0F)
        for s in 0..<nsb {
            let base = tile + s * q5kTileBytes
            Ahead.distance.ask(base, s, q5kTileBytes, end)
            let q = base.assumingMemoryBound(to: __m512i.self)
            for u in 0..<8 {
                let x0 = _mm512_loadu_si512(q + 4 * u), x1 = _mm512_loadu_si512(q + 4 * u + 1)
                let x2 = _mm512_loadu_si512(q + 4 * u + 2), x3 = _mm512_loadu_si512(q + 4 * u + 3)
                let w = withFifthBits((_mm512_and_si512(x0, nibbles), _mm512_and_si512(x1, nibbles),
                                       _mm512_and_si512(x2, nibbles), _mm512_and_si512(x3, nibbles),
                                       _mm512_and_si512(_mm512_srli_epi16(x0, 4), nibbles), _mm512_and_si512(_mm512_srli_epi16(x1, 4), nibbles),
                                       _mm512_and_si512(_mm512_srli_epi16(x2, 4), nibbles), _mm512_and_si512(_mm512_srli_epi16(x3, 4), nibbles)),
                                      q, u)
                let o = packed + (8 * s + u) * 8
                (o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]) = w
                scales[8 * s + u] = _mm512_cvtepu8_epi32(load128(base + 2048 + 16 * u))
            }
            for k in 0..<4 {
                pairs[8 * s + k] = _mm512_cvtepu8_epi16(_mm256_loadu_si256((base + 2176 + 32 * k).assumingMemoryBound(to: __m256i.self)))
            }
            let dmv = _mm512_loadu_si512((base + 2304).assumingMemoryBound(to: __m512i.self))
            dw[s] = halfsLow(dmv)
            dm[s] = halfsHigh(dmv)
        }
        var t = 0
        while t < act.nTokens {
            let nt = min(8, act.nTokens - t)
            VNNIKQuantBatch.group(VNNIKQuantBatch.Q5K.self, packed, scales, pairs, dw, dm, act, t, nt, y + t * ldy, ldy, mask)
            t += nt
        }
    }

    /// Lane r: byte r of a unit's 16 scale bytes in the low int16 half, 0 in the high one.
    @inline(__always) static var scaleIndexLow: __m512i {
        _mm512_set_epi8(-128, -128, -128, 15, -128, -128, -128, 14, -128, -128, -128, 13, -128, -128, -128, 12,
                        -128, -128, -128, 11, -128, -128, -128, 10, -128, -128, -128, 9, -128, -128, -128, 8,
                        -128, -128, -128, 7, -128, -128, -128, 6, -128, -128, -128, 5, -128, -128, -128, 4,
                        -128, -128, -128, 3, -128, -128, -128, 2, -128, -128, -128, 1, -128, -128, -128, 0)
    }
    /// Lane r (row 4l + m of 128-bit lane l): byte r of a unit's 16 scale bytes, in both int16 halves.
    @inline(__always) static var scaleIndex: __m512i {
        _mm512_set_epi8(-128, 15, -128, 15, -128, 14, -128, 14, -128, 13, -128, 13, -128, 12, -128, 12,
                        -128, 11, -128, 11, -128, 10, -128, 10, -128, 9, -128, 9, -128, 8, -128, 8,
                        -128, 7, -128, 7, -128, 6, -128, 6, -128, 5, -128, 5, -128, 4, -128, 4,
                        -128, 3, -128, 3, -128, 2, -128, 2, -128, 1, -128, 1, -128, 0, -128, 0)
    }

    /// A Q6_K tile against tokens t0..<t0+nt (nt ≤ 8), unpacked in registers unit by unit (as
    /// `VNNIKQuantBatch.group` does from its scratch): y[k·ldy + lane] for token t0 + k.
    @inline(__always)
    static func groupQ6K(_ tile: UnsafeRawPointer, _ end: UnsafeRawPointer, _ act: Q8KActivationsView,
                         _ t0: Int, _ nt: Int, _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ mask: __mmask16,
                         ahead plan: Ahead) {
        let nsb = act.superBlocks
        let nibbles = _mm512_set1_epi8(0x0F), topBits = _mm512_set1_epi8(0x30)
        let z = _mm512_setzero_si512()
        var c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0
        for s in 0..<nsb {
            let base = tile + s * q6kTileBytes
            plan.ask(base, s, q6kTileBytes, end)
            var i0 = z, i1 = z, i2 = z, i3 = z, i4 = z, i5 = z, i6 = z, i7 = z
            // Unit g = 2p + half, with p = 2·quad + pair: its low four bits are nibble `half` of the
            // pair's nibble vectors (`KQuantTile.q6KLow`), its top two bits are bits 2k, 2k+1
            // (k = 2·pair + half) of the quad's top-bits vectors (`q6KTop`). Every shift below takes
            // a literal, so each unit is straight-line code (loops over half and pair left the
            // shifts to run time); only the token count is tested at run time.
            @inline(__always) func top(_ h: __m512i, _ k: Int) -> __m512i {
                switch k {
                case 0: return _mm512_and_si512(_mm512_slli_epi16(h, 4), topBits)  // 16-bit shifts: the mask drops what crosses bytes
                case 1: return _mm512_and_si512(_mm512_slli_epi16(h, 2), topBits)
                case 2: return _mm512_and_si512(h, topBits)
                default: return _mm512_and_si512(_mm512_srli_epi16(h, 2), topBits)
                }
            }
            @inline(__always) func low(_ l: __m512i, _ half: Int) -> __m512i {
                half == 0 ? _mm512_and_si512(l, nibbles) : _mm512_and_si512(_mm512_srli_epi16(l, 4), nibbles)
            }
            @inline(__always) func unit(_ p: Int, _ half: Int, _ k: Int, _ l: (__m512i, __m512i, __m512i, __m512i),
                                        _ h: (__m512i, __m512i, __m512i, __m512i), _ scalePair: __m512i) {
                let g = 2 * p + half
                plan.unit(base, g, 16, q6kTileBytes, end)
                let w0 = _mm512_or_si512(low(l.0, half), top(h.0, k)), w1 = _mm512_or_si512(low(l.1, half), top(h.1, k))
                let w2 = _mm512_or_si512(low(l.2, half), top(h.2, k)), w3 = _mm512_or_si512(low(l.3, half), top(h.3, k))
                let sc = half == 0 ? _mm512_srai_epi32(_mm512_slli_epi32(scalePair, 16), 16) : _mm512_srai_epi32(scalePair, 16)
                @inline(__always) func token(_ t: Int, _ acc: inout __m512i) {
                    let a = UnsafeRawPointer(act.qs + ((t0 + t) * nsb + s) * 256 + g * 16)
                    @inline(__always) func bc(_ j: Int) -> __m512i { _mm512_set1_epi32(a.loadUnaligned(fromByteOffset: 4 * j, as: Int32.self)) }
                    var i = _mm512_dpbusd_epi32(z, w0, bc(0))
                    i = _mm512_dpbusd_epi32(i, w1, bc(1))
                    i = _mm512_dpbusd_epi32(i, w2, bc(2))
                    i = _mm512_dpbusd_epi32(i, w3, bc(3))
                    acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(i, sc))
                }
                if nt == 8 {
                    // A full group: the tokens' chains side by side (`eightTokenSums`).
                    var acc = (i0, i1, i2, i3, i4, i5, i6, i7)
                    addProducts(&acc, eightTokenSums((w0, w1, w2, w3), UnsafeRawPointer(act.qs + (t0 * nsb + s) * 256 + g * 16),
                                                     stride: nsb * 256, from: 0), sc)
                    (i0, i1, i2, i3, i4, i5, i6, i7) = acc
                    return
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
            @inline(__always) func pair(_ p: Int, _ k0: Int, _ h: (__m512i, __m512i, __m512i, __m512i)) {
                @inline(__always) func nibbleVector(_ v: Int) -> __m512i { load512(base + KQuantTile.q6KLow(p, v)) }
                let l = (nibbleVector(0), nibbleVector(1), nibbleVector(2), nibbleVector(3))
                let scalePair = _mm512_cvtepi8_epi16(_mm256_loadu_si256((base + 3072 + 32 * p).assumingMemoryBound(to: __m256i.self)))
                unit(p, 0, k0, l, h, scalePair)
                unit(p, 1, k0 + 1, l, h, scalePair)
            }
            for quad in 0..<4 {
                @inline(__always) func topVector(_ v: Int) -> __m512i { load512(base + KQuantTile.q6KTop(quad, v)) }
                let h = (topVector(0), topVector(1), topVector(2), topVector(3))
                pair(2 * quad, 0, h)
                pair(2 * quad + 1, 2, h)
            }
            let dw = _mm512_cvtph_ps(_mm256_loadu_si256((base + 3328).assumingMemoryBound(to: __m256i.self)))
            // The +32 offset: Σ scale · Σq per 16, two units per vpdpwssd, then the float step of KQuantDot.
            @inline(__always) func finish(_ t: Int, _ isum: __m512i, _ c: inout __m512) {
                let bs = UnsafeRawPointer(act.bsums + ((t0 + t) * nsb + s) * 16)
                var p = z
                for j in 0..<8 {
                    let pairs = _mm512_cvtepi8_epi16(_mm256_loadu_si256((base + 3072 + 32 * j).assumingMemoryBound(to: __m256i.self)))
                    p = _mm512_dpwssd_epi32(p, pairs, _mm512_set1_epi32(bs.loadUnaligned(fromByteOffset: 4 * j, as: Int32.self)))
                }
                let da = _mm512_set1_ps(act.d[(t0 + t) * nsb + s])
                c = _mm512_fmadd_ps(_mm512_mul_ps(dw, da), _mm512_cvtepi32_ps(_mm512_sub_epi32(isum, _mm512_slli_epi32(p, 5))), c)
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

    /// Q4_K's tile, or Q5_K's (its fifth bits after it): a type, so each kernel is its own
    /// specialization (a Bool argument left a test per unit in the Q4_K kernel, whose prompts
    /// measured 4-14% slower).
    protocol Tile4 {
        static var fifthBits: Bool { get }
        static var twoScaleProducts: Bool { get }
    }
    enum Q4KTile: Tile4 { static var fifthBits: Bool { false }; static var twoScaleProducts: Bool { false } }
    /// Q4_K with each half's sum against the scale in a product of its own (`rows`' `twoScaleProducts`).
    enum Q4KTileTwoProducts: Tile4 { static var fifthBits: Bool { false }; static var twoScaleProducts: Bool { true } }
    enum Q5KTile: Tile4 { static var fifthBits: Bool { true }; static var twoScaleProducts: Bool { false } }

    /// The tile against tokens t0..<t0+nt (nt ≤ 8); y[k·ldy + lane] for token t0+k. Q5_K: each
    /// element's fifth bit joins its nibble, and a unit's sums no longer fit int16, so the scale
    /// multiplies them as int32.
    @inline(__always)
    static func group<L: Tile4>(_: L.Type, _ tile: UnsafeRawPointer, _ end: UnsafeRawPointer, _ act: Q8KActivationsView,
                                _ t0: Int, _ nt: Int, _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ mask: __mmask16,
                                ahead plan: Ahead) {
        let fifthBits = L.fifthBits
        let nsb = act.superBlocks, bytes = fifthBits ? q5kTileBytes : q4kTileBytes
        let scaleIndex = L.twoScaleProducts ? Self.scaleIndexLow : Self.scaleIndex  // the low int16 half alone, or both
        let nibbles = _mm512_set1_epi8(0x0F)
        var c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0
        for s in 0..<nsb {
            let base = tile + s * bytes
            plan.ask(base, s, bytes, end)
            let z = _mm512_setzero_si512()
            var i0 = z, i1 = z, i2 = z, i3 = z, i4 = z, i5 = z, i6 = z, i7 = z
            let q = base.assumingMemoryBound(to: __m512i.self)
            for u in 0..<8 {
                plan.unit(base, u, 8, bytes, end)
                let x0 = _mm512_loadu_si512(q + 4 * u), x1 = _mm512_loadu_si512(q + 4 * u + 1)
                let x2 = _mm512_loadu_si512(q + 4 * u + 2), x3 = _mm512_loadu_si512(q + 4 * u + 3)
                var w0 = _mm512_and_si512(x0, nibbles), w1 = _mm512_and_si512(x1, nibbles)
                var w2 = _mm512_and_si512(x2, nibbles), w3 = _mm512_and_si512(x3, nibbles)
                var w4 = _mm512_and_si512(_mm512_srli_epi16(x0, 4), nibbles), w5 = _mm512_and_si512(_mm512_srli_epi16(x1, 4), nibbles)
                var w6 = _mm512_and_si512(_mm512_srli_epi16(x2, 4), nibbles), w7 = _mm512_and_si512(_mm512_srli_epi16(x3, 4), nibbles)
                if fifthBits { (w0, w1, w2, w3, w4, w5, w6, w7) = withFifthBits((w0, w1, w2, w3, w4, w5, w6, w7), q, u) }
                let sc = _mm512_shuffle_epi8(_mm512_broadcast_i32x4(load128(base + 2048 + 16 * u)), scaleIndex)
                let sc32 = fifthBits ? _mm512_cvtepu8_epi32(load128(base + 2048 + 16 * u)) : sc
                @inline(__always) func token(_ k: Int, _ acc: inout __m512i) {
                    let a = UnsafeRawPointer(act.qs + ((t0 + k) * nsb + s) * 256 + u * 32)
                    @inline(__always) func bc(_ j: Int) -> __m512i { _mm512_set1_epi32(a.loadUnaligned(fromByteOffset: 4 * j, as: Int32.self)) }
                    var i = _mm512_dpbusd_epi32(z, w0, bc(0))
                    i = _mm512_dpbusd_epi32(i, w1, bc(1))
                    i = _mm512_dpbusd_epi32(i, w2, bc(2))
                    i = _mm512_dpbusd_epi32(i, w3, bc(3))
                    var j = _mm512_dpbusd_epi32(z, w4, bc(4))
                    j = _mm512_dpbusd_epi32(j, w5, bc(5))
                    j = _mm512_dpbusd_epi32(j, w6, bc(6))
                    j = _mm512_dpbusd_epi32(j, w7, bc(7))
                    if fifthBits {
                        acc = _mm512_add_epi32(acc, _mm512_mullo_epi32(_mm512_add_epi32(i, j), sc32))  // 16 · 31 · 128 > int16
                        return
                    }
                    // Each 16-element half fits int16 (16 · 15 · 128), so its low half is its value:
                    // i's low half beside j's (a shift and a blend, off the multiply ports on AMD) and
                    // one vpdpwssd against the scale in both halves adds sc·i + sc·j. Where every
                    // 512-bit operation shares the two multiply ports (Intel), one vpdpwssd each
                    // against the scale in the low half alone (the high half's sign bits meet 0) is
                    // one operation fewer.
                    if L.twoScaleProducts {
                        acc = _mm512_dpwssd_epi32(_mm512_dpwssd_epi32(acc, i, sc), j, sc)
                        return
                    }
                    acc = _mm512_dpwssd_epi32(acc, _mm512_mask_blend_epi16(0xAAAA_AAAA, i, _mm512_slli_epi32(j, 16)), sc)
                }
                if L.twoScaleProducts && !fifthBits && nt == 8 {
                    // A full group: the tokens' chains side by side (`eightTokenSums`), each half
                    // against the scale as `token` does. Only with two products: the blend would
                    // need both halves of all eight tokens live at once (not tried).
                    let a0 = UnsafeRawPointer(act.qs + (t0 * nsb + s) * 256 + u * 32), stride = nsb * 256
                    var acc = (i0, i1, i2, i3, i4, i5, i6, i7)
                    addLowWordProducts(&acc, eightTokenSums((w0, w1, w2, w3), a0, stride: stride, from: 0), sc)
                    addLowWordProducts(&acc, eightTokenSums((w4, w5, w6, w7), a0, stride: stride, from: 4), sc)
                    (i0, i1, i2, i3, i4, i5, i6, i7) = acc
                    continue
                }
                if fifthBits && nt == 8 {
                    // Q5_K's full group likewise, the unit's two halves in one chain each (their total is scaled).
                    let a0 = UnsafeRawPointer(act.qs + (t0 * nsb + s) * 256 + u * 32), stride = nsb * 256
                    let l = eightTokenSums((w0, w1, w2, w3), a0, stride: stride, from: 0)
                    var acc = (i0, i1, i2, i3, i4, i5, i6, i7)
                    addProducts(&acc, eightTokenSums((w4, w5, w6, w7), a0, stride: stride, from: 4, onto: l), sc32)
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
            let dm = _mm512_loadu_si512((base + 2304).assumingMemoryBound(to: __m512i.self))
            let dw = halfsLow(dm), dmw = halfsHigh(dm)
            let pairs = (_mm512_cvtepu8_epi16(_mm256_loadu_si256((base + 2176).assumingMemoryBound(to: __m256i.self))),
                         _mm512_cvtepu8_epi16(_mm256_loadu_si256((base + 2208).assumingMemoryBound(to: __m256i.self))),
                         _mm512_cvtepu8_epi16(_mm256_loadu_si256((base + 2240).assumingMemoryBound(to: __m256i.self))),
                         _mm512_cvtepu8_epi16(_mm256_loadu_si256((base + 2272).assumingMemoryBound(to: __m256i.self))))
            @inline(__always) func finish(_ k: Int, _ isum: __m512i, _ c: inout __m512) {
                let i = (t0 + k) * nsb + s
                c = Q4KFinish.step(c, isum: isum, pairs: pairs, pairSums: act.pairSums + i * 4, d: dw, dmin: dmw, da: act.d[i])
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
}
#endif
