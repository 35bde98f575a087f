import API
import Foundation
import Model

/// LoRA adapters of a served model: those of `lora.adapters` (`--lora NAME=PATH`) loaded at
/// start, and the registry POST /v1/load_lora_adapter adds to.
extension ServerApp {
    /// The run-time endpoints check their admin key themselves (auth.admin_keys), apart from the
    /// API keys, once admin keys are configured.
    static let loraAdminPaths: Set<String> = ["/v1/load_lora_adapter", "/v1/unload_lora_adapter", "/lora-adapters"]

    static func loraRegistry(_ config: JetonConfig, model: LlamaModel) throws -> LoraRegistry {
        let admin = config[\.authAdminKeys].isEmpty ? nil : try APIKeyStore(keys: config[\.authAdminKeys], file: nil)
        let registry = LoraRegistry(loader: { name, path in try LoraAdapter.load(name: name, path: path, for: model) },
                                    allowedDirectories: config[\.loraAllowedDirs], adminKeys: admin)
        for entry in config[\.loraAdapters] {
            guard let eq = entry.firstIndex(of: "="), eq != entry.startIndex, entry.index(after: eq) != entry.endIndex else {
                throw JetonConfig.Failure(description: "lora.adapters: \"\(entry)\" is not name=path")
            }
            let name = String(entry[..<eq]), path = String(entry[entry.index(after: eq)...])
            do {
                guard try registry.load(name: name, path: path) else {
                    throw JetonConfig.Failure(description: "lora.adapters: the name \(name) is given twice")
                }
            } catch let e as JetonConfig.Failure {
                throw e
            } catch {
                throw JetonConfig.Failure(description: "LoRA adapter \(name) (\(path)): \(error)")
            }
        }
        return registry
    }
}
