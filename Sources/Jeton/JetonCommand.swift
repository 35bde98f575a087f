import ArgumentParser
import Foundation
import Kernels
import Model

@main
struct JetonCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jeton",
        abstract: "An on-premise LLM inference server with an OpenAI-compatible API.",
        subcommands: [PullCommand.self, ListCommand.self, ShowCommand.self, GenerateCommand.self, TokenizeCommand.self,
                      PerplexityCommand.self, BenchCommand.self, ServeCommand.self, GrammarCommand.self, EmbedCommand.self])
}

/// The model a command reads (alone: `jeton tokenize`, which loads no weights).
struct ModelChoice: ParsableArguments {
    @Option(name: .long, help: "A GGUF file's path, a catalog name (`jeton list`), or `default` for the default model.")
    var model: String = "default"
}

/// Options every model-running command shares.
struct ModelOptions: ParsableArguments {
    @OptionGroup var choice: ModelChoice
    var model: String { choice.model }

    @Option(name: [.customShort("t"), .long], parsing: .unconditional, help: "Threads for the forward pass (default, and 0: all cores, as `jeton serve` reads it).")
    var threads: Int = CPUBudget.cpus

    @Option(name: .long, help: "KV cache element type: f16 or f32.")
    var cacheType: KVCacheType = .f16

    @Option(name: .long, help: """
        q4_0: the matrices wider than Q4_0 read as Q4_0 copies, as `jeton serve` runs a draft model \
        (speculative.draft_quantization); file: as the file has them.
        """)
    var requantize: Requantization = .file

    enum Requantization: String, ExpressibleByArgument, CaseIterable { case file, q4_0 }

    /// Checked while the command line is read, so the message comes with this command's usage.
    func validate() throws { try validateThreads(threads) }

    /// The threads to run with: 0 is all cores.
    var threadCount: Int { threads == 0 ? CPUBudget.cpus : threads }

    func load() throws -> LoadedModel {
        let path = try ModelStore().resolve(model)
        do { return try LoadedModel(path: path, threads: threadCount, shrink: requantize == .q4_0) } catch {
            throw FileFailure(description: "\(path): \(namingPathOnce(error, path))")
        }
    }
}

/// `--threads` as `jeton serve` takes it (model.threads): 0 is all cores, and a typo must not
/// start tens of thousands of threads.
func validateThreads(_ threads: Int) throws {
    guard (0...1024).contains(threads) else { throw ValidationError("--threads must be between 0 (all cores) and 1024, got \(threads)") }
}

/// Prints one line to stderr (progress and errors stay out of stdout's data).
func note(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}

/// Reads a file's exact bytes (`-`: standard input), or fails with a sentence naming it. A file
/// that cannot be read is a run-time error (exit 1), not a usage one.
func readFile(_ path: String) throws -> [UInt8] {
    if path == "-" { return [UInt8](FileHandle.standardInput.readDataToEndOfFile()) }
    let type = (try? FileManager.default.attributesOfItem(atPath: path))?[.type] as? FileAttributeType
    guard let d = type == .typeRegular ? FileManager.default.contents(atPath: path) : readToEnd(path) else {
        throw FileFailure(description: "cannot read \(path): \(FileManager.default.fileExists(atPath: path) ? "not a readable file" : "no such file")")
    }
    return [UInt8](d)
}

/// A pipe (`<(…)`'s /dev/fd/N, a FIFO) has no size to read up to: read to its end, with the
/// throwing read (a directory is an error here, not a trap).
private func readToEnd(_ path: String) -> Data? {
    guard let h = FileHandle(forReadingAtPath: path) else { return nil }
    do { return try h.readToEnd() ?? Data() } catch { return nil }
}

struct FileFailure: Error, CustomStringConvertible { let description: String }

/// An error's text for a message that names `path` first: without the path when it says it too
/// (`cannot open GGUF file PATH: …`, `PATH: …`); only where a colon follows it, so a short
/// relative path never cuts a word out of the text.
func namingPathOnce(_ error: Error, _ path: String) -> String {
    var text = "\(error)"
    if text.hasPrefix("\(path): ") { text.removeFirst(path.count + 2) }
    return text.replacingOccurrences(of: " \(path):", with: ":")
}

/// Parsed (and checked) before anything loads: `--cache-type f16|f32`.
extension KVCacheType: ExpressibleByArgument {}
