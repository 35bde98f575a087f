#if arch(x86_64)
import _Builtin_intrinsics.intel
import CPrefetch

/// K-quant weights packed at load (the layout of `VNNIKQuantPacked`, written by
/// `KQuantPacker` or the AVX-512 packer) against Q8_K activations on AVX2: each 64-byte
/// vector of a packed tile holds 16 rows side by side, so a 256-bit half is 8 rows, one per
/// int32 lane. Per group of up to 8 tokens and per scale unit, `vpmaddubsw` multiplies the
/// unsigned weights by a broadcast dword of activations (pairs of products in int16, which
/// cannot saturate: at most 2 · 63 · 128), a few `vpaddw` add them up while they still fit
/// int16 (8 products per int16 lane, or 16 in Q4_K's one-token step), and `vpmaddwd` against
/// the unit's scale gives exact int32 sums per row. Q5_K's tile is Q4_K's with the fifth bits
/// after it, or'd into each nibble as it is unpacked. The float steps are `KQuantDot`'s in the
/// same order, so results are bit for bit the reference's, as on AVX-512. Weights are read
/// from memory once per block of 64 tokens (from cache once per group of 8); for prompts the
/// unpacking (an and, or a shift and an and, per 32 bytes; Q5_K a load, a shift, an and and
/// an or more) is shared by 8 tokens. Up to 8 tokens (generation, a speculative step's verification) take both
/// halves of a tile per super-block, so each line is used whole as it arrives.
public enum AVX2KQuantPacked {
    static var q4kTileBytes: Int { KQuantTile.q4K }
    static var q5kTileBytes: Int { KQuantTile.q5K }
    static var q6kTileBytes: Int { KQuantTile.q6K }
    static var q3kTileBytes: Int { KQuantTile.q3K }
    static var q2kTileBytes: Int { KQuantTile.q2K }

    public static func supports(typeID: UInt32) -> Bool { typeID >= 10 && typeID <= 14 || typeID == 23 }

    /// Bytes per tile of 16 rows and super-block.
    public static func tileBytes(_ typeID: UInt32) -> Int { KQuantTile.bytes(typeID) }

    /// Tokens per group: 8 sums fit the 16 registers beside four weight vectors.
    static let groupTokens = 8
    /// Tokens per pass over the rows (see `rows`).
    static let blockTokens = 64
    /// Up to this many tokens (one group), `small`: both halves of a tile per super-block, one
    /// stream. Against the pass per half, 2 to 8 tokens took 0.70-0.87× the time (Zen 3, 2 threads).
    /// (9 to 16 tokens in two groups this way measured as the pass per half: compute-bound.)
    static let smallTokens = groupTokens

    /// Float sums of up to 8 tokens for one half tile (8 rows each).
    typealias Sums = (__m256, __m256, __m256, __m256, __m256, __m256, __m256, __m256)
    static var zeroSums: Sums { let z = _mm256_setzero_ps(); return (z, z, z, z, z, z, z, z) }

