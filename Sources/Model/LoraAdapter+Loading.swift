import Foundation
import GGUF
import Kernels

/// Reading adapters from llama.cpp GGUF files and PEFT directories into `LoraAdapter`s checked
/// against the served model's shapes.
extension LoraAdapter {
    /// Loads a GGUF adapter file, or a PEFT directory (adapter_config.json and adapter_model.safetensors).
    public static func load(name: String, path: String, for model: LlamaModel) throws -> LoraAdapter {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw LoraError.notAnAdapter(path: path, reason: "no such file or directory")
        }
        return isDir.boolValue ? try loadPEFT(name: name, directory: path, for: model)
                               : try loadGGUF(name: name, path: path, for: model)
    }

    /// llama.cpp's adapter format: general.type = adapter, adapter.type = lora, adapter.lora.alpha,
    /// and `<weight>.lora_a` [cols, rank] / `<weight>.lora_b` [rank, rows] (ggml dimension order).
    public static func loadGGUF(name: String, path: String, for model: LlamaModel) throws -> LoraAdapter {
        let file = try GGUFFile(path: path)
        let m = file.metadata
        guard m["general.type"]?.stringValue == "adapter" else {
            throw LoraError.notAnAdapter(path: path, reason: "general.type is not \"adapter\"")
        }
        guard m["adapter.type"]?.stringValue == "lora" else {
            throw LoraError.notAnAdapter(path: path, reason: "adapter.type is not \"lora\"")
        }
        let arch = m["general.architecture"]?.stringValue ?? "(none)"
        guard arch == model.config.architecture else {
            throw LoraError.architectureMismatch(adapter: arch, model: model.config.architecture)
        }
        // As llama.cpp: alpha 0 (or absent) means the factors are used unscaled.
        let alpha = m["adapter.lora.alpha"]?.floatValue ?? 0

        var halves: [String: (a: GGUFTensorInfo?, b: GGUFTensorInfo?)] = [:]
        for t in file.tensors {
            if t.name.hasSuffix(".lora_a") { halves[String(t.name.dropLast(7)), default: (nil, nil)].a = t }
            else if t.name.hasSuffix(".lora_b") { halves[String(t.name.dropLast(7)), default: (nil, nil)].b = t }
            else { throw LoraError.unknownTensor(t.name) }
        }
        var builder = Builder(model: model)
        for (weight, h) in halves.sorted(by: { $0.key < $1.key }) {
            guard let a = h.a, let b = h.b else { throw LoraError.missingHalf(weight + (h.a == nil ? ".lora_b" : ".lora_a")) }
            let (layer, target) = try target(ofGGUFName: weight, layers: model.config.layers)
            let base = target.base(model.weights.layers[layer])
            guard a.dimensions.count == 2, b.dimensions.count == 2 else {
                throw LoraError.shape(tensor: a.name, expected: [base.cols, b.dimensions.first ?? 0], found: a.dimensions)
            }
            let rank = a.dimensions[1]
            guard rank >= 1, a.dimensions[0] == base.cols else { throw LoraError.shape(tensor: a.name, expected: [base.cols, rank], found: a.dimensions) }
            guard b.dimensions == [rank, base.rows] else { throw LoraError.shape(tensor: b.name, expected: [rank, base.rows], found: b.dimensions) }
            let aRows = try floats(file.data(of: a), type: a.type, rows: rank, cols: base.cols, tensor: a.name)
            let bRows = try floats(file.data(of: b), type: b.type, rows: base.rows, cols: rank, tensor: b.name)
            let scale = alpha == 0 ? 1 : alpha / Float(rank)
            try builder.set(layer, target, LoraPair(rank: rank, rows: base.rows, cols: base.cols, scale: scale,
                                                a: aRows, bT: transpose(bRows, rows: base.rows, cols: rank)))
        }
        return try builder.adapter(name: name, path: path)
    }

    /// `blk.N.attn_q.weight` → (N, .q).
    static func target(ofGGUFName weight: String, layers: Int) throws -> (Int, LoraTarget) {
        let parts = weight.split(separator: ".")
        guard parts.count == 4, parts[0] == "blk", let layer = Int(parts[1]), layer >= 0, layer < layers, parts[3] == "weight",
              let t = LoraTarget.allCases.first(where: { $0.ggufName == parts[2] }) else {
            throw LoraError.unknownTensor(weight)
        }
        return (layer, t)
    }

    /// Dequantizes a [rows, cols] tensor of any type the kernels read into floats.
    static func floats(_ data: UnsafeRawPointer, type: GGMLType, rows: Int, cols: Int, tensor: String) throws -> [Float] {
        guard Dequantize.supports(type), type.byteCount(elements: cols) != nil else {
            throw LoraError.unsupportedType(tensor: tensor, type: type.name)
        }
        let w = WeightMatrix(type: type, data: data, rows: rows, cols: cols)
        var out = [Float](repeating: 0, count: rows * cols)
        out.withUnsafeMutableBufferPointer { p in
            guard let base = p.baseAddress else { return }
            for r in 0..<rows { w.dequantizeRow(r, into: base + r * cols) }
        }
        return out
    }

    static func transpose(_ m: [Float], rows: Int, cols: Int) -> [Float] {
        var t = [Float](repeating: 0, count: m.count)
        for r in 0..<rows { for c in 0..<cols { t[c * rows + r] = m[r * cols + c] } }
        return t
    }

    /// Collects pairs per layer and target, refusing a weight given twice or a layer the model lacks.
    struct Builder {
        let model: LlamaModel
        var layers: [[LoraPair?]]
        init(model: LlamaModel) {
            self.model = model
            layers = Array(repeating: Array(repeating: nil, count: LoraTarget.allCases.count), count: model.config.layers)
        }
        /// An update whose factor or weights are not finite numbers, or whose factor is absurd,
        /// would make every answer through the adapter noise (or nothing at all): refused here.
        mutating func set(_ layer: Int, _ t: LoraTarget, _ p: LoraPair) throws {
            guard p.scale.isFinite, abs(p.scale) <= LoraPair.maxScale else {
                throw LoraError.badValues("its scale (alpha / rank) is \(p.scale); at most \(Int(LoraPair.maxScale)) in size is usable")
            }
            guard p.a.allSatisfy(\.isFinite), p.bT.allSatisfy(\.isFinite) else {
                throw LoraError.badValues("blk.\(layer).\(t.ggufName) holds weights that are not finite numbers (NaN or infinity)")
            }
            layers[layer][t.rawValue] = p
        }
        func adapter(name: String, path: String) throws -> LoraAdapter {
            guard layers.joined().contains(where: { $0 != nil }) else {
                throw LoraError.notAnAdapter(path: path, reason: "it holds no LoRA weights")
            }
            return LoraAdapter(name: name, path: path, layers: layers)
        }
    }
}
