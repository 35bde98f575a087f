import KernelsAVX2

/// The packed K-quant layout of `VNNIKQuantPacked` written in plain Swift, element by
/// element from the ggml block definitions: for CPUs without AVX-512 (the AVX2 kernel
/// reads the same layout, 8 of a tile's 16 rows per half vector), as an independent check of the
/// vector packer (tests compare the bytes), and the only packer of Q2_K's, Q3_K's and IQ4_XS's tiles.
enum KQuantPacker {
    static func packedBytes(typeID: UInt32, rows: Int, superBlocks: Int) -> Int {
        KQuantTile.packedBytes(typeID: typeID, rows: rows, superBlocks: superBlocks)
    }

    /// Packs tiles `tiles` of the matrix (typeID 10 = Q2_K, 11 = Q3_K, 12 = Q4_K, 13 = Q5_K, 14 = Q6_K or 23 = IQ4_XS) into `out`, which holds
    /// the whole packed matrix (zeroed padding included).
    static func pack(typeID: UInt32, w: UnsafeRawPointer, rowBytes: Int, rows: Int, superBlocks nsb: Int,
                     tiles: Range<Int>, out: UnsafeMutableRawPointer) {
        let bytes = KQuantTile.bytes(typeID)
        (out + tiles.lowerBound * nsb * bytes).initializeMemory(as: UInt8.self, repeating: 0, count: tiles.count * nsb * bytes)
        let o = out.assumingMemoryBound(to: UInt8.self)
        var q = [UInt8](repeating: 0, count: 256)
        for t in tiles {
            for r in 0..<16 {
                let row = w + min(16 * t + r, rows - 1) * rowBytes
                for s in 0..<nsb {
                    let base = o + (t * nsb + s) * bytes
                    if typeID == 12 {
                        q4k(row + s * 144, r, base, &q)
                    } else if typeID == 13 {
                        q5k(row + s * 176, r, base, &q)
                    } else if typeID == 11 {
                        q3k(row + s * 110, r, base)
                    } else if typeID == 10 {
                        q2k(row + s * 84, r, base)
                    } else if typeID == 23 {
                        iq4xs(row + s * 136, r, base)
                    } else {
                        q6k(row + s * 210, r, base, &q)
                    }
                }
            }
        }
    }

    /// Row r's super-block `b` (144 bytes: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins, 128 of nibbles).
    static func q4k(_ b: UnsafeRawPointer, _ r: Int, _ o: UnsafeMutablePointer<UInt8>, _ q: inout [UInt8]) {
        let qs = b + 16
        @inline(__always) func byte(_ p: UnsafeRawPointer, _ i: Int) -> UInt8 { p.load(fromByteOffset: i, as: UInt8.self) }
        for c in 0..<4 {
            for l in 0..<32 {
                let v = byte(qs, 32 * c + l)
                q[64 * c + l] = v & 15
                q[64 * c + 32 + l] = v >> 4
            }
        }
        units(b, r, o, q)
    }

    /// Row r's Q5_K super-block `b` (176 bytes: Q4_K's first 16, 32 bytes of fifth bits — bit u of
    /// byte l belongs to element l of unit u — then 128 of nibbles): Q4_K's tile of the low four
    /// bits, then the fifth bits (vector v, bit u: element 4v + k of unit u at byte 4r + k).
    static func q5k(_ b: UnsafeRawPointer, _ r: Int, _ o: UnsafeMutablePointer<UInt8>, _ q: inout [UInt8]) {
        let qh = b + 16, qs = b + 48
        @inline(__always) func byte(_ p: UnsafeRawPointer, _ i: Int) -> UInt8 { p.load(fromByteOffset: i, as: UInt8.self) }
        for u in 0..<8 {
            for l in 0..<32 {
                let v = byte(qs, 32 * (u / 2) + l)
                q[32 * u + l] = (u % 2 == 0 ? v & 15 : v >> 4) | ((byte(qh, l) >> u) & 1) << 4
            }
        }
        units(b, r, o, q)
        for u in 0..<8 {
            for v in 0..<8 {
                for k in 0..<4 { o[KQuantTile.q4K + 64 * v + 4 * r + k] |= (q[32 * u + 4 * v + k] >> 4) << u }
            }
        }
    }

    /// Q4_K's tile bytes of row r (Q5_K's too, from its quants' low four bits): each unit's
    /// scale and min, nibbles, d and dmin, from the super-block `b` and its units' quants `q`.
    static func units(_ b: UnsafeRawPointer, _ r: Int, _ o: UnsafeMutablePointer<UInt8>, _ q: [UInt8]) {
        let sc = b + 4
        @inline(__always) func byte(_ p: UnsafeRawPointer, _ i: Int) -> UInt8 { p.load(fromByteOffset: i, as: UInt8.self) }
        for u in 0..<8 {
            let scale: UInt8, min: UInt8
            if u < 4 {
                scale = byte(sc, u) & 63
                min = byte(sc, u + 4) & 63
            } else {
                scale = (byte(sc, u + 4) & 0xF) | ((byte(sc, u - 4) >> 6) << 4)
                min = (byte(sc, u + 4) >> 4) | ((byte(sc, u) >> 6) << 4)
            }
            o[2048 + 16 * u + r] = scale
            o[2176 + 32 * (u / 2) + 2 * r + u % 2] = min
            for v in 0..<4 {
                for k in 0..<4 {
                    o[(4 * u + v) * 64 + 4 * r + k] = q[32 * u + 4 * v + k] & 15 | (q[32 * u + 16 + 4 * v + k] & 15) << 4
                }
            }
        }
        for i in 0..<4 { o[2304 + 4 * r + i] = byte(b, i) }  // f16 d, f16 dmin as in the file
    }

