#if arch(x86_64)
import KernelsAVX512
import KernelsAVX2
#endif

/// Elementwise and reduction kernels on float vectors. Lengths used by the models
/// are multiples of 8 for the vector loops; tails are handled anyway.
public enum VectorOps {
    /// Σ a[i]·b[i] over n elements.
    @inline(__always)
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        var i = 0
        while i + 16 <= n {
            acc0 += ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                * rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            acc1 += ra.loadUnaligned(fromByteOffset: i * 4 + 32, as: SIMD8<Float>.self)
                * rb.loadUnaligned(fromByteOffset: i * 4 + 32, as: SIMD8<Float>.self)
            i += 16
        }
        var s = (acc0 + acc1).sum()
        while i < n { s += a[i] * b[i]; i += 1 }
        return s
    }

    /// y[i] += a · x[i]
    @inline(__always)
    public static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        let va = SIMD8<Float>(repeating: a)
        let rx = UnsafeRawPointer(x), ry = UnsafeMutableRawPointer(y)
        var i = 0
        while i + 8 <= n {
            let v = ry.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
                + va * rx.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            ry.storeBytes(of: v, toByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n { y[i] += a * x[i]; i += 1 }
    }

    /// out = x / rms(x) · weight, rms over n elements with epsilon.
    public static func rmsNorm(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                               _ n: Int, eps: Float) {
        let ss = dot(x, x, n)
        let scale = 1 / (ss / Float(n) + eps).squareRoot()
        let vs = SIMD8<Float>(repeating: scale)
        let rx = UnsafeRawPointer(x), rw = UnsafeRawPointer(weight), ro = UnsafeMutableRawPointer(out)
        var i = 0
        while i + 8 <= n {
            let v = rx.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) * vs
                * rw.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            ro.storeBytes(of: v, toByteOffset: 4 * i, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n { out[i] = x[i] * scale * weight[i]; i += 1 }
    }

    /// In-place softmax over n elements; returns nothing, subtracts the max for stability.
    public static func softmax(_ x: UnsafeMutablePointer<Float>, _ n: Int) {
        guard n > 0 else { return }
        var m = x[0]
        for i in 1..<n where x[i] > m { m = x[i] }
        var sum: Float = 0
        let rx = UnsafeMutableRawPointer(x), vm = SIMD8<Float>(repeating: m)
        var i = 0
        while i + 8 <= n {
            let e = exp8(rx.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) - vm)
            rx.storeBytes(of: e, toByteOffset: 4 * i, as: SIMD8<Float>.self)
            sum += e.sum()
            i += 8
        }
        while i < n { let e = expf(x[i] - m); x[i] = e; sum += e; i += 1 }
        let inv = 1 / sum
        for i in 0..<n { x[i] *= inv }
    }

    /// gate[i] = silu(gate[i]) · up[i]   (SwiGLU)
    public static func swiglu(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, _ n: Int) {
        var i = 0
        #if arch(x86_64)
        // With the matmul backend, so JETON_KERNELS=avx2 runs what an AVX2-only CPU would (same bits).
        if CPUFeatures.hasAVX512VNNI && MatMul.defaultBackend == .avx512 {
            i = n / 16 * 16
            AVX512Activation.swiglu(gate, up, i)
        } else if CPUFeatures.hasAVX2 && MatMul.defaultBackend == .avx2 {
            i = n / 8 * 8
            AVX2Activation.swiglu(gate, up, i)
        }
        #endif
        let rg = UnsafeMutableRawPointer(gate), ru = UnsafeRawPointer(up)
        while i + 8 <= n {
            let g = rg.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            let v = g / (1 + exp8(-g)) * ru.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            rg.storeBytes(of: v, toByteOffset: 4 * i, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n {
            let g = gate[i]
            gate[i] = g / (1 + expf(-g)) * up[i]
            i += 1
        }
    }

    /// e^x lane by lane, relative error ≈ 2e-7 (Cephes expf): x = n·ln2 + r, |r| ≤ ln2/2,
    /// e^r by a degree-5 polynomial, 2^n through the exponent bits. `AVX2Activation.exp8` and
    /// `AVX512Activation` repeat these steps in their modules (each compiled for its ISA; a call
    /// across modules is not inlined): change all three together, ActivationTests compare bits.
    @inline(__always)
    public static func exp8(_ v: SIMD8<Float>) -> SIMD8<Float> {
        // (replacing rather than clamped: clamped's pointwiseMin/Max calls were not inlined)
        let lo = SIMD8<Float>(repeating: -87.3), hi = SIMD8<Float>(repeating: 88.3)
        let x = v.replacing(with: lo, where: v .< lo).replacing(with: hi, where: v .> hi)
        // Rounding by adding 1.5·2²³ (no SSE4.1 roundps needed).
        let magic = SIMD8<Float>(repeating: 12_582_912)
        let t = x * 1.442_695_04 + magic
        let n = t - magic
        let ni = unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000  // n as an integer
        var r = x - n * 0.693_359_375
        r = r - n * -2.121_944_4e-4
        var p = SIMD8<Float>(repeating: 1.987_569_1e-4)
        p = p * r + 1.398_199_9e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_6e-2
        p = p * r + 1.666_666_5e-1
        p = p * r + 5.000_000_1e-1
        let er = p * (r * r) + r + 1
        let bits = (ni &+ 127) &<< 23
        return er * unsafeBitCast(bits, to: SIMD8<Float>.self)
    }

    /// y[i] += x[i]
    public static func add(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, _ n: Int) {
        axpy(1, x, y, n)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
