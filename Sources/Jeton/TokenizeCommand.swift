import ArgumentParser
import GGUF
import Model
import Tokenizer

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize", abstract: "Print the token ids of a file's exact bytes as a JSON array.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "File whose bytes are tokenized (`-`: standard input).") var file: String

    func run() throws {
        // An embedding model has no generation weights LoadedModel could load: its tokenizer alone.
        let path = try ModelStore().resolve(modelOptions.model)
        let tokenizer: Tokenizer
        if let file = try? GGUFFile(path: path), LoadedEmbeddingModel.isEmbeddingModel(file) {
            tokenizer = try Tokenizer(TokenizerVocabulary(metadata: file.metadata))
        } else {
            tokenizer = try modelOptions.load().tokenizer
        }
        let ids = tokenizer.encode(bytes: try readFile(file), addSpecial: true, parseSpecial: true)
        print("[" + ids.map(String.init).joined(separator: ", ") + "]")
    }
}