    /// Row r's super-block `b` (210 bytes: 128 of low nibbles, 64 of top bits, 16 int8 scales, f16 d).
    static func q6k(_ b: UnsafeRawPointer, _ r: Int, _ o: UnsafeMutablePointer<UInt8>, _ q: inout [UInt8]) {
        @inline(__always) func byte(_ i: Int) -> UInt8 { b.load(fromByteOffset: i, as: UInt8.self) }
        for e in 0..<256 {
            let h = e / 128, l = e % 128, quarter = l / 32, j = l % 32
            let lowByte = byte(64 * h + 32 * (quarter % 2) + j)
            let low = quarter < 2 ? lowByte & 15 : lowByte >> 4
            let top = (byte(128 + 32 * h + j) >> (2 * quarter)) & 3
            q[e] = low | top << 4
        }
        for g in 0..<16 {
            o[3072 + 32 * (g / 2) + 2 * r + g % 2] = byte(192 + g)
            for v in 0..<4 {
                for k in 0..<4 {
                    let value = q[16 * g + 4 * v + k]
                    o[KQuantTile.q6KLow(g / 2, v) + 4 * r + k] |= (value & 15) << (4 * (g % 2))
                    o[KQuantTile.q6KTop(g / 4, v) + 4 * r + k] |= (value >> 4) << (2 * (g % 4))
                }
            }
        }
        o[3328 + 2 * r] = byte(208)
        o[3328 + 2 * r + 1] = byte(209)
    }

    /// Row r's Q3_K super-block `b` (110 bytes: 32 of high bits, 64 of 2-bit quants, 12 of 6-bit
    /// scales, f16 d) into the tile of `VNNIKQuantPacked+Q3K.swift`: each element as its value + 4.
    static func q3k(_ b: UnsafeRawPointer, _ r: Int, _ o: UnsafeMutablePointer<UInt8>) {
        for g in 0..<16 {
            o[1536 + 32 * (g / 2) + 2 * r + g % 2] = UInt8(bitPattern: Int8(Dequantize.scaleQ3K(g, b + 96)))
            for v in 0..<4 {
                for k in 0..<4 {
                    let value = UInt8(Dequantize.elementQ3K(16 * g + 4 * v + k, b) + 4)
                    o[(4 * (g / 4) + v) * 64 + 4 * r + k] |= (value & 3) << (2 * (g % 4))
                    o[1024 + (4 * (g / 8) + v) * 64 + 4 * r + k] |= (value >> 2) << (g % 8)
                }
            }
        }
        o[1792 + 2 * r] = b.load(fromByteOffset: 108, as: UInt8.self)
        o[1792 + 2 * r + 1] = b.load(fromByteOffset: 109, as: UInt8.self)
    }

    /// Row r's Q2_K super-block `b` (84 bytes: 16 scale-and-min bytes, 64 of 2-bit quants, f16 d,
    /// f16 dmin) into the tile of `VNNIKQuantPacked+Q2K.swift`.
    static func q2k(_ b: UnsafeRawPointer, _ r: Int, _ o: UnsafeMutablePointer<UInt8>) {
        for g in 0..<16 {
            o[1024 + 32 * (g / 2) + 2 * r + g % 2] = b.load(fromByteOffset: g, as: UInt8.self)
            for v in 0..<4 {
                for k in 0..<4 {
                    let value = UInt8(Dequantize.elementQ2K(16 * g + 4 * v + k, b))
                    o[(4 * (g / 4) + v) * 64 + 4 * r + k] |= value << (2 * (g % 4))
                }
            }
        }
        for i in 0..<4 { o[1280 + 4 * r + i] = b.load(fromByteOffset: 80 + i, as: UInt8.self) }  // f16 d, f16 dmin
    }

    /// Row r's IQ4_XS super-block `b` (136 bytes: f16 d, u16 of the scales' top bits, 4 bytes of their
    /// low nibbles, 128 nibble bytes) into the tile of `VNNIKQuantPacked+IQ4XS.swift`: the nibble bytes
    /// as they are, the scales less 32 as bytes, d.
    static func iq4xs(_ b: UnsafeRawPointer, _ r: Int, _ o: UnsafeMutablePointer<UInt8>) {
        for j in 0..<8 {
            o[2048 + 16 * j + r] = UInt8(bitPattern: Int8(Dequantize.scaleIQ4XS(j, b)))
            for v in 0..<4 {
                for k in 0..<4 { o[(4 * j + v) * 64 + 4 * r + k] = b.load(fromByteOffset: 8 + 16 * j + 4 * v + k, as: UInt8.self) }
            }
        }
        o[2176 + 2 * r] = b.load(fromByteOffset: 0, as: UInt8.self)
        o[2176 + 2 * r + 1] = b.load(fromByteOffset: 1, as: UInt8.self)
    }
}
