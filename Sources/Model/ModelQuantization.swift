import GGUF

/// A short name for how a model file is quantized: llama.cpp's `general.file_type`
/// name (the one in file names, e.g. "Q4_K_M"), else the tensor type holding most
/// of the weight bytes, which is what a mixed file is mostly made of.
public enum ModelQuantization {
    /// llama.cpp's `llama_ftype` values.
    static let fileTypeNames: [Int: String] = [
        0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
        10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M",
        16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S",
        22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M",
        28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
    ]

    public static func name(of file: GGUFFile) -> String {
        if let ft = file.metadata["general.file_type"]?.intValue, let name = fileTypeNames[ft] { return name }
        return dominantType(of: file) ?? "unknown"
    }

    /// The type of the most bytes among matrices (tensors of two or more dimensions).
    public static func dominantType(of file: GGUFFile) -> String? {
        var bytes: [String: Int] = [:]
        for t in file.tensors where t.dimensions.count >= 2 {
            bytes[t.type.name, default: 0] += t.byteCount
        }
        return bytes.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }?.key
    }
}
