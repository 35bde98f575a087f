import ArgumentParser
import Foundation
import GGUF
import Model

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Print one JSON array (a unit vector) per line of a file that has text, with an embedding model.",
        discussion: """
        Each line is one input; [CLS] and [SEP] are added. nomic-embed-text expects a task prefix \
        such as `search_query: ` or `search_document: ` at the start of each line.
        """)

    @Option(name: .long, help: "An embedding model: a path to a GGUF file or a catalog name (nomic-embed-text-v1.5).")
    var model: String

    @Option(help: "Text file with one input per line (`-` reads standard input).") var file: String

    @Option(name: [.customShort("t"), .long], parsing: .unconditional, help: "Threads for the forward pass (default, and 0: all cores).")
    var threads: Int = CPUBudget.cpus

    @Flag(help: "Cut inputs longer than the model's context instead of failing.") var truncate = false

    func run() throws {
        try validateThreads(threads)
        let threads = self.threads == 0 ? CPUBudget.cpus : self.threads
        let bytes = try readFile(file)
        // Lines end with LF, CRLF or a lone CR; lines of only white space are no input. Each keeps
        // its number in the file, for messages.
        let lines = String(decoding: bytes, as: UTF8.self)
            .split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
            .enumerated().map { (number: $0.offset + 1, text: String($0.element)) }
            .filter { !$0.text.allSatisfy(\.isWhitespace) }
        if lines.isEmpty { note("\(file) has no line with text: nothing to embed") }
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
        for line in lines {
            let ids = loaded.tokenize(line.text)
            if ids.count > loaded.config.contextLength && !truncate {
                note("error: line \(line.number) has \(ids.count) tokens, more than the model's context of \(loaded.config.contextLength) (use --truncate to cut it)")
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