    /// y[t·ldy + r] = Σ_c w[r, c] · x[t, c] for r in r0..<r1 (r0 a multiple of 16) and every token of `act`;
    /// the read-ahead stops at row `aheadRows` (r1 by default; see `VNNIKQuantPacked.rows`).
    public static func rows(typeID: UInt32, packed: UnsafeRawPointer, r0: Int, r1: Int,
                            act: Q8KActivationsView, y: UnsafeMutablePointer<Float>, ldy: Int, aheadRows: Int? = nil) {
        guard act.nTokens > 0 else { return }
        let nsb = act.superBlocks, bytes = tileBytes(typeID), stride = nsb * bytes
        let end = packed + ((max(r1, aheadRows ?? r1) + 15) / 16) * stride
        if act.nTokens <= smallTokens {
            // One stream over the tiles: one token's kernel, or a few tokens' (`small`).
            var r = r0
            while r < r1 {
                let tile = packed + (r / 16) * stride, count = min(16, r1 - r)
                switch (typeID, act.nTokens == 1) {
                case (12, true): vector(Q4K.self, tile, end, act, y + r, count)
                case (13, true): vector(Q5K.self, tile, end, act, y + r, count)
                case (14, true): vector(Q6K.self, tile, end, act, y + r, count)
                case (11, true): vector(Q3K.self, tile, end, act, y + r, count)
                case (10, true): vector(Q2K.self, tile, end, act, y + r, count)
                case (23, true): vector(IQ4XS.self, tile, end, act, y + r, count)
                case (12, false): small(Q4K.self, tile, end, act, y + r, ldy, count)
                case (13, false): small(Q5K.self, tile, end, act, y + r, ldy, count)
                case (14, false): small(Q6K.self, tile, end, act, y + r, ldy, count)
                case (11, false): small(Q3K.self, tile, end, act, y + r, ldy, count)
                case (10, false): small(Q2K.self, tile, end, act, y + r, ldy, count)
                case (23, false): small(IQ4XS.self, tile, end, act, y + r, ldy, count)
                default: preconditionFailure("no packed kernel for type \(typeID)")
                }
                r += 16
            }
            return
        }
        // Blocks of tokens outermost, so their activations stay in L2 while every tile passes
        // (a 512-token prompt's, 786 KB at 1,536 columns, came from L3 once per tile: -14%).
        // A few groups (many sequences): every pass over a half tile asks for its share of the
        // next tile, so memory keeps streaming while the passes after the first multiply from
        // cache (as VNNIKQuantPacked does); else each block's first pass asks ahead.
        let groups = (act.nTokens + groupTokens - 1) / groupTokens
        let share = groups <= TileShare.maxGroups
        var tb = 0
        while tb < act.nTokens {
            let te = min(act.nTokens, tb + blockTokens)
            var r = r0
            while r < r1 {
                let tile = packed + (r / 16) * stride
                for half in 0..<2 where r + 8 * half < r1 {
                    let count = min(8, r1 - r - 8 * half)
                    var t = tb
                    while t < te {
                        let nt = min(groupTokens, te - t)
                        let out = y + t * ldy + r + 8 * half
                        let e = !share && half == 0 && t == tb ? end : nil  // each block's first pass streams the rows
                        let next = share ? TileShare(tile: tile, steps: nsb, stepBytes: bytes, pass: half * groups + t / groupTokens,
                                                     passes: 2 * groups, end: end) : nil
                        if typeID == 12 {
                            halfTile(Q4K.self, tile, half, e, act, t, nt, out, ldy, count, share: next)
                        } else if typeID == 13 {
                            halfTile(Q5K.self, tile, half, e, act, t, nt, out, ldy, count, share: next)
                        } else if typeID == 14 {
                            halfTile(Q6K.self, tile, half, e, act, t, nt, out, ldy, count, share: next)
                        } else if typeID == 11 {
                            halfTile(Q3K.self, tile, half, e, act, t, nt, out, ldy, count, share: next)
                        } else if typeID == 23 {
                            halfTile(IQ4XS.self, tile, half, e, act, t, nt, out, ldy, count, share: next)
                        } else {
                            precondition(typeID == 10, "no packed kernel for type \(typeID)")
                            halfTile(Q2K.self, tile, half, e, act, t, nt, out, ldy, count, share: next)
                        }
                        t += nt
                    }
                }
                r += 16
            }
            tb = te
        }
    }

    /// Asks for the bytes a fixed distance ahead of the super-block being read into L2 (the
    /// first pass over a tile only): the packed tiles of a call are one stream.
    @inline(__always) static func ahead(_ p: UnsafeRawPointer, _ bytes: Int, _ end: UnsafeRawPointer) {
        let q = p + 16384
        if q < end { jeton_prefetch_range_l2(q, min(bytes, end - q)) }
    }

