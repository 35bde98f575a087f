#if arch(x86_64)
import _Builtin_intrinsics.intel
import KernelsAVX2

/// Packing at load: the tiles `rows` and the group kernels read (the layouts are described with
/// `VNNIKQuantPacked`). Apart from the kernels because it is cold; the kernels stay in one file so a
/// debug build, which compiles file by file, still specializes them for each tile type.
extension VNNIKQuantPacked {
    /// Bytes of the packed copy of a matrix of `rows` rows of `superBlocks` super-blocks.
    public static func packedBytes(typeID: UInt32, rows: Int, superBlocks: Int) -> Int {
        KQuantTile.packedBytes(typeID: typeID, rows: rows, superBlocks: superBlocks)
    }

    /// Repacks tiles `tiles` (tile t: rows 16t..<16t+16; rows past `rows` repeat the last
    /// one) of the matrix at `w` into `out`, which holds the whole packed matrix.
    public static func pack(typeID: UInt32, w: UnsafeRawPointer, rowBytes: Int, rows: Int, superBlocks nsb: Int,
                            tiles: Range<Int>, out: UnsafeMutableRawPointer) {
        precondition(supports(typeID: typeID) && typeID > 11 && typeID != 23, "Q2_K, Q3_K and IQ4_XS tiles come from KQuantPacker")
        let scratch = UnsafeMutablePointer<__m512i>.allocate(capacity: 64 + 16 + 8)
        let rowPointers = UnsafeMutablePointer<UnsafeRawPointer>.allocate(capacity: 16)
        // The rows are copied first: the per-call packers read 16 bytes at a time, past a row's end.
        let copy = UnsafeMutableRawPointer.allocate(byteCount: 16 * rowBytes + 64, alignment: 64)
        defer { scratch.deallocate(); rowPointers.deallocate(); copy.deallocate() }
        let unpacked = scratch, scales = scratch + 64, pairs = scratch + 80
        let bytes = tileBytes(typeID)
        for t in tiles {
            let count = min(16, rows - 16 * t)
            copy.copyMemory(from: w + 16 * t * rowBytes, byteCount: count * rowBytes)
            for i in 0..<16 { rowPointers[i] = UnsafeRawPointer(copy + min(i, count - 1) * rowBytes) }
            for s in 0..<nsb {
                let o = out + (t * nsb + s) * bytes
                var d = _mm512_setzero_ps(), dmin = d
                if typeID == 12 {
                    VNNIKQuantBatch.Q4K.pack(rowPointers, s, unpacked, scales, pairs, &d, &dmin)
                    storeQ4K(o, unpacked, scales, pairs, column0(rowPointers, s * 144))
                } else if typeID == 13 {
                    VNNIKQuantBatch.Q5K.pack(rowPointers, s, unpacked, scales, pairs, &d, &dmin)
                    storeQ4K(o, unpacked, scales, pairs, column0(rowPointers, s * 176))
                    storeFifthBits(o + q4kTileBytes, unpacked)
                } else {
                    VNNIKQuantBatch.Q6K.pack(rowPointers, s, unpacked, scales, pairs, &d, &dmin)
                    storeQ6K(o, unpacked, pairs, column0(rowPointers, s * 210 + 208))
                }
            }
        }
    }

    static func storeQ4K(_ o: UnsafeMutableRawPointer, _ unpacked: UnsafePointer<__m512i>, _ scales: UnsafePointer<__m512i>,
                         _ pairs: UnsafePointer<__m512i>, _ dm: __m512i) {
        let nibbles = _mm512_set1_epi8(0x0F)
        let q = o.bindMemory(to: __m512i.self, capacity: 32)
        for u in 0..<8 {
            for v in 0..<4 {
                let lo = _mm512_and_si512(unpacked[8 * u + v], nibbles)
                let hi = _mm512_and_si512(unpacked[8 * u + v + 4], nibbles)
                _mm512_storeu_si512(q + 4 * u + v, _mm512_or_si512(lo, _mm512_slli_epi16(hi, 4)))
            }
            _mm_storeu_si128((o + 2048 + 16 * u).assumingMemoryBound(to: __m128i.self), _mm512_cvtepi32_epi8(scales[u]))
        }
        for k in 0..<4 {
            _mm256_storeu_si256((o + 2176 + 32 * k).assumingMemoryBound(to: __m256i.self), _mm512_cvtepi16_epi8(pairs[k]))
        }
        _mm512_storeu_si512((o + 2304).assumingMemoryBound(to: __m512i.self), dm)
    }

    /// Q5_K's fifth bits (bit 4 of each unpacked element): vector v, bit u from unit u's unpacked
    /// vector v, whose low four bits `storeQ4K` put in nibble vector v % 4 (v < 4: low nibbles).
    static func storeFifthBits(_ o: UnsafeMutableRawPointer, _ unpacked: UnsafePointer<__m512i>) {
        let one = _mm512_set1_epi8(1)
        for v in 0..<8 {
            var b = _mm512_setzero_si512()
            for u in 0..<8 {
                let bit = _mm512_and_si512(_mm512_srli_epi16(unpacked[8 * u + v], 4), one)
                b = _mm512_or_si512(b, _mm512_slli_epi16(bit, UInt32(u)))  // bit ≤ 1 per byte: no carry across bytes
            }
            _mm512_storeu_si512((o + 64 * v).assumingMemoryBound(to: __m512i.self), b)
        }
    }


    static func storeQ6K(_ o: UnsafeMutableRawPointer, _ unpacked: UnsafePointer<__m512i>, _ pairs: UnsafePointer<__m512i>,
                         _ d: __m512i) {
        let nibbles = _mm512_set1_epi8(0x0F), two = _mm512_set1_epi8(0x03)
        for p in 0..<8 {
            for v in 0..<4 {
                let lo = _mm512_and_si512(unpacked[4 * (2 * p) + v], nibbles)
                let hi = _mm512_and_si512(unpacked[4 * (2 * p + 1) + v], nibbles)
                _mm512_storeu_si512((o + KQuantTile.q6KLow(p, v)).assumingMemoryBound(to: __m512i.self), _mm512_or_si512(lo, _mm512_slli_epi16(hi, 4)))
            }
        }
        for g4 in 0..<4 {
            for v in 0..<4 {
                var b = _mm512_setzero_si512()
                for j in 0..<4 {
                    let top = _mm512_and_si512(_mm512_srli_epi16(unpacked[4 * (4 * g4 + j) + v], 4), two)
                    b = _mm512_or_si512(b, _mm512_slli_epi16(top, UInt32(2 * j)))
                }
                _mm512_storeu_si512((o + KQuantTile.q6KTop(g4, v)).assumingMemoryBound(to: __m512i.self), b)
            }
        }
        for j in 0..<8 {
            _mm256_storeu_si256((o + 3072 + 32 * j).assumingMemoryBound(to: __m256i.self), _mm512_cvtepi16_epi8(pairs[j]))
        }
        _mm256_storeu_si256((o + 3328).assumingMemoryBound(to: __m256i.self), _mm512_cvtepi32_epi16(d))
        _mm256_storeu_si256((o + 3360).assumingMemoryBound(to: __m256i.self), _mm256_setzero_si256())  // padding
    }
}
#endif
