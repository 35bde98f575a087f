import ArgumentParser
import Model

/// `--lora PATH` and `--lora-scaled PATH:SCALE,...` (both repeatable) for the one-sequence
/// commands, as llama.cpp's tools take them: GGUF adapter files or PEFT directories, each applied
/// at its scale (1 for `--lora`), their updates summed.
struct LoraOptions: ParsableArguments {
    @Option(name: .customLong("lora"), help: "LoRA adapter: a GGUF adapter file or a PEFT directory; repeatable.")
    var paths: [String] = []

    @Option(name: .customLong("lora-scaled"),
            help: "LoRA adapters with their scales, as llama.cpp's: PATH:SCALE[,PATH:SCALE...]; repeatable.")
    var scaled: [String] = []

    func validate() throws {
        _ = try scaledPaths()
    }

    /// The `--lora-scaled` entries split into paths and scales (the scale after the last colon).
    func scaledPaths() throws -> [(path: String, scale: Float)] {
        try scaled.flatMap { $0.split(separator: ",", omittingEmptySubsequences: true) }.map { entry in
            guard let colon = entry.lastIndex(of: ":"), colon != entry.startIndex,
                  let scale = Float(entry[entry.index(after: colon)...]), scale.isFinite else {
                throw ValidationError("--lora-scaled takes PATH:SCALE (a number), got \"\(entry)\".")
            }
            return (String(entry[..<colon]), scale)
        }
    }

    func selections(for loaded: LoadedModel) throws -> [LoraSelection] {
        let all = paths.map { ($0, Float(1)) } + (try scaledPaths()).map { ($0.path, $0.scale) }
        return try all.enumerated().map { i, entry in
            do {
                return LoraSelection(adapter: try LoraAdapter.load(name: "lora\(i)", path: entry.0, for: loaded.model), scale: entry.1)
            } catch {
                // Named, or a bad adapter reads as a bad model.
                throw FileFailure(description: "LoRA adapter \(entry.0): \(namingPathOnce(error, entry.0))")
            }
        }
    }
}