    /// For up to 8 tokens (`vector`, `small`), which read each tile once: part `part` of `parts`
    /// of the `lines` 64-byte lines at p (those before `end`), asked for into L1 (`prefetcht0`) a
    /// few at a time between the block's loads. On Zen 3 the whole next super-block asked for at
    /// once (37-53 `prefetchnta` in a row) left the loads and the compute taking turns: streamed from
    /// memory, spread requests read Q4_K 15% and Q6_K 35% faster, 90-100% of a plain read of the
    /// same bytes; t0, t1 and nta spread alike were within noise of each other (4 KiB ahead).
    /// With `oneToken` (`vector`'s blocks: p is `streamDistance` past the super-block) on Intel (the
    /// into-L2 hint), the lines go into L2 `oneTokenIntoL2` past the super-block and into L1
    /// `JETON_STREAM_NEAR_BYTES` past it, as the AVX-512 kernels' one token (`StreamAhead`):
    /// `JETON_KERNELS=avx2` on Emerald Rapids, Qwen2.5-Coder-1.5B tg128, four alternated rounds, 71-81%
    /// of the probe (median 76%) against 59-77% (71%). Groups of 2-8 tokens keep `streamDistance`
    /// into L1 (2 and 4 tokens with this rule: -13 to +10% a round, noise; 5-8 not measured).
    @inline(__always) static func spread(_ p: UnsafeRawPointer, _ end: UnsafeRawPointer, _ lines: Int, _ part: Int, _ parts: Int,
                                         oneToken: Bool = false) {
        if oneToken && jeton_stream_hint() != 0 {
            let base = p - streamDistance, first = 64 * (lines * part / parts), last = 64 * (lines * (part + 1) / parts)
            var q = base + oneTokenIntoL2 + first
            let stop = min(base + oneTokenIntoL2 + last, end)
            while q < stop {
                jeton_prefetch_range_l2(q, 64)
                q += 64
            }
            var n = base + Int(JETON_STREAM_NEAR_BYTES) + first
            let nearStop = min(base + Int(JETON_STREAM_NEAR_BYTES) + last, end)
            while n < nearStop {
                jeton_prefetch_range(n, 64)
                n += 64
            }
            return
        }
        var q = p + 64 * (lines * part / parts)
        let stop = min(p + 64 * (lines * (part + 1) / parts), end)
        while q < stop {
            jeton_prefetch_range(q, 64)
            q += 64
        }
    }

    /// How far ahead of the super-block being read `spread` asks for lines into L1 (one token on AMD,
    /// groups of 2-8 everywhere).
    static let streamDistance = 4096
    /// One token's distance into L2 on Intel (`spread`), the AVX-512 kernels' one.
    static var oneTokenIntoL2: Int { Int(JETON_STREAM_ONE_TOKEN_BYTES) }

    @inline(__always) static func load(_ p: UnsafeRawPointer) -> __m256i { _mm256_loadu_si256(p.assumingMemoryBound(to: __m256i.self)) }
    @inline(__always) static func load64(_ p: UnsafeRawPointer) -> __m128i { _mm_loadl_epi64(p.assumingMemoryBound(to: __m128i.self)) }
    @inline(__always) static func load128(_ p: UnsafeRawPointer) -> __m128i { _mm_loadu_si128(p.assumingMemoryBound(to: __m128i.self)) }

    /// The f16 halves (low or high 16 bits) of the 8 dwords at `p`, as floats.
    @inline(__always) static func halfs(_ p: UnsafeRawPointer, high: Bool) -> __m256 {
        let lo = load128(p), hi = load128(p + 16), low16 = _mm_set1_epi32(0xFFFF)
        return high ? _mm256_cvtph_ps(_mm_packus_epi32(_mm_srli_epi32(lo, 16), _mm_srli_epi32(hi, 16)))
                    : _mm256_cvtph_ps(_mm_packus_epi32(_mm_and_si128(lo, low16), _mm_and_si128(hi, low16)))
    }

