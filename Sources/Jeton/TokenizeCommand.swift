import ArgumentParser
import GGUF
import Model
import Tokenizer

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize", abstract: "Print the token ids of a file's exact bytes as a JSON array.")

    // Only the model: threads, cache type and requantization mean nothing to a tokenizer.
    @OptionGroup var choice: ModelChoice
    @Option(help: "File whose bytes are tokenized (`-`: standard input).") var file: String

    func run() throws {
        // The tokenizer alone, from the file's metadata: loading the weights (and repacking them)
        // took 2.7 s of Qwen 1.5B's 2.7 s. A generation model's hyperparameters are still read (a
        // file whose settings no model could run is refused); its tensors are not checked.
        let path = try ModelStore().resolve(choice.model)
        let tokenizer: Tokenizer
        do {
            let gguf = try GGUFFile(path: path)
            tokenizer = try Tokenizer(TokenizerVocabulary(metadata: gguf.metadata))
            if !LoadedEmbeddingModel.isEmbeddingModel(gguf) {
                let config = try ModelConfig(file: gguf)
                try ModelError.checkVocabulary(tokenizer: tokenizer.vocabularySize, model: config.vocabSize)
            }
        } catch {
            throw FileFailure(description: "\(path): \(namingPathOnce(error, path))")
        }
        let ids = tokenizer.encode(bytes: try readFile(file), addSpecial: true, parseSpecial: true)
        print("[" + ids.map(String.init).joined(separator: ", ") + "]")
    }
}
