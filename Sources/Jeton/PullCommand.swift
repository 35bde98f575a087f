import ArgumentParser

struct PullCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Download a known model into the model cache ($JETON_MODELS, default ~/.cache/jeton/models).")

    @Argument(help: "Model name (`default` is SmolLM2-135M-Instruct Q4_1).")
    var name: String = "default"

    func run() throws {
        do {
            let path = try ModelStore().pull(name, log: note)
            print(path)
        } catch let e as ModelStore.Failure {
            note("error: \(e.description)")
            throw ExitCode.failure
        }
    }
}