    /// Token k's 8 row results (k < nt) to y + k·ldy, the first `count` lanes.
    @inline(__always) static func storeTokens(_ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ nt: Int, _ count: Int, _ c: Sums) {
        store(y, c.0, count)
        if nt > 1 { store(y + ldy, c.1, count) }
        if nt > 2 { store(y + 2 * ldy, c.2, count) }
        if nt > 3 { store(y + 3 * ldy, c.3, count) }
        if nt > 4 { store(y + 4 * ldy, c.4, count) }
        if nt > 5 { store(y + 5 * ldy, c.5, count) }
        if nt > 6 { store(y + 6 * ldy, c.6, count) }
        if nt > 7 { store(y + 7 * ldy, c.7, count) }
    }

    /// `body(k, &i_k)` for k in 0..<nt (nt ≤ 8), each accumulator a literal variable.
    @inline(__always) static func eachToken(_ nt: Int, _ i: inout (__m256i, __m256i, __m256i, __m256i, __m256i, __m256i, __m256i, __m256i),
                                            _ body: (Int, inout __m256i) -> Void) {
        body(0, &i.0)
        if nt > 1 { body(1, &i.1) }
        if nt > 2 { body(2, &i.2) }
        if nt > 3 { body(3, &i.3) }
        if nt > 4 { body(4, &i.4) }
        if nt > 5 { body(5, &i.5) }
        if nt > 6 { body(6, &i.6) }
        if nt > 7 { body(7, &i.7) }
    }

    /// `body(k, i_k, &c_k)` for k in 0..<nt.
    @inline(__always) static func eachSum(_ nt: Int, _ i: (__m256i, __m256i, __m256i, __m256i, __m256i, __m256i, __m256i, __m256i),
                                          _ c: inout Sums, _ body: (Int, __m256i, inout __m256) -> Void) {
        body(0, i.0, &c.0)
        if nt > 1 { body(1, i.1, &c.1) }
        if nt > 2 { body(2, i.2, &c.2) }
        if nt > 3 { body(3, i.3, &c.3) }
        if nt > 4 { body(4, i.4, &c.4) }
        if nt > 5 { body(5, i.5, &c.5) }
        if nt > 6 { body(6, i.6, &c.6) }
        if nt > 7 { body(7, i.7, &c.7) }
    }

    @inline(__always) static func store(_ y: UnsafeMutablePointer<Float>, _ c: __m256, _ count: Int) {
        if count == 8 {
            _mm256_storeu_ps(y, c)
        } else {
            _mm256_maskstore_ps(y, _mm256_cmpgt_epi32(_mm256_set1_epi32(Int32(count)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)), c)
        }
    }

    /// A format's super-block step: its products for rows 8·half..<8·half+8 against tokens
    /// t0..<t0+nt (nt ≤ 8), added to the sums. A generic parameter rather than a closure, so
    /// each driver is specialized with the step inlined (a closure cost 15% on one token).
    protocol Block {
        static var bytes: Int { get }
        /// `ahead` (the one-stream paths): a part of the super-block `streamDistance` ahead is
        /// asked for per unit, half 0 then half 1 taking the parts in turn.
        static func block(_ base: UnsafeRawPointer, _ half: Int, _ act: Q8KActivationsView, _ t0: Int, _ nt: Int, _ s: Int,
                          _ c: inout Sums, _ ahead: UnsafeRawPointer?, _ end: UnsafeRawPointer)
        /// Super-block s of all 16 rows against one token: rows 0..<8 to c, 8..<16 to d.
        static func vectorBlock(_ base: UnsafeRawPointer, _ act: Q8KActivationsView, _ s: Int, _ c: inout __m256, _ d: inout __m256,
                                _ ahead: UnsafeRawPointer, _ end: UnsafeRawPointer)
    }
    /// Q4_K's tile, or Q5_K's (Q4_K's for the low four bits, its fifth bits after it): a type,
    /// so each kernel is its own specialization with no test per unit.
    protocol Tile4: Block { static var fifthBits: Bool { get } }
    enum Q4K: Tile4 {
        static var fifthBits: Bool { false }
        static var bytes: Int { q4kTileBytes }
    }
    enum Q5K: Tile4 {
        static var fifthBits: Bool { true }
        static var bytes: Int { q5kTileBytes }
    }
    enum Q6K: Block {
        static var bytes: Int { q6kTileBytes }
        @inline(__always) static func block(_ base: UnsafeRawPointer, _ half: Int, _ act: Q8KActivationsView, _ t0: Int, _ nt: Int,
                                            _ s: Int, _ c: inout Sums, _ ahead: UnsafeRawPointer?, _ end: UnsafeRawPointer) {
            q6kBlock(base, half, act, t0, nt, s, &c, ahead, end)
        }
        @inline(__always) static func vectorBlock(_ base: UnsafeRawPointer, _ act: Q8KActivationsView, _ s: Int,
                                                  _ c: inout __m256, _ d: inout __m256, _ ahead: UnsafeRawPointer,
                                                  _ end: UnsafeRawPointer) { q6kVectorBlock(base, act, s, &c, &d, ahead, end) }
    }
}

