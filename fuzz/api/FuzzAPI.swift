import API
import Engine
import Foundation
import Model

/// libFuzzer target for the request decoding and validation path, chat
/// template rendering included: the first byte picks the endpoint (even: completions, 1 mod 4:
/// chat, 3 mod 8: responses, 7 mod 16: messages, 15 mod 32: messages/count_tokens, 31 mod 64:
/// infill, on Qwen2.5-Coder-0.5B's tokenizer when it is pulled, 63 mod 128: responses/input_tokens,
/// 127 mod 128: llama-server's completion), the rest is the body. Built with -DFUZZING by run.sh; without it this is a replay tool
/// that runs the same function over files (the committed corpus in CI).

/// Refuses everything: validation never reaches it, since `validate` does not submit.
final class NoEngine: InferenceService, @unchecked Sendable {
    func submit(_ request: GenerationRequest, sink: @escaping GenerationSink) throws { throw SubmissionError.shuttingDown }
    func abort(_ id: String) {}
    func pause(_ id: String) {}
    func resume(_ id: String) {}
    var contextLength: Int { 8192 }
    var cacheCapacity: Int { 16384 }
    var maxWaiting: Int { 1024 }
}

let api: OpenAIAPI = {
    let dir = ProcessInfo.processInfo.environment["JETON_MODELS"] ?? (NSHomeDirectory() + "/.cache/jeton/models")
    guard let loaded = try? LoadedModel(path: dir + "/SmolLM2-135M-Instruct.Q4_1.gguf", threads: 1) else {
        FileHandle.standardError.write(Data("fuzz-api: the default model is missing; run `jeton pull default`\n".utf8))
        exit(2)
    }
    let served = ServedModel(id: "m", aliases: ["default"], tokenizer: loaded.tokenizer, contextLength: 8192,
                             chatTemplate: loaded.chatTemplate, created: 0)
    return OpenAIAPI(service: NoEngine(), model: served, version: "fuzz")
}()

/// A code model's API for /infill (its fill-in-the-middle and repository tokens); the default
/// model's (which refuses infill) when it is not pulled.
let coderAPI: OpenAIAPI = {
    let dir = ProcessInfo.processInfo.environment["JETON_MODELS"] ?? (NSHomeDirectory() + "/.cache/jeton/models")
    guard let loaded = try? LoadedModel(path: dir + "/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", threads: 1) else { return api }
    let served = ServedModel(id: "coder", aliases: ["default"], tokenizer: loaded.tokenizer, contextLength: 8192,
                             chatTemplate: loaded.chatTemplate, created: 0)
    return OpenAIAPI(service: NoEngine(), model: served, version: "fuzz")
}()

func fuzzOne(_ bytes: [UInt8]) {
    guard let first = bytes.first else { return }
    let route: APIRoute = first & 1 == 0 ? .completions : first & 2 == 0 ? .chatCompletions : first & 4 == 0 ? .responses
        : first & 8 == 0 ? .messages : first & 16 == 0 ? .countTokens : first & 32 == 0 ? .infill
        : first & 64 == 0 ? .responseInputTokens : .llamaCompletion
    if let e = (route == .infill ? coderAPI : api).validate(route, body: Array(bytes.dropFirst())) {
        // Bad input must be a client error, never a server error.
        if e.status >= 500 { fatalError("server error for client input: \(e)") }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    fuzzOne(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

#if FUZZING
// SwiftPM links executables with `main` defined as `<module>_main`; hand it to libFuzzer's driver.
@_silgen_name("LLVMFuzzerRunDriver")
func runDriver(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
               _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32) -> Int32

@_cdecl("jeton_fuzz_api_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var c = argc
    var v = argv
    return runDriver(&c, &v) { data, size in fuzzerTestOneInput(data, size) }
}
#else
@main
struct Replay {
    static func main() {
        var count = 0
        for arg in CommandLine.arguments.dropFirst() {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: arg)).map { $0.map { arg + "/" + $0 } } ?? [arg]
            for f in files.sorted() {
                guard let d = FileManager.default.contents(atPath: f) else { continue }
                fuzzOne([UInt8](d))
                count += 1
            }
        }
        print("replayed \(count) inputs without a crash")
    }
}
#endif
