import Foundation
import Logging

/// Log lines on stderr, as plain text or one JSON object per line.
enum LogSetup {
    static func bootstrap(format: String, level: String) {
        let lvl = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { label in
            var h: LogHandler = format == "json" ? JSONLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            h.logLevel = lvl
            return h
        }
    }
}

/// One JSON object per line: time, level, label, message and metadata.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    private static let lock = NSLock()

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        write(level: event.level, message: event.message, metadata: event.metadata)
    }

    private func write(level: Logger.Level, message: Logger.Message, metadata extra: Logger.Metadata?) {
        // Formatters are not thread-safe on Linux: format under the lock too.
        Self.lock.withLock {
            var fields: [String: Any] = [
                "time": ISO8601DateFormatter.shared.string(from: Date()), "level": level.rawValue,
                "logger": label, "message": message.description,
            ]
            for (k, v) in metadata.merging(extra ?? [:], uniquingKeysWith: { $1 }) { fields[k] = Self.plain(v) }
            guard let data = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]) else { return }
            FileHandle.standardError.write(data + Data("\n".utf8))
        }
    }

    static func plain(_ v: Logger.Metadata.Value) -> Any {
        switch v {
        case let .string(s): return s
        case let .stringConvertible(c):
            if let i = c as? Int { return i }
            if let d = c as? Double { return d }
            if let b = c as? Bool { return b }
            return c.description
        case let .array(a): return a.map(plain)
        case let .dictionary(d): return d.mapValues(plain)
        }
    }
}

extension ISO8601DateFormatter {
    nonisolated(unsafe) static let shared: ISO8601DateFormatter = {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f
    }()
}