/// Q4_K's and Q5_K's steps: one kernel, specialized by the tile type.
extension AVX2KQuantPacked.Tile4 {
    @inline(__always) static func block(_ base: UnsafeRawPointer, _ half: Int, _ act: Q8KActivationsView, _ t0: Int, _ nt: Int,
                                        _ s: Int, _ c: inout AVX2KQuantPacked.Sums, _ ahead: UnsafeRawPointer?, _ end: UnsafeRawPointer) {
        AVX2KQuantPacked.q4kBlock(Self.self, base, half, act, t0, nt, s, &c, ahead, end)
    }
    @inline(__always) static func vectorBlock(_ base: UnsafeRawPointer, _ act: Q8KActivationsView, _ s: Int, _ c: inout __m256,
                                              _ d: inout __m256, _ ahead: UnsafeRawPointer, _ end: UnsafeRawPointer) {
        AVX2KQuantPacked.q4kVectorBlock(Self.self, base, act, s, &c, &d, ahead, end)
    }
}

extension AVX2KQuantPacked {
    /// Rows 8·half..<8·half+8 of a tile against tokens t0..<t0+nt.
    static func halfTile<B: Block>(_ format: B.Type, _ tile: UnsafeRawPointer, _ half: Int, _ end: UnsafeRawPointer?,
                                   _ act: Q8KActivationsView, _ t0: Int, _ nt: Int, _ y: UnsafeMutablePointer<Float>,
                                   _ ldy: Int, _ count: Int,
                                   share: TileShare? = nil) {
        let bytes = B.bytes
        var c = zeroSums
        @inline(__always) func pass(_ n: Int) {
            for s in 0..<act.superBlocks {
                let base = tile + s * bytes
                if let end { ahead(base, bytes, end) }
                share?.ask(step: s)
                B.block(base, half, act, t0, n, s, &c, nil, tile)  // the asking is done above
            }
        }
        // A literal count for a full group (a prompt's every group but the last): the per-token
        // tests fold away, and the 8 sums stay in registers rather than being spilled between them.
        if nt == groupTokens { pass(8) } else { pass(nt) }
        storeTokens(y, ldy, nt, count, c)
    }

    /// One token against all 16 rows of a tile, both halves per super-block: each 64-byte line
    /// is used whole as it arrives, where a pass per half read every line in the first pass and
    /// none in the second (the memory then idled for half of the compute).
    static func vector<B: Block>(_ format: B.Type, _ tile: UnsafeRawPointer, _ end: UnsafeRawPointer, _ act: Q8KActivationsView,
                                 _ y: UnsafeMutablePointer<Float>, _ count: Int) {
        let bytes = B.bytes
        var c = _mm256_setzero_ps(), d = c
        for s in 0..<act.superBlocks {
            let base = tile + s * bytes
            B.vectorBlock(base, act, s, &c, &d, base + streamDistance, end)
        }
        store(y, c, min(8, count))
        if count > 8 { store(y + 8, d, count - 8) }
    }

