import Kernels

/// What differs between the supported families (`general.architecture`). The
/// forward pass is one llama-shaped pass; these traits switch its optional steps.
///
/// - llama: pre-norm, SwiGLU, RoPE on adjacent pairs (the converter permutes Q/K).
/// - qwen2: llama plus biases on Q, K and V, NeoX RoPE.
/// - gemma3: embeddings scaled by √dim, RMSNorm after attention and after the
///   feed-forward too (before each residual add), RMSNorm of each Q and K head,
///   GELU-gated feed-forward, NeoX RoPE, sliding-window layers with their own RoPE
///   base between global ones. Its GGUF norm weights already include Gemma's "+1"
///   (llama.cpp's converter adds it), so plain RMSNorm applies.
public enum ModelArchitecture: String, Sendable, CaseIterable {
    case llama
    case qwen2
    case gemma3

    public var ropeLayout: Rope.Layout {
        switch self {
        case .llama: return .normal
        case .qwen2, .gemma3: return .neox
        }
    }

    public var activation: FeedForwardActivation {
        self == .gemma3 ? .geluTanh : .silu
    }

    /// Multiply token embeddings by √dim before the first layer.
    public var scalesEmbedding: Bool { self == .gemma3 }

    /// attn_q_norm / attn_k_norm (per head), post_attention_norm and post_ffw_norm.
    public var hasQKNormAndPostNorms: Bool { self == .gemma3 }

    /// Q, K and V biases must be present (other families may still carry them).
    public var requiresQKVBiases: Bool { self == .qwen2 }

    /// Every `slidingWindowPattern`-th layer is global, the others slide
    /// (llama.cpp's `set_swa_pattern(6)` for Gemma 3); nil: no sliding layers.
    public var slidingWindowPattern: Int? { self == .gemma3 ? 6 : nil }

    /// RoPE base of the sliding layers when the file does not give one.
    public var defaultLocalRopeBase: Float { 10_000 }

    public static var supportedNames: String { allCases.map(\.rawValue).joined(separator: ", ") }
}
