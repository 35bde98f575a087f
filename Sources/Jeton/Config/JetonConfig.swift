import Foundation
import Yams

/// The effective configuration: defaults, then the YAML file, then `JETON_*`
/// environment variables, then command-line flags. A key that is not a setting
/// or a value of the wrong kind stops start-up with a message naming it (and the
/// setting it most likely meant). The code reads it through typed keys:
/// `config[\.serverPort]` is an Int.
struct JetonConfig: Sendable {
    struct Failure: Error, CustomStringConvertible { let description: String }

    private(set) var values: [String: ConfigValue]
    private(set) var sources: [String: String] = [:]
    /// `JETON_*` variables that look like settings but are none (ignored, as other variables are).
    private(set) var warnings: [String] = []
    /// The `models:` list (several models in one process); empty: model.path alone is served.
    /// Not a `Setting`: it is a list of mappings, set by the file or by a repeated `--model`
    /// (no environment variable: JETON_MODELS is the model directory).
    private(set) var models: [ModelSpec] = []
    private(set) var modelsSource: String?

    init() {
        values = Dictionary(uniqueKeysWithValues: Setting.all.map { ($0.key, $0.defaultValue) })
    }

    static func setting(_ key: String) -> Setting? { Setting.all.first { $0.key == key } }

    /// The value of a setting, of the type it is declared with.
    subscript<Value>(_ key: KeyPath<ConfigKeys, ConfigKey<Value>>) -> Value {
        let k = ConfigKeys.shared[keyPath: key]
        // `values` holds a value of the setting's kind for every key (defaults, then parsed by kind).
        return values[k.setting.key].flatMap(Value.init(configValue:)) ?? k.defaultValue
    }

    /// Whether a file, variable or flag set the setting (not its default).
    func isSet<Value>(_ key: KeyPath<ConfigKeys, ConfigKey<Value>>) -> Bool {
        sources[ConfigKeys.shared[keyPath: key].setting.key] != nil
    }

    // MARK: - layers

