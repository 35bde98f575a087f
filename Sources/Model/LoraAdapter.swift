import Synchronization
import Kernels

/// The weight matrices of a layer a LoRA adapter may change, with their names in GGUF files
/// and in Hugging Face / PEFT checkpoints.
public enum LoraTarget: Int, Sendable, CaseIterable {
    case q, k, v, o, gate, up, down

    public var ggufName: String {
        ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"][rawValue]
    }

    /// The module's path inside a Hugging Face llama-style decoder layer.
    public var hfName: String {
        ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
         "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"][rawValue]
    }

    /// The base matrix of a layer this target adds to.
    func base(_ l: ModelWeights.Layer) -> WeightMatrix {
        switch self {
        case .q: return l.wq
        case .k: return l.wk
        case .v: return l.wv
        case .o: return l.wo
        case .gate: return l.wGate
        case .up: return l.wUp
        case .down: return l.wDown
        }
    }
}

/// One low-rank update ΔW = scale · B·A of a [rows, cols] weight, kept in floats (the rank is small).
public struct LoraPair: Sendable {
    public let rank: Int
    public let rows: Int
    public let cols: Int
    /// alpha / rank (or alpha / √rank for rsLoRA): the adapter's own factor.
    public let scale: Float
    let a: [Float]   // [rank, cols]: A's rows
    let bT: [Float]  // [rank, rows]: B transposed, so B·t is `rank` axpys over contiguous rows

    public init(rank: Int, rows: Int, cols: Int, scale: Float, a: [Float], bT: [Float]) {
        precondition(a.count == rank * cols && bT.count == rank * rows, "LoRA factors do not match their shape")
        self.rank = rank
        self.rows = rows
        self.cols = cols
        self.scale = scale
        self.a = a
        self.bT = bT
    }

    /// y[row] += s · scale · B·(A·x[row]) for one token row (rows of x [·, cols] and y [·, rows]);
    /// `t` is scratch for `rank` floats.
    @inline(__always)
    func apply(x: UnsafePointer<Float>, y: UnsafeMutablePointer<Float>, row: Int, scale s: Float, scratch t: UnsafeMutablePointer<Float>) {
        let rank = rank, rows = rows, cols = cols, factor = scale * s
        a.withUnsafeBufferPointer { ap in
            bT.withUnsafeBufferPointer { bp in
                guard let a = ap.baseAddress, let b = bp.baseAddress else { return }
                let xt = x + row * cols, yt = y + row * rows
                LowRank.project(a, rank: rank, cols: cols, x: xt, into: t)
                for r in 0..<rank { t[r] *= factor }
                LowRank.expand(t, rank: rank, bT: b, rows: rows, into: yt)
            }
        }
    }

    /// The largest adapter factor accepted (PEFT's alpha / r is 0.5 to 64 in practice).
    static let maxScale: Float = 10_000

    /// Multiply-adds of one token's update.
    var cost: Int { rank * (rows + cols) }
}

/// A LoRA adapter loaded for a base model: per layer, the update of each target it changes.
/// Immutable once loaded, shared by every sequence that uses it.
public final class LoraAdapter: Sendable {
    public let name: String
    public let path: String
    /// [layer][LoraTarget.rawValue]: nil where the adapter leaves the weight alone.
    let layers: [[LoraPair?]]
    /// Unique for the process's life: the prefix cache keys blocks by it (an object's address
    /// may come back for an adapter loaded after this one is freed, under the same name).
    public let serial: Int

    private static let loaded = Atomic<Int>(0)

    public init(name: String, path: String, layers: [[LoraPair?]]) {
        self.name = name
        self.path = path
        self.layers = layers
        serial = Self.loaded.add(1, ordering: .relaxed).newValue
    }

    public func pair(layer: Int, _ target: LoraTarget) -> LoraPair? {
        layer < layers.count ? layers[layer][target.rawValue] : nil
    }

    /// Targets the adapter changes in at least one layer.
    public var targets: [LoraTarget] {
        LoraTarget.allCases.filter { t in layers.contains { $0[t.rawValue] != nil } }
    }

    /// Largest rank among its updates.
    public var rank: Int { layers.joined().compactMap { $0?.rank }.max() ?? 0 }
}

/// An adapter applied to one sequence, with the caller's multiplier (llama-server's per-request
/// `scale`; 1 for an adapter chosen by model name).
public struct LoraSelection: Sendable {
    public let adapter: LoraAdapter
    public let scale: Float

    public init(adapter: LoraAdapter, scale: Float = 1) {
        self.adapter = adapter
        self.scale = scale
    }

    /// What the prefix cache keys a sequence's blocks by: its adapters and scales, "" for the base.
    public static func cacheKey(_ s: [LoraSelection]) -> String {
        s.map { "\($0.adapter.name)@\($0.adapter.serial)×\($0.scale)" }.joined(separator: ";")
    }
}