    /// A few tokens (a speculative step's verification, a few sequences) against all 16 rows of
    /// a tile, both halves per super-block with the one-token stream's prefetch: 2 tokens took
    /// 1.12× (Q4_K) and 1.07× (Q6_K) the time of one, where a pass per half (memory idle in the
    /// second, the first asking for the L2 burst ahead) took 1.31× and 1.54×.
    static func small<B: Block>(_ format: B.Type, _ tile: UnsafeRawPointer, _ end: UnsafeRawPointer, _ act: Q8KActivationsView,
                                _ y: UnsafeMutablePointer<Float>, _ ldy: Int, _ count: Int) {
        let bytes = B.bytes, nt = act.nTokens
        var both = (zeroSums, zeroSums)
        withUnsafeMutablePointer(to: &both) { $0.withMemoryRebound(to: Sums.self, capacity: 2) { sums in
            for s in 0..<act.superBlocks {
                let base = tile + s * bytes
                // One call site for the step (two were left as calls), each half's sums in turn.
                for half in 0..<2 { B.block(base, half, act, 0, nt, s, &sums[half], base + streamDistance, end) }
            }
            storeTokens(y, ldy, nt, min(8, count), sums[0])
            if count > 8 { storeTokens(y + 8, ldy, nt, count - 8, sums[1]) }
        } }
    }

    /// The fifth bits of unit u's elements in nibble vector v (v < 4: low nibbles, else high) of
    /// a Q5_K tile's half h32, moved to bit 4 (16-bit shifts of at most 4: the mask keeps each
    /// byte's own bit).
    @inline(__always) static func fifth(_ base: UnsafeRawPointer, _ u: Int, _ v: Int, _ h32: Int) -> __m256i {
        let f = load(base + q4kTileBytes + 64 * v + h32)
        return _mm256_and_si256(u < 4 ? _mm256_slli_epi16(f, Int32(4 - u)) : _mm256_srli_epi16(f, Int32(u - 4)), _mm256_set1_epi8(0x10))
    }

