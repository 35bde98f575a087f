import Foundation
import GGUF

/// PEFT's adapter directories: adapter_config.json (r, lora_alpha, target_modules, use_rslora)
/// and adapter_model.safetensors with Hugging Face names, mapped to the GGUF layout the base
/// model uses — including the row order of q and k that llama's GGUF conversion permutes.
extension LoraAdapter {
    public static func loadPEFT(name: String, directory: String, for model: LlamaModel) throws -> LoraAdapter {
        let configPath = directory + "/adapter_config.json"
        guard let data = FileManager.default.contents(atPath: configPath) else {
            throw LoraError.notAnAdapter(path: directory, reason: "no adapter_config.json")
        }
        guard let json = try? JSONSerialization.jsonObject(with: data), let config = json as? [String: Any] else {
            throw LoraError.badConfig("not a JSON object")
        }
        if let type = config["peft_type"] as? String, type.uppercased() != "LORA" {
            throw LoraError.badConfig("peft_type is \(type), only LORA adapters are supported")
        }
        // JSONSerialization gives both JSON numbers and booleans as NSNumber (on Linux a number
        // even casts to Bool): a boolean is the one whose type is C's char.
        func number(_ v: Any?) -> NSNumber? {
            guard let n = v as? NSNumber, !(v is String), String(cString: n.objCType) != "c", n.doubleValue.isFinite else { return nil }
            return n
        }
        func boolean(_ v: Any?) -> Bool? {
            guard let n = v as? NSNumber, !(v is String), String(cString: n.objCType) == "c" else { return nil }
            return n.boolValue
        }
        guard let rn = number(config["r"]), rn.doubleValue == rn.doubleValue.rounded(), rn.intValue >= 1 else {
            throw LoraError.badConfig("r must be a positive integer")
        }
        let r = rn.intValue
        // A field of the wrong type is refused, not replaced by its default (a silently different scale).
        // Absent or null, they take PEFT's defaults (LoraConfig: lora_alpha 8, use_rslora false).
        let present = { (key: String) -> Any? in config[key].flatMap { $0 is NSNull ? nil : $0 } }
        var alpha: Float = 8
        if let v = present("lora_alpha") {
            guard let n = number(v) else { throw LoraError.badConfig("lora_alpha must be a number") }
            alpha = n.floatValue
        }
        var rslora = false
        if let v = present("use_rslora") {
            guard let b = boolean(v) else { throw LoraError.badConfig("use_rslora must be true or false") }
            rslora = b
        }
        if (config["fan_in_fan_out"] as? Bool) == true { throw LoraError.badConfig("fan_in_fan_out adapters are not supported") }
        for key in ["rank_pattern", "alpha_pattern"] {
            if let p = config[key] as? [String: Any], !p.isEmpty { throw LoraError.badConfig("\(key) is not supported") }
        }
        if let d = config["use_dora"] as? Bool, d { throw LoraError.badConfig("DoRA adapters are not supported") }
        let scale = rslora ? alpha / Float(r).squareRoot() : alpha / Float(r)

        let weightsPath = directory + "/adapter_model.safetensors"
        guard FileManager.default.fileExists(atPath: weightsPath) else {
            throw LoraError.notAnAdapter(path: directory, reason: "no adapter_model.safetensors (adapter_model.bin is not read)")
        }
        let file = try SafetensorsFile(path: weightsPath)
        var halves: [String: (a: SafetensorsTensorInfo?, b: SafetensorsTensorInfo?)] = [:]
        for t in file.tensors {
            guard let (module, isA) = splitHalf(t.name) else { throw LoraError.unknownTensor(t.name) }
            if isA { halves[module, default: (nil, nil)].a = t } else { halves[module, default: (nil, nil)].b = t }
        }
        let c = model.config
        var builder = Builder(model: model)
        for (module, h) in halves.sorted(by: { $0.key < $1.key }) {
            guard let a = h.a, let b = h.b else { throw LoraError.missingHalf(module + (h.a == nil ? ".lora_B.weight" : ".lora_A.weight")) }
            guard let (layer, target) = hfTarget(module), layer < c.layers else { throw LoraError.unknownTensor(a.name) }
            let base = target.base(model.weights.layers[layer])
            // torch order: A is [r, in], B is [out, r].
            guard a.shape == [r, base.cols] else { throw LoraError.shape(tensor: a.name, expected: [r, base.cols], found: a.shape) }
            guard b.shape == [base.rows, r] else { throw LoraError.shape(tensor: b.name, expected: [base.rows, r], found: b.shape) }
            let aRows = try floats(file.data(of: a), type: a.type, rows: r, cols: base.cols, tensor: a.name)
            var bRows = try floats(file.data(of: b), type: b.type, rows: base.rows, cols: r, tensor: b.name)
            if c.family == .llama && (target == .q || target == .k) {
                bRows = permuteRows(bRows, heads: target == .q ? c.heads : c.kvHeads, rows: base.rows, cols: r)
            }
            try builder.set(layer, target, LoraPair(rank: r, rows: base.rows, cols: base.cols, scale: scale,
                                                a: aRows, bT: transpose(bRows, rows: base.rows, cols: r)))
        }
        return try builder.adapter(name: name, path: directory)
    }

    /// `…layers.3.self_attn.q_proj.lora_A.weight` → ("…layers.3.self_attn.q_proj", true); also PEFT's
    /// older `.lora_A.default.weight`.
    static func splitHalf(_ name: String) -> (String, Bool)? {
        for (suffix, isA) in [(".lora_A.weight", true), (".lora_B.weight", false),
                              (".lora_A.default.weight", true), (".lora_B.default.weight", false)] where name.hasSuffix(suffix) {
            return (String(name.dropLast(suffix.count)), isA)
        }
        return nil
    }

    /// `base_model.model.model.layers.3.mlp.up_proj` → (3, .up).
    static func hfTarget(_ module: String) -> (Int, LoraTarget)? {
        guard let range = module.range(of: "layers.", options: .backwards) else { return nil }
        let rest = module[range.upperBound...]
        guard let dot = rest.firstIndex(of: "."), let layer = Int(rest[..<dot]), layer >= 0 else { return nil }
        let path = rest[rest.index(after: dot)...]
        return LoraTarget.allCases.first { $0.hfName == path }.map { (layer, $0) }
    }

    /// The q/k row order of llama's GGUF conversion, which interleaves the two halves of each
    /// head's rotary pairs: new row h·d + 2i + j is old row h·d + j·d/2 + i.
    static func permuteRows(_ m: [Float], heads: Int, rows: Int, cols: Int) -> [Float] {
        let d = rows / heads, half = d / 2
        var out = m
        for h in 0..<heads {
            for i in 0..<half {
                for j in 0..<2 {
                    let dst = h * d + 2 * i + j, src = h * d + j * half + i
                    for col in 0..<cols { out[dst * cols + col] = m[src * cols + col] }
                }
            }
        }
        return out
    }
}
