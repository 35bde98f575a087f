import ArgumentParser
import Foundation
import GGUF
import Model

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Print one JSON array (a unit vector) per non-empty line of a file, with an embedding model.",
        discussion: """
        Each line is one input; [CLS] and [SEP] are added. nomic-embed-text expects a task prefix \
        such as `search_query: ` or `search_document: ` at the start of each line.
        """)

    @Option(name: .long, help: "An embedding model: a path to a GGUF file or a catalog name (nomic-embed-text-v1.5).")
    var model: String

    @Option(help: "Text file with one input per line (`-` reads standard input).") var file: String

    @Option(name: [.customShort("t"), .long], help: "Threads for the forward pass (default: all cores).")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(help: "Cut inputs longer than the model's context instead of failing.") var truncate = false

    func run() throws {
        guard threads > 0 else { throw ValidationError("--threads must be at least 1") }
        let bytes = try readFile(file)
        let lines = String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == "\n" || $0 == "\r\n" })
            .map(String.init).filter { !$0.isEmpty }
        let path: String
        do { path = try ModelStore().resolve(model) } catch let e as ModelStore.Failure {
            note("error: \(e.description)")
            throw ExitCode.failure
        }
        if let file = try? GGUFFile(path: path), !LoadedEmbeddingModel.isEmbeddingModel(file) {
            let arch = file.metadata["general.architecture"]?.stringValue ?? "unknown"
            note("error: \(path) is a \(arch) model, not an embedding model (supported: \(EncoderConfig.supportedArchitectures.sorted().joined(separator: ", ")))")
            throw ExitCode.failure
        }
        let loaded: LoadedEmbeddingModel
        do { loaded = try LoadedEmbeddingModel(path: path, threads: threads) } catch {
            note("error: \(path) cannot be used as an embedding model: \(error)")
            throw ExitCode.failure
        }
        var inputs: [[Int32]] = []
        for (i, line) in lines.enumerated() {
            let ids = loaded.tokenize(line)
            if ids.count > loaded.config.contextLength && !truncate {
                note("error: line \(i + 1) has \(ids.count) tokens, more than the model's context of \(loaded.config.contextLength) (use --truncate to cut it)")
                throw ExitCode.failure
            }
            inputs.append(loaded.truncated(ids))
        }
        let vectors = try loaded.embed(tokens: inputs)
        var out = ""
        for v in vectors {
            out += "[" + v.map { String($0) }.joined(separator: ",") + "]\n"
            if out.utf8.count > 1 << 20 { FileHandle.standardOutput.write(Data(out.utf8)); out = "" }
        }
        FileHandle.standardOutput.write(Data(out.utf8))
    }
}
