import ArgumentParser
import Foundation
import Model
import Tokenizer

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate", abstract: "Continue a prompt, streaming the text (or printing the ids).")

    enum Output: String, ExpressibleByArgument { case text, ids }

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var loraOptions: LoraOptions
    @Option(help: "Prompt text.") var prompt: String?
    @Option(help: "File holding the prompt.") var promptFile: String?
    @Option(name: .short, parsing: .unconditional, help: "Tokens to generate.") var n: Int = 64
    @Option(parsing: .unconditional, help: "0 is greedy.") var temperature: Float = 0
    @Option(parsing: .unconditional, help: "Nucleus sampling mass.") var topP: Float = 1
    @Option(parsing: .unconditional, help: "Keep the K most likely tokens (0: all).") var topK: Int = 0
    @Option(parsing: .unconditional, help: "Drop tokens below this fraction of the best one's probability.") var minP: Float = 0
    @Option(parsing: .unconditional, help: "Penalty on tokens already present (1: off).") var repeatPenalty: Float = 1
    @Option(parsing: .unconditional, help: "Random seed (-1: none, as in llama.cpp).") var seed: Int64?
    @Option(help: "text or ids.") var output: Output = .text
    @Flag(help: "Keep going past end-of-generation tokens.") var ignoreEos = false

    func validate() throws {
        guard (prompt == nil) != (promptFile == nil) else { throw ValidationError("give exactly one of --prompt and --prompt-file") }
        guard n >= 0 else { throw ValidationError("-n must not be negative") }
        guard temperature.isFinite, temperature >= 0 else { throw ValidationError("--temperature must be a number of at least 0") }
        guard topP >= 0, topP <= 1 else { throw ValidationError("--top-p must be in [0, 1] (0: the most likely token)") }
        guard minP >= 0, minP <= 1 else { throw ValidationError("--min-p must be in [0, 1]") }
        guard topK >= 0 else { throw ValidationError("--top-k must not be negative") }
        // The API's range (vLLM refuses a penalty of 0 or less: it divides logits by it).
        guard repeatPenalty >= 0.01, repeatPenalty <= 10 else { throw ValidationError("--repeat-penalty must be between 0.01 and 10") }
        guard seed.map({ $0 >= -1 }) ?? true else { throw ValidationError("--seed must be -1 (none) or at least 0") }
    }

    func run() throws {
        let loaded = try modelOptions.load()
        let bytes = try prompt.map { Array($0.utf8) } ?? readFile(promptFile!)
        let ids = loaded.tokenizer.encode(bytes: bytes, addSpecial: true, parseSpecial: true)
        // Said, not a silent empty answer or a short one.
        guard !ids.isEmpty else { throw FileFailure(description: "the prompt is empty (and this model adds no BOS token): nothing to continue") }
        let context = loaded.config.contextLength
        if n > context - ids.count {
            note("note: the model's context of \(context) tokens leaves room for \(max(0, context - ids.count)) of the \(n) tokens asked after the prompt's \(ids.count)")
        }
        let sampling = SamplingParameters(temperature: temperature, topK: topK, topP: topP, minP: minP,
                                          repetitionPenalty: repeatPenalty, seed: seed.flatMap { $0 < 0 ? nil : UInt64($0) })
        let gen = Generator(loaded, capacity: min(context, ids.count + min(n, context)),
                            cacheType: modelOptions.cacheType)
        gen.adapters = try loraOptions.selections(for: loaded)
        var decoder = StreamingDecoder(tokenizer: loaded.tokenizer, fromSequenceStart: false)
        let out = try gen.generate(prompt: ids, maxTokens: n, sampling: sampling, ignoreEOS: ignoreEos) { tok in
            if output == .text {
                let piece = decoder.push(tok)
                if !piece.isEmpty { FileHandle.standardOutput.write(Data(piece.utf8)) }
            }
            return true
        }
        switch output {
        case .text:
            let rest = decoder.flush()
            FileHandle.standardOutput.write(Data((rest + "\n").utf8))
        case .ids:
            print("[" + out.map(String.init).joined(separator: ", ") + "]")
        }
    }
}
