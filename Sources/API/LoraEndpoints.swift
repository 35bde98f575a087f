import Dispatch
import Engine
import HTTP
import Model

/// LoRA adapters in the API: choosing them per request (the `model` field, as vLLM, and
/// llama-server's `lora: [{"id", "scale"}]`), and loading or unloading them at run time
/// (POST /v1/load_lora_adapter, /v1/unload_lora_adapter, as vLLM) with an admin key.
extension OpenAIAPI {
    /// The model a request names and the adapters it asks for: the name answered in responses
    /// and the adapter label of its metrics (nil for the base model).
    /// `unknownIsBase`: a `model` naming neither this model nor an adapter is this model, as
    /// llama-server's own endpoints take it (editor plugins send a name of their own).
    func requestedModel(_ r: FieldReader, unknownIsBase: Bool = false) throws -> (name: String, adapter: String?, adapters: [LoraSelection]) {
        // Without `model` the request goes to this model (the router sent it here), as vLLM and
        // llama-server do; OpenAI itself requires the field.
        var name = try r.string("model") ?? model.id
        var selections: [LoraSelection] = []
        if !model.accepts(name) {
            if let a = lora?.adapter(named: name) {
                selections.append(LoraSelection(adapter: a))
            } else if unknownIsBase {
                name = model.id
            } else {
                throw APIError.modelNotFound(name)
            }
        }
        if let list = r.raw("lora") {
            guard case let .array(items) = list, items.count <= 16 else {
                throw APIError.invalid("`lora` must be an array of at most 16 {\"id\", \"scale\"} objects.", param: "lora")
            }
            for item in items {
                guard case let .object(fields) = item else { throw APIError.invalid("Each `lora` entry must be an object with `id` and `scale`.", param: "lora") }
                if let k = fields.map(\.0).first(where: { $0 != "id" && $0 != "scale" }) {
                    throw APIError.invalid("Unrecognized `lora` entry field `\(k)`: an entry has `id` and `scale`.", param: "lora", code: "unknown_parameter")
                }
                let adapter: LoraAdapter?
                switch item["id"] {
                case let .number(n, _)? where n == n.rounded() && abs(n) < 1e9: adapter = lora?.adapter(at: Int(n))
                case let .string(s)?: adapter = lora?.adapter(named: s)
                default: throw APIError.invalid("Each `lora` entry needs an `id`: an adapter's name, or its position among the adapters of GET /v1/models.", param: "lora")
                }
                // llama-server's own endpoints pass over an adapter that is not there (llama.vscode
                // sends one with every request when its LoRA setting is on).
                if adapter == nil && unknownIsBase { continue }
                guard let adapter else {
                    throw APIError.invalid(lora == nil ? "`lora`: the model `\(model.id)` has no LoRA adapters (they belong to the first generation model)."
                                                       : "`lora` names an adapter that is not loaded.", param: "lora", code: "lora_not_found")
                }
                var scale: Float = 1
                if let s = item["scale"] {
                    guard case let .number(v, _) = s, v.isFinite, abs(v) <= 100 else {
                        throw APIError.invalid("A `lora` scale must be a number between -100 and 100.", param: "lora")
                    }
                    scale = Float(v)
                }
                // The same adapter twice: the last scale wins (llama-server keeps one scale per adapter).
                selections.removeAll { $0.adapter === adapter }
                if scale != 0 { selections.append(LoraSelection(adapter: adapter, scale: scale)) }
            }
        }
        // The base model without a list of its own: the global scales (POST /lora-adapters), if any.
        if selections.isEmpty, r.raw("lora") == nil, model.accepts(name), let registry = lora {
            selections = registry.scaled.filter { $0.scale != 0 }.map { LoraSelection(adapter: $0.adapter, scale: $0.scale) }
        }
        // The label is an adapter that applies (the one `model` names first): one at scale 0 is off
        // (it was counted as used).
        let label = selections.first?.adapter.name
        // One order (the model sums them so), so that [a, b] and [b, a] share cached prefixes.
        if selections.count > 1 {
            selections.sort { ($0.adapter.name, $0.adapter.serial) < ($1.adapter.name, $1.adapter.serial) }
        }
        return (model.accepts(name) ? model.id : name, label, selections)
    }

