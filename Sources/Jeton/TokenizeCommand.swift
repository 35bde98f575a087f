import ArgumentParser

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize", abstract: "Print the token ids of a file's exact bytes as a JSON array.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "File whose bytes are tokenized.") var file: String

    func run() throws {
        let loaded = try modelOptions.load()
        let ids = loaded.tokenizer.encode(bytes: try readFile(file), addSpecial: true, parseSpecial: true)
        print("[" + ids.map(String.init).joined(separator: ", ") + "]")
    }
}