    mutating func apply(yamlFile path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw Failure(description: "config file \(path) does not exist")
        }
        guard !isDirectory.boolValue else { throw Failure(description: "config file \(path) is a directory") }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Failure(description: "cannot read config file \(path) (no permission, or not UTF-8 text)")
        }
        try apply(yaml: text, source: path)
    }

    mutating func apply(yaml text: String, source: String) throws {
        let root: Any?
        // Scalars stay the text written (only null and merge keys resolve): each setting parses its
        // own, so `port: 08080` is 8080, not the float 8080.0, and an error quotes what the user
        // wrote (`method: off` said it got "false").
        let resolver = Resolver.default.removing(.bool).removing(.int).removing(.float).removing(.timestamp).removing(.value)
        do { root = try Yams.load(yaml: text, resolver) } catch {
            // One line: the parser's own message spans several (a context block under it).
            let line = "\(error)".split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty && !$0.allSatisfy { $0 == "^" } }.joined(separator: " ")
            throw Failure(description: "\(source) is not valid YAML: \(line)")
        }
        guard let root else { return }  // an empty file changes nothing
        guard let top = root as? [AnyHashable: Any] else {
            throw Failure(description: "\(source) must be a mapping of sections (server:, model:, ...)")
        }
        var sections = top
        if let list = sections.removeValue(forKey: AnyHashable("models")) {
            switch list {
            case is NSNull: setModels([], source: source)
            case let items as [Any]:
                setModels(try items.enumerated().map { try ModelSpec.parse($1, index: $0, source: source) }, source: source)
            default: throw Failure(description: "\(source): models must be a list of models (- path: ..., name: ...)")
            }
        }
        var flat: [(String, Any)] = []
        try Self.flatten(sections, prefix: "", into: &flat, source: source)
        for (key, raw) in flat {
            guard let s = Self.setting(key) else { throw Failure(description: "\(source): \(Self.unknown(key))") }
            try set(s, Self.value(from: raw, for: s, source: source), source: source)
        }
    }

    mutating func apply(environment env: [String: String]) throws {
        for s in Setting.all {
            guard let raw = env[s.environmentName] else { continue }
            // Set but blank, the keys would mean no authentication: an empty secret fails closed.
            if Self.failsOpenWhenBlank.contains(s.key) && Self.isBlank(raw) {
                throw Failure(description: "\(s.environmentName) is set but empty (an empty secret?); unset it to serve without API keys")
            }
            let value = try Self.parse(raw, for: s, source: s.environmentName)
            // Only commas (",", " , ") is no key either: fail closed as for a blank value.
            if Self.failsOpenWhenBlank.contains(s.key), case .list(let l) = value, l.isEmpty {
                throw Failure(description: "\(s.environmentName) holds no key (only commas); unset it to serve without API keys")
            }
            try set(s, value, source: s.environmentName)
        }
        // Other JETON_* variables exist (JETON_MODELS, JETON_KERNELS ...), so only names inside a
        // settings section, or close to a setting's (a misspelt section), are suspect.
        let names = Set(Setting.all.map(\.environmentName))
        let prefixes = Setting.sections.map { "JETON_" + $0.uppercased() + "_" }
        for name in env.keys.sorted() where name.hasPrefix("JETON_") && !names.contains(name) {
            let near = Self.nearest(name, among: Setting.all.map(\.environmentName))
            guard prefixes.contains(where: name.hasPrefix) || near != nil else { continue }
            warnings.append("\(name) is not a setting\(near.map { " (did you mean \($0)?)" } ?? ""); ignored")
        }
    }

    /// Settings whose blank value would serve without authentication.
    static let failsOpenWhenBlank: Set<String> = ["auth.api_keys", "auth.key_file"]

    static func isBlank(_ text: String) -> Bool { text.trimmingCharacters(in: .whitespaces).isEmpty }

    /// A command-line flag's value, as text; `name` is the flag as typed (e.g. `--threads`).
    mutating func apply(flag s: Setting, _ raw: String, name: String) throws {
        if Self.failsOpenWhenBlank.contains(s.key) && Self.isBlank(raw) {
            throw Failure(description: "\(name) is given an empty value (an unset shell variable?)")
        }
        try set(s, Self.parse(raw, for: s, source: name), source: "command line")
    }

    /// A list setting from a repeatable flag: each value is one entry, commas and all.
    mutating func apply(flagList s: Setting, _ values: [String], flag: String) throws {
        if values.contains(where: Self.isBlank) {
            throw Failure(description: "\(flag) is given an empty value (an unset shell variable?)")
        }
        try set(s, .list(values.map { $0.trimmingCharacters(in: .whitespaces) }), source: "command line")
    }

    /// Replaces the `models:` list (flags replace the file's).
    mutating func setModels(_ list: [ModelSpec], source: String) {
        models = list
        modelsSource = source
    }

    /// The models to serve, each with every per-model value filled in from the global settings:
    /// the `models:` list, or model.path alone (named by model.name) when the list is empty.
    var servedModels: [ModelSpec] {
        var list = models
        if list.isEmpty {
            var only = ModelSpec(path: self[\.modelPath])
            if !self[\.modelName].isEmpty { only.name = self[\.modelName] }
            list = [only]
        }
        return list.map { m in
            var m = m
            m.threads = m.threads ?? self[\.modelThreads]
            m.contextLength = m.contextLength ?? self[\.modelContextLength]
            m.cacheTokens = m.cacheTokens ?? self[\.engineCacheTokens]
            m.maxWaiting = m.maxWaiting ?? self[\.engineMaxWaiting]
            return m
        }
    }

    private mutating func set(_ s: Setting, _ v: ConfigValue, source: String) throws {
        values[s.key] = v
        sources[s.key] = source
    }

    // MARK: - unknown keys

    /// Why `key` (from a file) is no setting, naming the one it most likely meant.
    static func unknown(_ key: String) -> String {
        let section = String(key.prefix { $0 != "." })
        if !Setting.sections.contains(section) {
            let near = nearest(section, among: Setting.sections).map { "did you mean \($0)?" }
                ?? "sections: " + Setting.sections.joined(separator: ", ")
            return "unknown setting \(key): no section \(section) (\(near))"
        }
        let near = nearest(key, among: Setting.all.map(\.key)).map { " (did you mean \($0)?)" } ?? ""
        return "unknown setting \(key)\(near)"
    }

    /// The candidate closest to `text` by edit distance, if close enough to be a slip.
    static func nearest(_ text: String, among candidates: [String]) -> String? {
        let a = Array(text.lowercased().utf8)
        var best: (String, Int)?
        for c in candidates {
            let d = editDistance(a, Array(c.lowercased().utf8))
            if d < (best?.1 ?? .max) { best = (c, d) }
        }
        guard let (c, d) = best, d > 0, d <= max(2, a.count / 4) else { return nil }
        return c
    }

    static func editDistance(_ a: [UInt8], _ b: [UInt8]) -> Int {
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    /// The effective configuration as YAML, secrets masked.
    func rendered() -> String {
        var out = "# effective configuration (defaults < config file < JETON_* environment < flags)\n"
        var section = ""
        for s in Setting.all {
            let parts = s.key.split(separator: ".")
            if String(parts[0]) != section {
                section = String(parts[0])
                out += "\(section):\n"
            }
            var v = values[s.key] ?? s.defaultValue
            if s.secret, case let .list(l) = v { v = .list(l.map(Self.mask)) }
            var from = sources[s.key].map { "  # from \($0)" } ?? ""
            if s.key == "speculative.method", sources[s.key] == nil, !self[\.speculativeDraftModel].isEmpty {
                // A draft model alone selects draft speculation (ServerApp+Speculation).
                v = .string("draft")
                from = "  # implied by speculative.draft_model"
            }
            out += "  \(parts[1]): \(v)\(from)\n"
        }
        let from = modelsSource.map { "  # from \($0)" } ?? ""
        out += models.isEmpty ? "models: []\(from)\n" : "models:\(from)\n" + models.map { "  - \($0.rendered)\n" }.joined()
        return out
    }

    /// "team:sk-abc123" → "team:****"; a bare key → "****".
    static func mask(_ entry: String) -> String {
        if let colon = entry.firstIndex(of: ":") { return String(entry[..<colon]) + ":****" }
        return "****"
    }

    // MARK: - parsing

    private static func flatten(_ dict: [AnyHashable: Any], prefix: String, into out: inout [(String, Any)], source: String) throws {
        for (k, v) in dict {
            guard let key = k as? String else { throw Failure(description: "\(source): keys must be strings, got \(k)") }
            let full = prefix.isEmpty ? key : prefix + "." + key
            if let sub = v as? [AnyHashable: Any], prefix.isEmpty {
                try flatten(sub, prefix: full, into: &out, source: source)
            } else if prefix.isEmpty && v is NSNull && Setting.sections.contains(key) {
                continue  // a section whose settings are all commented out
            } else if prefix.isEmpty {
                throw Failure(description: "\(source): \(full) must be a section holding settings")
            } else {
                out.append((full, v))
            }
        }
    }

    /// A YAML scalar as text (a string, number or boolean), or nil for a mapping, a list or null.
    static func scalarText(_ raw: Any) -> String? {
        if raw is NSNull || raw is [Any] || raw is [AnyHashable: Any] { return nil }
        return "\(raw)"
    }

    private static func value(from raw: Any, for s: Setting, source: String) throws -> ConfigValue {
        if case .list = s.kind {
            if raw is NSNull { return .list([]) }
            // `- team: sk-abc` is a mapping in YAML, not the text "team: sk-abc": say so, never stringify it.
            guard let a = raw as? [Any] else { throw Failure(description: "\(source): \(s.key) must be a list") }
            return .list(try a.map { item in
                guard let t = scalarText(item) else {
                    throw Failure(description: "\(source): \(s.key) must be a list of strings; an entry is \(item is NSNull ? "empty" : "a mapping or a list")"
                                  + " (quote entries such as \"team:sk-...\", and write no space after the colon)")
                }
                return t.trimmingCharacters(in: .whitespaces)
            })
        }
        // `port:` with nothing after it: a value left out, not the default (which the file's
        // source label would then have claimed).
        if raw is NSNull {
            throw Failure(description: "\(source): \(s.key) has no value; give one, or remove the line for the default")
        }
        guard let text = scalarText(raw) else {
            throw Failure(description: "\(source): \(s.key) must be a single value, not a mapping or a list")
        }
        return try parse(text, for: s, source: source)
    }

    static func parse(_ raw: String, for s: Setting, source: String) throws -> ConfigValue {
        let text = raw.trimmingCharacters(in: .whitespaces)
        func bad(_ what: String) -> Failure { Failure(description: "\(source): \(s.key) must be \(what), got \"\(raw)\"") }
        switch s.kind {
        case let .int(range):
            guard let i = Int(text) else { throw bad("an integer") }
            guard range.contains(i) else { throw bad("between \(range.lowerBound) and \(range.upperBound)") }
            return .int(i)
        case let .double(range):
            guard let d = Double(text), d.isFinite else { throw bad("a number") }
            guard range.contains(d) else { throw bad("between \(range.lowerBound) and \(range.upperBound)") }
            return .double(d)
        case .bool:
            switch text.lowercased() {
            case "true", "yes", "on", "1": return .bool(true)
            case "false", "no", "off", "0": return .bool(false)
            default: throw bad("true or false")
            }
        case .string:
            // Blanks around a value (an env var written " 0.0.0.0 ") are never meant.
            if s.key == "server.host" {
                if text.isEmpty { throw bad("a host name or address") }
                // `[::1]`, as a URL writes it, is the address ::1.
                if text.hasPrefix("["), text.hasSuffix("]"), text.count > 2 { return .string(String(text.dropFirst().dropLast())) }
            }
            return .string(text)
        case let .choice(options):
            guard options.contains(text) else { throw bad("one of \(options.joined(separator: ", "))") }
            return .string(text)
        case .list:
            return .list(text.isEmpty ? [] : text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        }
    }
}
