import Foundation
import Model

/// The LoRA adapters a server holds for its base model, by name, in load order (llama-server's
/// per-request `lora` ids are positions in it). Loaded at start (`--lora NAME=PATH`) or at run
/// time by POST /v1/load_lora_adapter, from the configured directories only.
// @unchecked Sendable: `adapters` is only read or changed under `lock`; the other properties are `let`s.
public final class LoraRegistry: @unchecked Sendable {
    /// Reads an adapter file or PEFT directory for the served model (checked against its shapes).
    public typealias Loader = @Sendable (_ name: String, _ path: String) throws -> LoraAdapter

    private let lock = NSLock()
    private var adapters: [LoraAdapter] = []
    /// llama-server's global scales (POST /lora-adapters), by adapter serial: what requests for the
    /// base model without a `lora` list of their own get. None by default (vLLM's base is the base).
    private var globalScales: [Int: Float] = [:]
    /// The names of every served model (ids and aliases): an adapter of one of them would never
    /// be reached. Set by the router before the API answers.
    private var reserved: Set<String> = []
    let loader: Loader
    /// Real paths of the directories runtime loads may read from; empty: runtime loading is refused.
    public let allowedDirectories: [String]
    /// Keys that may load and unload adapters (`auth.admin_keys`); none: the endpoints are off.
    public let adminKeys: APIKeyStore?

    public init(loader: @escaping Loader, allowedDirectories: [String], adminKeys: APIKeyStore?) {
        self.loader = loader
        self.allowedDirectories = allowedDirectories.map { Self.realPath($0) ?? $0 }
        self.adminKeys = adminKeys
    }

    public var all: [LoraAdapter] { lock.withLock { adapters } }

    /// Every adapter with its global scale (0: off), in load order.
    public var scaled: [(adapter: LoraAdapter, scale: Float)] {
        lock.withLock { adapters.map { ($0, globalScales[$0.serial] ?? 0) } }
    }

    /// Sets the global scales: the adapters given at theirs, every other one off (as llama-server's
    /// POST /lora-adapters replaces its list).
    public func setScales(_ scales: [(adapter: LoraAdapter, scale: Float)]) {
        lock.withLock {
            globalScales = [:]
            for (a, s) in scales where s != 0 { globalScales[a.serial] = s }
        }
    }

    public func reserve(_ names: Set<String>) { lock.withLock { reserved = names } }

    /// Names travel in log lines and metric labels unquoted: 1 to 256 letters, digits and . _ - : / @.
    public static func isValidName(_ name: String) -> Bool {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:/@")
        return !name.isEmpty && name.count <= 256 && name.allSatisfy { allowed.contains($0) }
    }

    public func isReserved(_ name: String) -> Bool { lock.withLock { reserved.contains(name) } }

    public func adapter(named name: String) -> LoraAdapter? { lock.withLock { adapters.first { $0.name == name } } }

    public func adapter(at index: Int) -> LoraAdapter? {
        lock.withLock { index >= 0 && index < adapters.count ? adapters[index] : nil }
    }

    /// Loads and adds an adapter; false when the name is taken (nothing is loaded then).
    /// `replace`: an adapter already of this name gives way to the new one, in its place
    /// (vLLM's `load_inplace`); requests running with the old one keep it.
    @discardableResult
    public func load(name: String, path: String, replace: Bool = false) throws -> Bool {
        guard replace || adapter(named: name) == nil else { return false }
        let a = try loader(name, path)
        return lock.withLock {
            if let i = adapters.firstIndex(where: { $0.name == name }) {
                guard replace else { return false }
                adapters[i] = a
                return true
            }
            adapters.append(a)
            return true
        }
    }

    /// Removes an adapter by name; sequences already running with it keep their reference.
    public func unload(name: String) -> Bool {
        lock.withLock {
            guard let i = adapters.firstIndex(where: { $0.name == name }) else { return false }
            adapters.remove(at: i)
            return true
        }
    }

    /// Whether `path`, with links resolved, lies inside one of the allowed directories.
    public func isAllowed(_ path: String) -> Bool {
        guard let real = Self.realPath(path) else { return false }
        return isInside(real)
    }

    /// A path that does not exist but whose directory is allowed: a client may learn that much
    /// (and gets "no such file", not "not allowed"); of other directories it learns nothing.
    public func isMissingInAllowedDirectory(_ path: String) -> Bool {
        guard Self.realPath(path) == nil else { return false }
        // The nearest directory above it that exists (a missing subdirectory too).
        var dir = (path as NSString).deletingLastPathComponent
        while true {
            if let real = Self.realPath(dir.isEmpty ? "." : dir) { return isInside(real) }
            let up = (dir as NSString).deletingLastPathComponent
            guard up != dir, !dir.isEmpty else { return false }
            dir = up
        }
    }

    private func isInside(_ real: String) -> Bool {
        allowedDirectories.contains { dir in real == dir || real.hasPrefix(dir.hasSuffix("/") ? dir : dir + "/") }
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }
}
