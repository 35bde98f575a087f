import Kernels

/// The gated feed-forward's nonlinearity: gate ← act(gate) · up, over [nTokens, ffnDim].
public enum FeedForwardActivation: String, Sendable {
    case silu       // SwiGLU: llama, qwen2
    case geluTanh   // GeGLU with the tanh approximation of GELU: Gemma (gelu_pytorch_tanh)

    public func apply(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, _ n: Int) {
        switch self {
        case .silu: VectorOps.swiglu(gate, up, n)
        case .geluTanh: Self.geglu(gate, up, n)
        }
    }

    /// gate[i] = gelu(gate[i]) · up[i], gelu(x) = ½x(1 + tanh(√(2/π)(x + 0.044715x³)))
    /// written as x·σ(2u) = x / (1 + e^(−2u)), which needs one exponential.
    static func geglu(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, _ n: Int) {
        let c: Float = 2 * 0.797_884_56  // 2·√(2/π)
        let rg = UnsafeMutableRawPointer(gate), ru = UnsafeRawPointer(up)
        var i = 0
        while i + 8 <= n {
            let x = rg.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            let u = c * x * (1 + 0.044_715 * x * x)
            let g = x / (1 + VectorOps.exp8(-u))
            rg.storeBytes(of: g * ru.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self),
                          toByteOffset: 4 * i, as: SIMD8<Float>.self)
            i += 8
        }
        while i < n {
            let x = gate[i]
            let u = c * x * (1 + 0.044_715 * x * x)
            gate[i] = x / (1 + expf(-u)) * up[i]
            i += 1
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