    /// Each adapter as a model of its own, with the base model as `parent` (vLLM's listing).
    var loraModelsJSON: [JSON] {
        (lora?.all ?? []).map { a in
            model.listed(["id": .string(a.name), "object": "model", "created": JSON(model.created), "owned_by": .string(model.ownedBy),
                          "kind": "generation", "root": .string(a.path), "parent": .string(model.id), "max_model_len": JSON(model.contextLength),
                          "context_length": JSON(model.contextLength), "lora_rank": JSON(a.rank)])
        }
    }

    func loadLoraAdapter(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        let registry = try adminRegistry(request)
        let r = try FieldReader(try Self.parseBody(request))
        let name = try r.requiredString("lora_name"), path = try r.requiredString("lora_path")
        let inPlace = try r.bool("load_inplace") ?? false  // vLLM's: replace an adapter of this name
        try r.refuseUnknown(ignoring: [])
        guard !path.utf8.contains(0) else {
            // The file system would read the path only up to the NUL, and the listing show all of it.
            throw APIError.invalid("`lora_path` must not contain a NUL character.", param: "lora_path")
        }
        guard LoraRegistry.isValidName(name) else {
            throw APIError.invalid("`lora_name` must be 1 to 256 letters, digits or . _ - : / @.", param: "lora_name", code: "invalid_lora_name")
        }
        guard !model.accepts(name), !registry.isReserved(name) else {
            throw APIError.invalid("`lora_name` `\(name)` already names a served model; give the adapter another name.",
                                   param: "lora_name", code: "lora_exists")
        }
        if registry.isMissingInAllowedDirectory(path) {
            throw APIError.invalid("`lora_path`: no file or directory \(path).", param: "lora_path", code: "lora_path_not_found")
        }
        guard registry.isAllowed(path) else {
            throw APIError(.permission,
                           message: "`lora_path` is not inside a directory this server loads adapters from (lora.allowed_dirs).",
                           param: "lora_path", code: "path_not_allowed")
        }
        // Reading and checking a large adapter takes seconds: off the event loop, which would
        // otherwise hold every other connection (and every model's streams) meanwhile. One at a time.
        Self.loraLoads.async { [self] in
            run({ _, responder in
                do {
                    guard try registry.load(name: name, path: path, replace: inPlace) else {
                        throw APIError.invalid("An adapter named `\(name)` is already loaded.", param: "lora_name", code: "lora_exists")
                    }
                } catch let e as APIError {
                    throw e
                } catch {
                    throw APIError.invalid("Cannot load the adapter: \(error)", param: "lora_path", code: "invalid_lora")
                }
                responder.respond(.json(["status": "success", "message": .string("Success: LoRA adapter '\(name)' added successfully.")]))
            }, request, responder)
        }
    }

    private static let loraLoads = DispatchQueue(label: "jeton.lora-load", qos: .userInitiated)

    /// llama-server's GET /lora-adapters: each adapter's position (the `id` of a `lora` entry), path
    /// and global scale.
    /// Paths (where the server's files are) only to an admin key; without admin keys configured the
    /// list is behind the API keys, without them.
    func loraAdapterScales(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        let admin = try checkScaleAccess(request, setting: false)
        let list = (lora?.scaled ?? []).enumerated().map { i, e -> JSON in
            var fields: [(String, JSON)] = [("id", JSON(i)), ("name", .string(e.adapter.name)), ("scale", .number(Double(e.scale)))]
            if admin { fields.insert(("path", .string(e.adapter.path)), at: 2) }
            return .object(fields)
        }
        responder.respond(.json(.array(list)))
    }

