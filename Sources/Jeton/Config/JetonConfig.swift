import Foundation
import Yams

/// The effective configuration: defaults, then the YAML file, then `JETON_*`
/// environment variables, then command-line flags. A key that is not a setting
/// or a value of the wrong kind stops start-up with a message naming it.
struct JetonConfig: Sendable {
    struct Failure: Error, CustomStringConvertible { let description: String }

    private(set) var values: [String: ConfigValue]
    private(set) var sources: [String: String] = [:]

    init() {
        values = Dictionary(uniqueKeysWithValues: Setting.all.map { ($0.key, $0.defaultValue) })
    }

    static func setting(_ key: String) -> Setting? { Setting.all.first { $0.key == key } }

    // MARK: - layers

    mutating func apply(yamlFile path: String) throws {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw Failure(description: "cannot read config file \(path)")
        }
        try apply(yaml: text, source: path)
    }

    mutating func apply(yaml text: String, source: String) throws {
        let root: Any?
        do { root = try Yams.load(yaml: text) } catch {
            throw Failure(description: "\(source) is not valid YAML: \(error)")
        }
        guard let root else { return }  // an empty file changes nothing
        guard let top = root as? [AnyHashable: Any] else {
            throw Failure(description: "\(source) must be a mapping of sections (server:, model:, ...)")
        }
        var flat: [(String, Any)] = []
        try Self.flatten(top, prefix: "", into: &flat, source: source)
        for (key, raw) in flat {
            guard let s = Self.setting(key) else {
                throw Failure(description: "\(source): unknown setting \(key)")
            }
            try set(s, Self.value(from: raw, for: s, source: source), source: source)
        }
    }

    mutating func apply(environment env: [String: String]) throws {
        for s in Setting.all {
            guard let raw = env[s.environmentName] else { continue }
            try set(s, Self.parse(raw, for: s, source: s.environmentName), source: s.environmentName)
        }
    }

    /// A command-line flag's value, as text.
    mutating func apply(flag key: String, _ raw: String) throws {
        guard let s = Self.setting(key) else { throw Failure(description: "unknown setting \(key)") }
        try set(s, Self.parse(raw, for: s, source: "--\(key)"), source: "command line")
    }

    private mutating func set(_ s: Setting, _ v: ConfigValue, source: String) throws {
        values[s.key] = v
        sources[s.key] = source
    }

    // MARK: - typed access

    func int(_ key: String) -> Int { if case let .int(i)? = values[key] { return i }; return 0 }
    func double(_ key: String) -> Double { if case let .double(d)? = values[key] { return d }; return 0 }
    func bool(_ key: String) -> Bool { if case let .bool(b)? = values[key] { return b }; return false }
    func string(_ key: String) -> String { if case let .string(s)? = values[key] { return s }; return "" }
    func list(_ key: String) -> [String] { if case let .list(l)? = values[key] { return l }; return [] }

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
            let from = sources[s.key].map { "  # from \($0)" } ?? ""
            out += "  \(parts[1]): \(v)\(from)\n"
        }
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
            } else if prefix.isEmpty {
                throw Failure(description: "\(source): \(full) must be a section holding settings")
            } else {
                out.append((full, v))
            }
        }
    }

    private static func value(from raw: Any, for s: Setting, source: String) throws -> ConfigValue {
        if case .list = s.kind {
            if let a = raw as? [Any] { return .list(a.map { "\($0)" }) }
            if raw is NSNull { return .list([]) }
            throw Failure(description: "\(source): \(s.key) must be a list")
        }
        if raw is NSNull { return s.defaultValue }
        return try parse("\(raw)", for: s, source: source)
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
            return .string(raw)
        case let .choice(options):
            guard options.contains(text) else { throw bad("one of \(options.joined(separator: ", "))") }
            return .string(text)
        case .list:
            return .list(text.isEmpty ? [] : text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
        }
    }
}
