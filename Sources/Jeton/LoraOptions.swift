import ArgumentParser
import Model

/// `--lora PATH` (repeatable) for the one-sequence commands, as llama.cpp's tools take it:
/// a GGUF adapter file or a PEFT directory, applied at scale 1.
struct LoraOptions: ParsableArguments {
    @Option(name: .customLong("lora"), help: "LoRA adapter: a GGUF adapter file or a PEFT directory; repeatable.")
    var paths: [String] = []

    func selections(for loaded: LoadedModel) throws -> [LoraSelection] {
        try paths.enumerated().map { i, p in
            LoraSelection(adapter: try LoraAdapter.load(name: "lora\(i)", path: p, for: loaded.model))
        }
    }
}