    /// llama-server's POST /lora-adapters: `[{"id", "scale"}]` sets the global scales, which requests for
    /// the base model without a `lora` list of their own get; an adapter left out is off.
    func setLoraAdapterScales(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        _ = try checkScaleAccess(request, setting: true)
        guard let registry = lora else {
            throw APIError.invalid("The model `\(model.id)` has no LoRA adapters.", param: nil, code: "lora_not_found")
        }
        guard case let .array(items) = try Self.parseBody(request), items.count <= 256 else {
            throw APIError.invalid("The body must be an array of {\"id\", \"scale\"} objects.", param: nil)
        }
        let adapters = registry.all
        var scales: [(adapter: LoraAdapter, scale: Float)] = []
        for (k, item) in items.enumerated() {
            guard case let .object(fields) = item else { throw APIError.invalid("Entry \(k) must be an object with `id` and `scale`.", param: "[\(k)]") }
            if let f = fields.map(\.0).first(where: { $0 != "id" && $0 != "scale" }) {
                throw APIError.invalid("Unrecognized field `\(f)` in entry \(k): an entry has `id` and `scale`.", param: "[\(k)].\(f)", code: "unknown_parameter")
            }
            let adapter: LoraAdapter?
            switch item["id"] {
            case let .number(n, _)? where n == n.rounded() && n >= 0 && n < Double(adapters.count): adapter = adapters[Int(n)]
            case let .string(s)?: adapter = adapters.first { $0.name == s }
            default: adapter = nil
            }
            guard let adapter else {
                throw APIError.invalid("Entry \(k): `id` must name a loaded adapter by its position in GET /lora-adapters (0 to \(adapters.count - 1)) or its name.",
                                       param: "[\(k)].id", code: "lora_not_found")
            }
            guard case let .number(v, _)? = item["scale"], v.isFinite, abs(v) <= 100 else {
                throw APIError.invalid("Entry \(k): `scale` must be a number between -100 and 100.", param: "[\(k)].scale")
            }
            scales.removeAll { $0.adapter === adapter }
            scales.append((adapter, Float(v)))
        }
        registry.setScales(scales)
        responder.respond(.json(["success": true]))
    }

    /// Setting the global scales changes every tenant's base-model answers: it needs an admin key
    /// (auth.admin_keys; 403 while none is configured, as loading adapters). Reading them needs one
    /// when some are configured (else the API keys, as any route). True when an admin key was shown.
    private func checkScaleAccess(_ request: HTTPRequest, setting: Bool) throws -> Bool {
        guard let keys = lora?.adminKeys, keys.isEnabled else {
            guard !setting else {
                throw APIError(.permission, message: "Setting the adapters' global scales is off: configure auth.admin_keys.",
                               code: "lora_admin_disabled")
            }
            return false
        }
        guard keys.name(in: request.headers) != nil else {
            throw APIError(.authentication, message: "The adapters' global scales need an admin key (auth.admin_keys) as `Authorization: Bearer KEY` (or `x-api-key: KEY`).",
                           code: "invalid_api_key")
        }
        return true
    }

    func unloadLoraAdapter(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        let registry = try adminRegistry(request)
        let r = try FieldReader(try Self.parseBody(request))
        let name = try r.requiredString("lora_name")
        try r.refuseUnknown(ignoring: [])
        guard registry.unload(name: name) else {
            throw APIError(.notFound, message: "No adapter named `\(name)` is loaded.",
                           param: "lora_name", code: "lora_not_found")
        }
        responder.respond(.json(["status": "success", "message": .string("Success: LoRA adapter '\(name)' removed successfully.")]))
    }

    /// The registry, once the request shows an admin key: 401 without one, 403 when runtime loading is off.
    private func adminRegistry(_ request: HTTPRequest) throws -> LoraRegistry {
        guard let registry = lora, let keys = registry.adminKeys, keys.isEnabled, !registry.allowedDirectories.isEmpty else {
            throw APIError(.permission,
                           message: "Loading adapters at run time is off: configure auth.admin_keys and lora.allowed_dirs.",
                           code: "lora_admin_disabled")
        }
        guard keys.name(in: request.headers) != nil else {
            throw APIError(.authentication,
                           message: "Loading and unloading adapters needs an admin key (auth.admin_keys) as `Authorization: Bearer KEY` (or `x-api-key: KEY`).",
                           code: "invalid_api_key")
        }
        return registry
    }
}
