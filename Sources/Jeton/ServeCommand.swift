import API
import ArgumentParser
import Dispatch
import Engine
import Foundation
import HTTP
import Model

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Serve the OpenAI-compatible API over HTTP.")

    @OptionGroup var modelOptions: ModelOptions
    @Option(help: "Address to listen on.") var host: String = "127.0.0.1"
    @Option(help: "Port to listen on.") var port: Int = 8080
    @Option(help: "Name clients use in `model` (default: the file name).") var servedModelName: String?
    @Option(help: "KV cache size in tokens, shared by all running requests.") var cacheTokens: Int = 16384
    @Option(help: "Tokens computed per step at most.") var maxBatchTokens: Int = 512
    @Option(help: "Sequences running at once at most.") var maxSequences: Int = 64
    @Option(help: "Context length per request (default: the model's).") var contextLength: Int?
    @Option(help: "TLS certificate (PEM); with --tls-key, serve HTTPS.") var tlsCert: String?
    @Option(help: "TLS private key (PEM).") var tlsKey: String?
    @Option(help: "Seconds in-flight requests get to finish on SIGTERM/SIGINT.") var drainTimeout: Double = 30

    func validate() throws {
        guard (1...65535).contains(port) || port == 0 else { throw ValidationError("--port must be between 0 and 65535") }
        guard cacheTokens >= 16 else { throw ValidationError("--cache-tokens must be at least 16") }
        guard maxBatchTokens >= 1, maxSequences >= 1 else { throw ValidationError("--max-batch-tokens and --max-sequences must be at least 1") }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
    }

    func run() throws {
        let path = try ModelStore().resolve(modelOptions.model)
        var http = HTTPServerConfiguration(host: host, port: port)
        http.tlsCertificatePath = tlsCert
        http.tlsKeyPath = tlsKey
        http.errorResponse = { APIError.transport(status: $0, code: $1, message: $2) }
        let engineConfig = EngineConfiguration(maxBatchTokens: maxBatchTokens, maxSequences: maxSequences,
                                               cacheTokens: cacheTokens)
        let app = ServerApp(http: http, modelPath: path, threads: modelOptions.threads, engine: engineConfig,
                            servedName: servedModelName, contextLength: contextLength, drainTimeout: drainTimeout)
        try app.start()
        dispatchMain()
    }
}
