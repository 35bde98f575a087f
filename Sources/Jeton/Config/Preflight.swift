import API
import Foundation
import GGUF
import Model
import Tokenizer

/// Checks of the configuration that need the file system, made before the server listens:
/// a model, template, draft or adapter file that is missing stops start-up at once with a
/// message naming it, rather than after the port is open and `/health` has answered (the
/// models load after listening). Two models answering to one name are refused here too: a
/// served model's name is its `name`, else its file's name, known before it loads.
enum Preflight {
    static func check(_ c: JetonConfig) throws {
        let store = ModelStore()
        var embedding: [String: Bool] = [:]  // each model file, read once: an embedding model's?
        @discardableResult
        func modelFile(_ what: String, _ name: String) throws -> String {
            guard !name.trimmingCharacters(in: .whitespaces).isEmpty else { throw JetonConfig.Failure(description: "\(what) is empty") }
            let path: String
            do { path = try store.resolve(name) } catch { throw JetonConfig.Failure(description: "\(what): \(error)") }
            if !name.contains("/"), !FileManager.default.fileExists(atPath: path), let names = try? ModelStore.catalog().map(\.name) {
                // A mistyped catalog name reads as a missing file: name the catalog's.
                let known = names.joined(separator: ", ")
                throw JetonConfig.Failure(description: "\(what): no file \(path), nor a catalog model of that name "
                                          + "(\(known); `jeton list` shows them)")
            }
            try file(what, path, directoryAllowed: false)
            // Its header too (a few ms, the file is mapped): a file that is not GGUF must not
            // open the port, log "listening" and then fail.
            let header: GGUFFile
            do { header = try GGUFFile(path: path) } catch { throw JetonConfig.Failure(description: "\(what): \(path): \(error)") }
            if header.metadata["general.type"]?.stringValue == "adapter" {
                throw JetonConfig.Failure(description: "\(what): \(ModelError.adapterNotModel(path: path))")
            }
            embedding[path] = LoadedEmbeddingModel.isEmbeddingModel(header)
            return path
        }
        func file(_ what: String, _ path: String, directoryAllowed: Bool) throws {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw JetonConfig.Failure(description: "\(what): no file \(path)")
            }
            if isDirectory.boolValue && !directoryAllowed { throw JetonConfig.Failure(description: "\(what): \(path) is a directory, not a file") }
            guard FileManager.default.isReadableFile(atPath: path) else { throw JetonConfig.Failure(description: "\(what): cannot read \(path)") }
        }
        let models = c.servedModels
        var named: [String: Int] = [:]
        var paths: [String] = []
        for (i, m) in models.enumerated() {
            let path = try modelFile(models.count > 1 ? "models[\(i)].path" : "model.path", m.path)
            paths.append(path)
            let id = m.name ?? LoadedModel.name(ofPath: path)
            if let j = named[id] {
                throw JetonConfig.Failure(description: "models[\(j)] and models[\(i)] are both named `\(id)`; give one of them another `name`")
            }
            named[id] = i
        }
        // Aliases reaching another model: from the files' headers (the kind decides which model is
        // a kind's first, reached by `default`), not after every model has loaded.
        if models.count > 1 {
            var firsts: Set<ModelTable.Kind> = []
            let rows = zip(models, paths).map { m, p -> ModelTable.Row in
                let kind: ModelTable.Kind = embedding[p] == true ? .embedding : .generation
                let (id, aliases) = ServerApp.names(m, path: p, first: firsts.insert(kind).inserted)
                return ModelTable.Row(id: id, aliases: aliases.sorted(), kind: kind)
            }
            try ServerApp.checkAliases(models, paths: paths, rows: rows)
        }
        let template = c[\.modelChatTemplate]
        if !template.isEmpty { try file("model.chat_template", template, directoryAllowed: false) }
        let draft = c[\.speculativeDraftModel]
        if c[\.speculativeMethod] == "draft" && draft.isEmpty {
            throw JetonConfig.Failure(description: "speculative.method draft needs speculative.draft_model (--draft-model NAME)")
        }
        if !draft.isEmpty {
            let draftPath = try modelFile("speculative.draft_model", draft)
            // A draft that will be used is checked against its target (the first text model) from
            // the files' headers, as the load does again later.
            if !c.isSet(\.speculativeMethod) || c[\.speculativeMethod] == "draft" {
                try draftCheck(draft, draftPath, targets: paths)
            }
        }
        // Adapters are the first text model's: with none (an embedding model alone) they would
        // be ignored without a word.
        if !c[\.loraAdapters].isEmpty, !paths.contains(where: { embedding[$0] == false }) {
            throw JetonConfig.Failure(description: "lora.adapters: every served model is an embedding model; adapters apply to a text-generation model")
        }
        // A text model to speculate for: with embedding models alone the setting would do nothing.
        if c[\.speculativeMethod] != "none", !paths.contains(where: { embedding[$0] == false }) {
            throw JetonConfig.Failure(description: "speculative.method \(c[\.speculativeMethod]): every served model is an embedding model; speculation applies to text generation")
        }
        var adapterNames: Set<String> = []
        for entry in c[\.loraAdapters] {
            // NAME=PATH; a PEFT adapter is a directory.
            guard let eq = entry.firstIndex(of: "="), eq != entry.startIndex, entry.index(after: eq) != entry.endIndex else {
                throw JetonConfig.Failure(description: "lora.adapters: \"\(entry)\" is not name=path")
            }
            let name = String(entry[..<eq])
            guard LoraRegistry.isValidName(name) else {
                throw JetonConfig.Failure(description: "lora.adapters: the name `\(name)` must be 1 to 256 letters, digits or . _ - : / @")
            }
            guard adapterNames.insert(name).inserted else {
                throw JetonConfig.Failure(description: "lora.adapters: the name \(name) is given twice")
            }
            // Any name a model answers to (its id, aliases, file and catalog names, `default`).
            var firsts: Set<Bool> = []
            if let i = zip(models, paths).enumerated().first(where: { _, mp in
                let (id, aliases) = ServerApp.names(mp.0, path: mp.1, first: firsts.insert(embedding[mp.1] == true).inserted)
                return id == name || aliases.contains(name)
            })?.offset {
                let model = models.count > 1 ? "models[\(i)]" : "the served model"
                throw JetonConfig.Failure(description: "lora.adapters: \(name) is a name of \(model); give the adapter another name")
            }
            let adapterPath = String(entry[entry.index(after: eq)...])
            try file("lora adapter \(name)", adapterPath, directoryAllowed: true)
            // A GGUF file must be an adapter's (a model given by mistake would fail after listening).
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: adapterPath, isDirectory: &isDirectory), !isDirectory.boolValue,
               let header = try? GGUFFile(path: adapterPath), header.metadata["general.type"]?.stringValue != "adapter" {
                throw JetonConfig.Failure(description: "lora adapter \(name): \(adapterPath) is a model, not a LoRA adapter (general.type is not \"adapter\")")
            }
        }
        // Every load from a folder that is not there would be a 403.
        for dir in c[\.loraAllowedDirs] {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw JetonConfig.Failure(description: "lora.allowed_dirs: \(dir) is not a directory")
            }
        }
        // The admin keys are read when the models load, after listening: checked here first.
        if !c[\.authAdminKeys].isEmpty {
            do { _ = try APIKeyStore(keys: c[\.authAdminKeys], file: nil) } catch {
                throw JetonConfig.Failure(description: "auth.admin_keys: \(error)")
            }
        }
    }

    /// The draft's tokenizer against the first text model's among `targets`, from the files' headers.
    static func draftCheck(_ name: String, _ path: String, targets: [String]) throws {
        let draft: GGUFFile
        do { draft = try GGUFFile(path: path) } catch { throw JetonConfig.Failure(description: "speculative.draft_model \(name): \(error)") }
        if LoadedEmbeddingModel.isEmbeddingModel(draft) {
            throw JetonConfig.Failure(description: "speculative.draft_model \(name) is an embedding model: a draft model generates text with the target's tokenizer")
        }
        for t in targets {
            guard let target = try? GGUFFile(path: t), !LoadedEmbeddingModel.isEmbeddingModel(target) else { continue }
            // Unreadable tokenizers are left to the load, which names what is wrong.
            guard let tv = try? TokenizerVocabulary(metadata: target.metadata),
                  let dv = try? TokenizerVocabulary(metadata: draft.metadata) else { return }
            if let d = SpeculativeDraftCheck.difference(target: tv, draft: dv) {
                throw JetonConfig.Failure(description: "draft model \(LoadedModel.name(ofPath: path)) cannot draft for \(LoadedModel.name(ofPath: t)): its tokenizer differs: \(d)")
            }
            return
        }
    }
}
