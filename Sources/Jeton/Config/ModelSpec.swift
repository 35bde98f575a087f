import Foundation

/// One model of the `models:` list (or of a repeated `--model` flag): which file to serve
/// and the settings it overrides for itself. A field left out takes the global setting
/// (`threads` → model.threads, ...), so a list entry is checked by that setting's own rule.
struct ModelSpec: Sendable, Equatable {
    var path: String
    var name: String?
    var aliases: [String] = []
    var threads: Int?
    var contextLength: Int?
    var cacheTokens: Int?
    var maxWaiting: Int?

    /// The fields an entry may have, with the global setting each one overrides (nil: none)
    /// and its meaning. scripts/make-config-yaml.py documents the list from these rows.
    static let fields: [(name: String, setting: String?, help: String)] = [
        ("path", nil, "GGUF file or catalog name (required)"),
        ("name", nil, "name clients use in `model` (default: the model's own name)"),
        ("aliases", nil, "other names that reach this model"),
        ("threads", "model.threads", "threads of this model's forward pass (0: all cores; the models' pools share the cores)"),
        ("context_length", "model.context_length", "longest prompt plus output per request (0: the model's)"),
        ("cache_tokens", "engine.cache_tokens", "KV cache size in tokens of this generation model"),
        ("max_waiting", "engine.max_waiting", "queued requests of this model at most; more get 429"),
    ]

    init(path: String) { self.path = path }

    /// Reads the `index`th entry of a YAML `models:` list: a mapping, or a bare path.
    static func parse(_ raw: Any, index: Int, source: String) throws -> ModelSpec {
        let at = "\(source): models[\(index)]"
        if let path = raw as? String { return ModelSpec(path: path) }
        guard let map = raw as? [AnyHashable: Any] else {
            throw JetonConfig.Failure(description: "\(at) must be a mapping (path:, name:, ...) or a model path")
        }
        var fields: [String: Any] = [:]
        for (k, v) in map {
            guard let key = k as? String, Self.fields.contains(where: { $0.name == key }) else {
                let near = JetonConfig.nearest("\(k)", among: Self.fields.map(\.name)).map { " (did you mean \($0)?)" } ?? ""
                throw JetonConfig.Failure(description: "\(at): unknown field \(k)\(near); fields: \(Self.fields.map(\.name).joined(separator: ", "))")
            }
            fields[key] = v
        }
        // Scalars only: a mapping or a list is never read as its debug text.
        func text(_ field: String, _ v: Any) throws -> String {
            guard let t = JetonConfig.scalarText(v) else {
                throw JetonConfig.Failure(description: "\(at).\(field) must be a single value, not a mapping or a list")
            }
            return t.trimmingCharacters(in: .whitespaces)
        }
        guard let rawPath = fields["path"], !(rawPath is NSNull), case let path = try text("path", rawPath), !path.isEmpty else {
            throw JetonConfig.Failure(description: "\(at) needs a path (a GGUF file or a catalog name)")
        }
        var spec = ModelSpec(path: path)
        spec.name = try fields["name"].flatMap { $0 is NSNull ? nil : try text("name", $0) }
        if spec.name?.trimmingCharacters(in: .whitespaces).isEmpty == true {
            throw JetonConfig.Failure(description: "\(at).name is empty: leave it out to use the file's own name")
        }
        switch fields["aliases"] {
        case nil, is NSNull: break
        case let list as [Any]: spec.aliases = try list.enumerated().map { try text("aliases[\($0.offset)]", $0.element) }
        case is [AnyHashable: Any]:
            throw JetonConfig.Failure(description: "\(at).aliases must be a list of names (or one name), not a mapping")
        case let one?: spec.aliases = [try text("aliases", one)]
        }
        if spec.aliases.contains(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
            throw JetonConfig.Failure(description: "\(at).aliases holds an empty name")
        }
        func int(_ field: String) throws -> Int? {
            guard let v = fields[field], !(v is NSNull),
                  let key = Self.fields.first(where: { $0.name == field })?.setting, let s = JetonConfig.setting(key) else { return nil }
            guard case let .int(i) = try JetonConfig.parse(try text(field, v), for: s, source: "\(at).\(field)") else { return nil }
            return i
        }
        spec.threads = try int("threads")
        spec.contextLength = try int("context_length")
        spec.cacheTokens = try int("cache_tokens")
        spec.maxWaiting = try int("max_waiting")
        return spec
    }

    /// The entry as one line of YAML flow mapping, for `--print-config`.
    var rendered: String {
        var parts = ["path: \(path)"]
        if let name { parts.append("name: \(name)") }
        if !aliases.isEmpty { parts.append("aliases: [\(aliases.joined(separator: ", "))]") }
        if let threads { parts.append("threads: \(threads)") }
        if let contextLength { parts.append("context_length: \(contextLength)") }
        if let cacheTokens { parts.append("cache_tokens: \(cacheTokens)") }
        if let maxWaiting { parts.append("max_waiting: \(maxWaiting)") }
        return "{" + parts.joined(separator: ", ") + "}"
    }
}