    /// Super-block s of all 16 rows of a Q4_K (or Q5_K) tile against one token, rows 0..<8 added
    /// to c and 8..<16 to d. Both halves share the activations' broadcasts. Q4_K sums a unit's
    /// low and high nibbles in int16 before its scale (16 products per sum, |Σ| ≤ 16 · 15 · 128
    /// fits); Q5_K's 5-bit weights apply the scale to each 8-product sum (|Σ| ≤ 8 · 31 · 128).
    @inline(__always)
    static func q4kVectorBlock<T: Tile4>(_: T.Type, _ base: UnsafeRawPointer, _ act: Q8KActivationsView, _ s: Int,
                                         _ c: inout __m256, _ d: inout __m256, _ ahead: UnsafeRawPointer, _ end: UnsafeRawPointer) {
        let nibbles = _mm256_set1_epi8(0x0F)
        var i0 = _mm256_setzero_si256(), i1 = i0
        let a = UnsafeRawPointer(act.qs + s * 256)
        for u in 0..<8 {
            let q = base + 256 * u, au = a + 32 * u
            spread(ahead, end, T.bytes / 64, u, 8, oneToken: true)
            @inline(__always) func bc(_ o: Int) -> __m256i { _mm256_set1_epi32(au.loadUnaligned(fromByteOffset: o, as: Int32.self)) }
            @inline(__always) func w(_ x: __m256i, _ v: Int, _ h32: Int) -> __m256i {
                let n = _mm256_and_si256(v < 4 ? x : _mm256_srli_epi16(x, 4), nibbles)
                return T.fifthBits ? _mm256_or_si256(n, fifth(base, u, v, h32)) : n
            }
            var l0 = _mm256_setzero_si256(), l1 = l0, h0 = l0, h1 = l0
            for v in 0..<4 {
                let lo = bc(4 * v), hi = bc(16 + 4 * v)
                let x0 = load(q + 64 * v), x1 = load(q + 64 * v + 32)
                let p0 = _mm256_maddubs_epi16(w(x0, v, 0), lo), q0 = _mm256_maddubs_epi16(w(x0, 4 + v, 0), hi)
                let p1 = _mm256_maddubs_epi16(w(x1, v, 32), lo), q1 = _mm256_maddubs_epi16(w(x1, 4 + v, 32), hi)
                if T.fifthBits {
                    (l0, h0) = (_mm256_add_epi16(l0, p0), _mm256_add_epi16(h0, q0))
                    (l1, h1) = (_mm256_add_epi16(l1, p1), _mm256_add_epi16(h1, q1))
                } else {
                    l0 = _mm256_add_epi16(l0, _mm256_add_epi16(p0, q0))
                    l1 = _mm256_add_epi16(l1, _mm256_add_epi16(p1, q1))
                }
            }
            // The unit's 6-bit scale of each row in both int16 halves of its lane (rows 0..<8, then 8..<16).
            let s0 = _mm256_cvtepu8_epi32(load64(base + 2048 + 16 * u)), s1 = _mm256_cvtepu8_epi32(load64(base + 2056 + 16 * u))
            let sc0 = _mm256_or_si256(s0, _mm256_slli_epi32(s0, 16)), sc1 = _mm256_or_si256(s1, _mm256_slli_epi32(s1, 16))
            if T.fifthBits {
                i0 = _mm256_add_epi32(i0, _mm256_add_epi32(_mm256_madd_epi16(l0, sc0), _mm256_madd_epi16(h0, sc0)))
                i1 = _mm256_add_epi32(i1, _mm256_add_epi32(_mm256_madd_epi16(l1, sc1), _mm256_madd_epi16(h1, sc1)))
            } else {
                i0 = _mm256_add_epi32(i0, _mm256_madd_epi16(l0, sc0))
                i1 = _mm256_add_epi32(i1, _mm256_madd_epi16(l1, sc1))
            }
        }
        let da = _mm256_set1_ps(act.d[s])
        // The mins: dword k of the token's pair sums against each row's mins of units 2k, 2k+1.
        let ps = UnsafeRawPointer(act.pairSums + 4 * s)
        @inline(__always) func finish(_ half: Int, _ isum: __m256i, _ c: inout __m256) {
            @inline(__always) func mins(_ k: Int) -> __m256i {
                _mm256_madd_epi16(_mm256_cvtepu8_epi16(load128(base + 2176 + 32 * k + 16 * half)),
                                  _mm256_set1_epi32(ps.load(fromByteOffset: 4 * k, as: Int32.self)))
            }
            let p = _mm256_add_epi32(_mm256_add_epi32(mins(0), mins(1)), _mm256_add_epi32(mins(2), mins(3)))
            let dw = halfs(base + 2304 + 32 * half, high: false), dmw = halfs(base + 2304 + 32 * half, high: true)
            c = _mm256_fmadd_ps(_mm256_mul_ps(dw, da), _mm256_cvtepi32_ps(isum), c)
            c = _mm256_fnmadd_ps(_mm256_mul_ps(dmw, da), _mm256_cvtepi32_ps(p), c)
        }
        finish(0, i0, &c)
        finish(1, i1, &d)
    }

