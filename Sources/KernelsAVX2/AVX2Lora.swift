/// A LoRA update's two small products on AVX2 with FMA (this module is built for haswell):
/// A·x with four of A's rows against one pass over x, and B·t as one pass over y for all
/// of B's columns, instead of `rank` dot products and `rank` axpys over y. Each token's
/// arithmetic is its own, so a row's result never depends on the batch it is in.
public enum AVX2Lora {
    /// t[k] = A[k]·x for k in 0..<n; A's rows are `cols` floats apart.
    public static func dots(_ a: UnsafePointer<Float>, rows n: Int, cols: Int, x: UnsafePointer<Float>,
                            into t: UnsafeMutablePointer<Float>) {
        let rx = UnsafeRawPointer(x)
        @inline(__always) func load(_ p: UnsafePointer<Float>, _ i: Int) -> SIMD8<Float> {
            UnsafeRawPointer(p).loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
        }
        var k = 0
        while k + 4 <= n {
            let a0 = a + k * cols, a1 = a0 + cols, a2 = a1 + cols, a3 = a2 + cols
            var s0 = SIMD8<Float>(), s1 = s0, s2 = s0, s3 = s0
            var i = 0
            while i + 8 <= cols {
                let xv = rx.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
                s0.addProduct(load(a0, i), xv); s1.addProduct(load(a1, i), xv)
                s2.addProduct(load(a2, i), xv); s3.addProduct(load(a3, i), xv)
                i += 8
            }
            var r0 = s0.sum(), r1 = s1.sum(), r2 = s2.sum(), r3 = s3.sum()
            while i < cols {
                r0 += a0[i] * x[i]; r1 += a1[i] * x[i]; r2 += a2[i] * x[i]; r3 += a3[i] * x[i]
                i += 1
            }
            t[k] = r0; t[k + 1] = r1; t[k + 2] = r2; t[k + 3] = r3
            k += 4
        }
        while k < n {
            let ak = a + k * cols
            var s = SIMD8<Float>()
            var i = 0
            while i + 8 <= cols {
                s.addProduct(load(ak, i), rx.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self))
                i += 8
            }
            var r = s.sum()
            while i < cols { r += ak[i] * x[i]; i += 1 }
            t[k] = r
            k += 1
        }
    }

    /// y[j] += Σ_k t[k] · b[k·rows + j] for j in 0..<rows: one read and write of y.
    public static func addCombination(_ t: UnsafePointer<Float>, count n: Int, of b: UnsafePointer<Float>, rows: Int,
                                      into y: UnsafeMutablePointer<Float>) {
        let ry = UnsafeMutableRawPointer(y), rb = UnsafeRawPointer(b)
        var j = 0
        while j + 16 <= rows {
            var v0 = ry.loadUnaligned(fromByteOffset: 4 * j, as: SIMD8<Float>.self)
            var v1 = ry.loadUnaligned(fromByteOffset: 4 * j + 32, as: SIMD8<Float>.self)
            for k in 0..<n {
                let c = SIMD8<Float>(repeating: t[k]), off = 4 * (k * rows + j)
                v0.addProduct(c, rb.loadUnaligned(fromByteOffset: off, as: SIMD8<Float>.self))
                v1.addProduct(c, rb.loadUnaligned(fromByteOffset: off + 32, as: SIMD8<Float>.self))
            }
            ry.storeBytes(of: v0, toByteOffset: 4 * j, as: SIMD8<Float>.self)
            ry.storeBytes(of: v1, toByteOffset: 4 * j + 32, as: SIMD8<Float>.self)
            j += 16
        }
        while j < rows {
            var v = y[j]
            for k in 0..<n { v += t[k] * b[k * rows + j] }
            y[j] = v
            j += 1
        }
    }
}
