import Foundation
import HTTP
import Synchronization

/// The accepted API keys, each with a name for metrics and logs (`name:key`
/// entries; a bare key is named key-N). Lookups compare in constant time, and
/// keys never leave this type.
public final class APIKeyStore: Sendable {
    private struct Entry {
        let name: String
        let key: [UInt8]
    }

    /// Replaced whole on reload (SIGHUP) while requests look keys up.
    private let entries = Mutex<[Entry]>([])
    private let fixed: [String]
    private let file: String?

    public struct Failure: Error, CustomStringConvertible { public let description: String }

    /// `keys` from the config or flags; `file` holds more, one `name:key` per line (# comments).
    public init(keys: [String], file: String?) throws {
        fixed = keys
        self.file = file?.isEmpty == true ? nil : file
        try reload()
    }

    public var isEnabled: Bool { entries.withLock { !$0.isEmpty } }
    public var count: Int { entries.withLock { $0.count } }

    /// Reads the key file again (SIGHUP); on error (unreadable, a bad entry, no key) the old keys stay.
    public func reload() throws {
        // Each entry with where it came from, for the messages: the n-th configured key, or a
        // line of the file as an editor numbers it.
        var lines: [(text: String, place: String)] = fixed.enumerated().map {
            ($1.trimmingCharacters(in: .whitespaces), "configured key \($0 + 1)")
        }
        if let f = file {
            guard let text = try? String(contentsOfFile: f, encoding: .utf8) else {
                throw Failure(description: "cannot read the API key file \(f)")
            }
            let fileLines = text.replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false)
            for (n, raw) in fileLines.enumerated() {
                let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
                if !line.isEmpty && !line.hasPrefix("#") { lines.append((line, "\(f) line \(n + 1)")) }
            }
        }
        var parsed: [Entry] = []
        var places: [(name: String, key: String, place: String)] = []
        for (line, place) in lines {
            let (name, key): (String, String)
            if let c = line.firstIndex(of: ":") {
                // `name: key` (a space after the colon, as YAML writes it) is `name:key`: a client
                // presents the key without it.
                (name, key) = (line[..<c].trimmingCharacters(in: .whitespaces), line[line.index(after: c)...].trimmingCharacters(in: .whitespaces))
            } else {
                (name, key) = ("key-\(parsed.count + 1)", line)
            }
            guard !key.isEmpty, !name.isEmpty else { throw Failure(description: "an API key entry is empty (\(place))") }
            guard key.utf8.count >= 8 else { throw Failure(description: "API key \(name) is shorter than 8 characters (\(place))") }
            // One key under two names would always be taken for the last (its first name's
            // metrics and limits silently empty). (A name may hold several keys: a rotation; the
            // same entry twice is one.)
            if let same = places.first(where: { $0.key == key && $0.name != name }) {
                throw Failure(description: "API key \(name) (\(place)) is the same key as \(same.name) (\(same.place)); give each key once")
            }
            places.append((name, key, place))
            parsed.append(Entry(name: name, key: Array(key.utf8)))
        }
        // A key file that holds no key (emptied, or comments only) must not turn authentication
        // off: a server started with keys stays closed, and keeps its old keys on a reload.
        if let f = file, parsed.isEmpty {
            throw Failure(description: "the API key file \(f) holds no key")
        }
        entries.withLock { $0 = parsed }
    }

    /// The credentials a request presents, as `Authorization` values: that header, and
    /// Anthropic's `x-api-key: KEY` (its SDK's and Claude Code's way) as `Bearer KEY`. The SDK
    /// sends both when a user has set both of its variables: either may hold the key.
    /// Empty ones (`Authorization:`, a bare `Bearer`, `x-api-key:`) present nothing.
    public static func credentials(_ headers: HTTPHeaders) -> [String] {
        let bearer = headers["Authorization"].flatMap { a -> String? in
            let t = a.trimmingCharacters(in: .whitespaces)
            return t.isEmpty || t.lowercased() == "bearer" ? nil : a
        }
        let key = headers["x-api-key"].map { $0.trimmingCharacters(in: .whitespaces) }.flatMap { $0.isEmpty ? nil : "Bearer " + $0 }
        return [bearer, key].compactMap { $0 }
    }

    /// The name of the key a request presents in either header, or nil.
    public func name(in headers: HTTPHeaders) -> String? {
        for c in Self.credentials(headers) { if let n = name(forAuthorization: c) { return n } }
        return nil
    }

    /// Who a request presenting a key in either header is (`identity(forAuthorization:)`).
    public func identity(in headers: HTTPHeaders) -> String? {
        for c in Self.credentials(headers) { if let n = identity(forAuthorization: c) { return n } }
        return nil
    }

    /// The name of the key a request presents in `Authorization: Bearer KEY`, or nil.
    public func name(forAuthorization header: String?) -> String? {
        guard let h = header else { return nil }
        let parts = h.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        let presented = Array(parts[1].trimmingCharacters(in: .whitespaces).utf8)
        let all = entries.withLock { $0 }
        var found: String?
        // Compare against every key, each in time independent of where they differ.
        for e in all where Self.constantTimeEqual(e.key, presented) { found = e.name }
        return found
    }

    /// Who a request presenting `Authorization: Bearer KEY` is, as the key itself (a digest of
    /// it, seeded per process): unlike its name, which a reload may give to another key (bare keys
    /// are named by position), and which several keys may share. Nil when no key matches.
    public func identity(forAuthorization header: String?) -> String? {
        guard let h = header, name(forAuthorization: h) != nil else { return nil }
        let presented = h.split(separator: " ", maxSplits: 1)[1].trimmingCharacters(in: .whitespaces)
        var hasher = Hasher()
        hasher.combine(presented)
        return String(hasher.finalize(), radix: 36)
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt(bitPattern: a.count ^ b.count)
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            diff |= UInt(x ^ y)
        }
        return diff == 0
    }
}
