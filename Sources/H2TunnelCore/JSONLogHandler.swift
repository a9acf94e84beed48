import Foundation
import Logging

/// `--log-format json`: one JSON object per line on stderr, for log collectors that parse
/// JSON (Loki, Elasticsearch, CloudWatch): `{"time":…,"level":…,"label":…,"message":…,
/// "metadata":{…}}`. Metadata values are strings, as in the logfmt format.
public struct JSONLogHandler: LogHandler {
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

    /// One event as a JSON line, keys in a fixed order so lines diff and grep well.
    public static func line(time: String, level: String, label: String, message: String,
                            metadata: Logger.Metadata) -> String {
        var fields = ""
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            fields += (fields.isEmpty ? "" : ",") + "\(string(key)):\(string("\(value)"))"
        }
        return "{\"time\":\(string(time)),\"level\":\(string(level)),\"label\":\(string(label)),"
            + "\"message\":\(string(message)),\"metadata\":{\(fields)}}\n"
    }

    /// A JSON string literal (RFC 8259 §7): the same escapes as a quoted logfmt value.
    static func string(_ value: String) -> String { KeyValueLogHandler.escapedInQuotes(value) }
}
