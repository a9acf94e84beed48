import Foundation
import Logging

/// One line per event on stderr: `time level label: message key=value …` (logfmt), so an
/// operator can grep for a message and a test can wait for one. A value with a space, a
/// quote, an `=` or a control character is written in double quotes with `\"`, `\\` and
/// `\n`-style escapes (the logfmt convention of go-logfmt and Heroku's logfmt), so
/// `reason="PING not acknowledged"` stays one field for a parser.
public struct KeyValueLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let label: String

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        StandardStream.error.write(Self.line(time: LogTimestamp.now(), level: "\(event.level)", label: label,
                                             message: "\(event.message)", metadata: merged))
    }

    /// One event as a logfmt line, keys sorted. The message stays bare (it reads as text),
    /// but its control characters are escaped as in a quoted value: a library's message
    /// with an error's newline in it (or a forged one) is still one line, one event.
    public static func line(time: String, level: String, label: String, message: String,
                            metadata: Logger.Metadata) -> String {
        var line = "\(time) \(level) \(label): "
        if message.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            line += escapedInQuotes(message).dropFirst().dropLast()
        } else {
            line += message
        }
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            line += " \(key)=\(quoted("\(value)"))"
        }
        return line + "\n"
    }

    /// `value` as one logfmt value: bare when it has no space, quote, `=` or control
    /// character (and is not empty), else quoted and escaped.
    public static func quoted(_ value: String) -> String {
        let needsQuotes = value.isEmpty || value.unicodeScalars.contains {
            $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\\" || $0.value < 0x20 || $0.value == 0x7F
        }
        return needsQuotes ? escapedInQuotes(value) : value
    }

    /// `value` in double quotes, with `\"`, `\\`, `\n`, `\r`, `\t` and `\uXXXX` for the other
    /// control characters: valid as a logfmt value and as a JSON string (RFC 8259 §7).
    static func escapedInQuotes(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// RFC 3339 timestamps with milliseconds, in UTC, for both log formats. One formatter
/// per thread: making one costs more than the rest of a log line, and the relay logs a
/// line per tunnel; a formatter is not safe to share between threads.
enum LogTimestamp {
    private static let key = "h2tunnel.log.timestamp-formatter"

    static func now() -> String {
        let dictionary = Thread.current.threadDictionary
        if let formatter = dictionary[key] as? ISO8601DateFormatter {
            return formatter.string(from: Date())
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        dictionary[key] = formatter
        return formatter.string(from: Date())
    }
}
