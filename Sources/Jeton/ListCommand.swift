import ArgumentParser
import Foundation
import GGUF
import Model

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List the catalog's models and the other GGUF files of the model cache.")

    func run() throws {
        let store = ModelStore()
        let catalog: [ModelStore.Known]
        do { catalog = try ModelStore.catalog() } catch let e as ModelStore.Failure {
            note("error: \(e.description)")
            throw ExitCode.failure
        }
        var rows: [[String]] = [["NAME", "FILE", "SIZE", "DETAILS"]]
        for k in catalog {
            let path = store.directory + "/" + k.file
            if let size = ModelStore.size(path) {
                rows.append([k.name, k.file, formatBytes(size), describe(path)])
            } else {
                rows.append([k.name, k.file, k.bytes.map(formatBytes) ?? "?", "not downloaded"])
            }
        }
        let known = Set(catalog.map(\.file))
        let others = ((try? FileManager.default.contentsOfDirectory(atPath: store.directory)) ?? [])
            .filter { $0.lowercased().hasSuffix(".gguf") && !known.contains($0) }.sorted()
        for f in others {
            let path = store.directory + "/" + f
            guard let size = ModelStore.size(path) else { continue }
            rows.append([f, f, formatBytes(size), describe(path)])
        }
        let widths = (0..<3).map { c in rows.map { $0[c].count }.max() ?? 0 }
        for r in rows {
            let cells = (0..<3).map { r[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
            print((cells + [r[3]]).joined(separator: "  "))
        }
    }

    /// `llama Q4_1 ctx 8192` for a readable file (`llama LoRA adapter F16` for an adapter, which
    /// serves only beside its base model: `--lora`), else why it is not.
    private func describe(_ path: String) -> String {
        do {
            let f = try GGUFFile(path: path)
            let arch = f.metadata["general.architecture"]?.stringValue ?? "unknown"
            if f.metadata["general.type"]?.stringValue == "adapter" {
                let kind = f.metadata["adapter.type"]?.stringValue.map { $0 == "lora" ? "LoRA" : $0 } ?? "unknown"
                return "\(arch) \(kind) adapter \(ModelQuantization.name(of: f)) (serve with --lora NAME=PATH)"
            }
            var s = "\(arch) \(ModelQuantization.name(of: f))"
            if let ctx = f.metadata["\(arch).context_length"]?.intValue { s += " ctx \(ctx)" }
            return s
        } catch {
            return "unreadable: \(error)"
        }
    }
}

/// `1117.3 MB` (decimal megabytes, as the pull progress counts).
func formatBytes(_ n: Int) -> String {
    n >= 1_000_000 ? String(format: "%.1f MB", Double(n) / 1e6) : String(format: "%.1f kB", Double(n) / 1e3)
}
