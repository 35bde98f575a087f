import ArgumentParser
import Foundation
import GGUF
import Model
import Tokenizer

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print a model's metadata, tensor types and chat template.")

    @Argument(help: "A catalog name (`default`, `qwen2.5-coder-1.5b`, ...) or a path to a GGUF file.")
    var model: String

    func run() throws {
        let path: String
        let file: GGUFFile
        do {
            path = try ModelStore().resolve(model)
            file = try GGUFFile(path: path)
        } catch let e as ModelStore.Failure {
            note("error: \(e.description)")
            throw ExitCode.failure
        } catch {
            note("error: \(model): \(error)")
            throw ExitCode.failure
        }
        let md = file.metadata
        let arch = md["general.architecture"]?.stringValue ?? "unknown"
        print("file: \(path)")
        print("size: \(formatBytes(file.fileSize)) (\(file.fileSize) bytes)")
        print("gguf version: \(file.version)")
        print("architecture: \(arch)")
        print("quantization: \(ModelQuantization.name(of: file))")
        if let ctx = md["\(arch).context_length"]?.intValue { print("context length: \(ctx)") }

        print("")
        print("metadata (\(file.header.metadataKeys.count) keys):")
        for key in file.header.metadataKeys {
            guard let v = md[key] else { continue }
            if key == "tokenizer.chat_template", let s = v.stringValue {
                print("  \(key) = (\(s.utf8.count) bytes, shown below)")
            } else {
                print("  \(key) = \(Self.format(v))")
            }
        }

        print("")
        var byType: [String: (count: Int, bytes: Int)] = [:]
        for t in file.tensors {
            let e = byType[t.type.name, default: (0, 0)]
            byType[t.type.name] = (e.count + 1, e.bytes + t.byteCount)
        }
        print("tensors (\(file.tensors.count)):")
        for (type, e) in byType.sorted(by: { $0.value.bytes > $1.value.bytes }) {
            let pad = type.padding(toLength: max(6, type.count), withPad: " ", startingAt: 0)
            print("  \(pad)  \(e.count) tensor\(e.count == 1 ? "" : "s"), \(formatBytes(e.bytes)) (\(e.bytes) bytes)")
        }

        // What `suffix` needs on /v1/completions (built only for the answer; a file without a vocabulary has none).
        if let vocab = try? TokenizerVocabulary(metadata: md), let tokenizer = try? Tokenizer(vocab) {
            print("")
            print("fill-in-the-middle (suffix): \(tokenizer.fillInTheMiddleIDs.map { "yes, tokens \($0.prefix) \($0.suffix) \($0.middle)" } ?? "no")")
        }

        print("")
        if let template = md["tokenizer.chat_template"]?.stringValue {
            print("chat template (\(template.contains("tools") ? "supports tools" : "no tools")):")
            print(template)
        } else {
            print("chat template: none")
        }
    }

    /// A value on one line: long arrays (the vocabulary, merges, scores) by their length only.
    static func format(_ v: GGUFValue) -> String {
        switch v {
        case let .string(s):
            let short = s.count > 200 ? String(s.prefix(200)) + "…" : s
            return short.debugDescription
        case let .array(a):
            if a.count > 16 {
                let kind = a.first.map(typeName) ?? "values"
                return "[\(a.count) \(kind)]"
            }
            return "[" + a.map(format).joined(separator: ", ") + "]"
        case let .bool(b): return b ? "true" : "false"
        case let .float32(f): return "\(f)"
        case let .float64(d): return "\(d)"
        default: return v.intValue.map(String.init) ?? "\(v)"
        }
    }

    private static func typeName(_ v: GGUFValue) -> String {
        switch v {
        case .string: return "strings"
        case .float32, .float64: return "floats"
        case .bool: return "bools"
        case .array: return "arrays"
        default: return "integers"
        }
    }
}