    /// Super-block s of rows 8·half..<8·half+8 of a Q4_K (or Q5_K) tile against tokens
    /// t0..<t0+nt, added to c.
    @inline(__always)
    static func q4kBlock<T: Tile4>(_: T.Type, _ base: UnsafeRawPointer, _ half: Int, _ act: Q8KActivationsView, _ t0: Int,
                                   _ nt: Int, _ s: Int, _ c: inout Sums, _ ahead: UnsafeRawPointer?, _ end: UnsafeRawPointer) {
        let nsb = act.superBlocks, h32 = 32 * half
        let nibbles = _mm256_set1_epi8(0x0F)
        let z = _mm256_setzero_si256()
        var i = (z, z, z, z, z, z, z, z)
        // Elements 0..<16 of each unit (low nibbles), then in a second loop 16..<32 (high
        // nibbles, bytes 16..<32 of the unit's activations): four weight vectors at a time, so
        // 8 tokens' sums stay in registers (in one loop the compiler kept the loaded bytes for
        // the high nibbles and spilled the sums). 4 vectors summed: 8 products per int16 lane,
        // |Σ| ≤ 8 · 15 · 128 (Q4_K), 8 · 31 · 128 (Q5_K, its fifth bits or'd in) fit.
        @inline(__always) func part(_ u: Int, _ high: Bool) {
            let q = base + 256 * u + h32
            if let ahead { spread(ahead, end, T.bytes / 64, 16 * half + (high ? 8 : 0) + u, 32) }
            // The unit's 6-bit scale of each row in both int16 halves of its lane.
            let s8 = _mm256_cvtepu8_epi32(load64(base + 2048 + 16 * u + 8 * half))
            let sc = _mm256_or_si256(s8, _mm256_slli_epi32(s8, 16))
            @inline(__always) func w(_ v: Int) -> __m256i {
                let x = load(q + 64 * v)
                let n = _mm256_and_si256(high ? _mm256_srli_epi16(x, 4) : x, nibbles)
                return T.fifthBits ? _mm256_or_si256(n, fifth(base, u, high ? 4 + v : v, h32)) : n
            }
            let w0 = w(0), w1 = w(1), w2 = w(2), w3 = w(3)
            eachToken(nt, &i) { k, acc in
                let a = UnsafeRawPointer(act.qs + ((t0 + k) * nsb + s) * 256 + 32 * u + (high ? 16 : 0))
                @inline(__always) func bc(_ j: Int) -> __m256i { _mm256_set1_epi32(a.loadUnaligned(fromByteOffset: 4 * j, as: Int32.self)) }
                let sum = _mm256_add_epi16(_mm256_add_epi16(_mm256_maddubs_epi16(w0, bc(0)), _mm256_maddubs_epi16(w1, bc(1))),
                                           _mm256_add_epi16(_mm256_maddubs_epi16(w2, bc(2)), _mm256_maddubs_epi16(w3, bc(3))))
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(sum, sc))
            }
        }
        for u in 0..<8 { part(u, false) }
        for u in 0..<8 { part(u, true) }
        let dw = halfs(base + 2304 + h32, high: false), dmw = halfs(base + 2304 + h32, high: true)
        @inline(__always) func pairs(_ k: Int) -> __m256i { _mm256_cvtepu8_epi16(load128(base + 2176 + 32 * k + 16 * half)) }
        let p0 = pairs(0), p1 = pairs(1), p2 = pairs(2), p3 = pairs(3)
        @inline(__always) func finish(_ k: Int, _ isum: __m256i, _ c: inout __m256) {
            // Dword j: Σq of elements 64j..<64j+32 | of 64j+32..<64j+64 << 16, as the mins of units 2j, 2j+1 meet them.
            let ps = UnsafeRawPointer(act.pairSums + ((t0 + k) * nsb + s) * 4)
            @inline(__always) func pairSums(_ j: Int) -> __m256i { _mm256_set1_epi32(ps.load(fromByteOffset: 4 * j, as: Int32.self)) }
            let p = _mm256_add_epi32(_mm256_add_epi32(_mm256_madd_epi16(p0, pairSums(0)), _mm256_madd_epi16(p1, pairSums(1))),
                                     _mm256_add_epi32(_mm256_madd_epi16(p2, pairSums(2)), _mm256_madd_epi16(p3, pairSums(3))))
            let da = _mm256_set1_ps(act.d[(t0 + k) * nsb + s])
            c = _mm256_fmadd_ps(_mm256_mul_ps(dw, da), _mm256_cvtepi32_ps(isum), c)
            c = _mm256_fnmadd_ps(_mm256_mul_ps(dmw, da), _mm256_cvtepi32_ps(p), c)
        }
        eachSum(nt, i, &c, finish)
    }
}
#endif
