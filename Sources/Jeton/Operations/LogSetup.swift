import Foundation
import Logging

/// Log lines on stderr, as plain text or one JSON object per line.
enum LogSetup {
    static func bootstrap(format: String, level: String) {
        let lvl = Logger.Level(rawValue: level) ?? .info
        LoggingSystem.bootstrap { label in
            var h: LogHandler = format == "json" ? JSONLogHandler(label: label)
                                                 : EscapingTextLogHandler(inner: StreamLogHandler.standardError(label: label))
            h.logLevel = lvl
            return h
        }
    }
}

/// Start-up notes (warnings, errors before the logger exists) in the log's own format, so a
/// JSON log collector never meets a plain line.
enum StartupNote {
    static func write(_ level: Logger.Level, _ text: String, json: Bool) {
        guard json else { return note("\(level == .warning ? "warning" : "error"): \(text)") }
        let fields: [String: Any] = ["time": ISO8601DateFormatter.shared.string(from: Date()), "level": level.rawValue,
                                     "logger": "jeton", "message": text]
        guard let data = try? JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys]) else { return }
        FileHandle.standardError.write(data + Data("\n".utf8))
    }
}

/// Text lines as swift-log's stream handler writes them, with control characters escaped: a
/// logged prompt or output (`logging.log_prompts`) cannot start a forged line or send terminal
/// escapes. (The JSON handler escapes by its format.)
struct EscapingTextLogHandler: LogHandler {
    var inner: StreamLogHandler

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }
    var metadata: Logger.Metadata {
        get { inner.metadata }
        set { inner.metadata = newValue }
    }
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { inner[metadataKey: key] }
        set { inner[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        var e = event
        e.message = Logger.Message(stringLiteral: Self.escape(e.message.description))
        e.metadata = e.metadata?.mapValues(Self.escape)
        inner.log(event: e)
    }

    static func escape(_ v: Logger.Metadata.Value) -> Logger.Metadata.Value {
        switch v {
        case let .string(s): return .string(escape(s))
        case let .array(a): return .array(a.map(escape))
        case let .dictionary(d): return .dictionary(d.mapValues(escape))
        case .stringConvertible: return v
        }
    }

    static func escape(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: needsEscape) else { return s }
        var out = ""
        for u in s.unicodeScalars {
            switch u {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where needsEscape(u): out += "\\u{\(String(u.value, radix: 16))}"
            default: out.unicodeScalars.append(u)
            }
        }
        return out
    }

    static func needsEscape(_ u: Unicode.Scalar) -> Bool { u.value < 0x20 || u.value == 0x7F || u.value == 0x2028 || u.value == 0x2029 }
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
