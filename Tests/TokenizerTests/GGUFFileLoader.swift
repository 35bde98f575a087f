import GGUF

/// Raw metadata of the default model, for tests that need more than the tokenizer.
enum GGUFFileLoader {
    static func metadata() throws -> [String: GGUFValue] {
        try GGUFFile(path: TokenizerFixtures.modelPath).metadata
    }
}
