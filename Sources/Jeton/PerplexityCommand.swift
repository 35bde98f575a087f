import ArgumentParser
import Model

struct PerplexityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perplexity",
        abstract: "Print ppl = exp(mean over i ≥ 1 of −log p(token_i | tokens before i)) of a file, as one sequence.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Text file to score.") var file: String

    func run() throws {
        let loaded = try modelOptions.load()
        let ids = loaded.tokenizer.encode(bytes: try readFile(file), addSpecial: true, parseSpecial: true)
        guard ids.count >= 2 else { throw ValidationError("the file must give at least two tokens") }
        guard ids.count <= loaded.config.contextLength else {
            throw ValidationError("the file gives \(ids.count) tokens, more than the context of \(loaded.config.contextLength)")
        }
        let gen = Generator(loaded, capacity: ids.count, cacheType: modelOptions.cacheType)
        let (ppl, nll) = try gen.perplexity(ids)
        note("scored \(nll.count) tokens")
        print("ppl: \(ppl)")
    }
}
