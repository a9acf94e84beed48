import Foundation
import NIOCore

/// A flat JSON configuration file whose keys are the long flag names (`"listen"`,
/// `"agent-ca"`, …). A flag given on the command line wins over the file.
public struct ConfigFile: Sendable {
    public struct Error: Swift.Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    private let values: [String: String]
    private let path: String

    public init(values: [String: String] = [:], path: String = "") {
        self.values = values
        self.path = path
    }

    /// Loads `path`, or an empty configuration when `path` is nil.
    /// Unknown keys are an error, so a misspelt setting is never silently dropped.
    public static func load(_ path: String?, knownKeys: Set<String>) throws -> ConfigFile {
        guard let path else { return ConfigFile() }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw Error(description: "cannot read config file \(path): \(error.localizedDescription)")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw Error(description: "config file \(path) is not a JSON object")
        }
        var values: [String: String] = [:]
        for (key, value) in object {
            guard knownKeys.contains(key) else {
                throw Error(description: "config file \(path): unknown key '\(key)'")
            }
            switch value {
            case let string as String: values[key] = string
            case let number as NSNumber: values[key] = number.stringValue
            default: throw Error(description: "config file \(path): '\(key)' must be a string or a number")
            }
        }
        return ConfigFile(values: values, path: path)
    }

    /// The flag's value, else the file's, else nil.
    public func string(_ key: String, flag: String?) -> String? { flag ?? values[key] }

    /// A file path from the flag, else the file. A relative path from the config file is
    /// taken from the config file's folder (as nginx and systemd do with their includes),
    /// so a config and its certificates can move together; a flag's stays relative to the
    /// working directory, as the shell gave it.
    public func path(_ key: String, flag: String?) -> String? {
        if let flag { return flag }
        guard let value = values[key] else { return nil }
        guard !value.hasPrefix("/"), !path.isEmpty else { return value }
        return URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(value).path
    }

    /// Like `path`, but missing everywhere is an error naming the flag.
    public func requiredPath(_ key: String, flag: String?) throws -> String {
        guard let value = path(key, flag: flag) else {
            throw Error(description: "missing --\(key) (or \"\(key)\" in the config file)")
        }
        return value
    }

    /// Like `string`, but missing everywhere is an error naming the flag.
    public func required(_ key: String, flag: String?) throws -> String {
        guard let value = string(key, flag: flag) else {
            throw Error(description: "missing --\(key) (or \"\(key)\" in the config file)")
        }
        return value
    }

    /// A number from the flag, else the file, else `default`; outside `range` (or not a
    /// finite number) is an error naming the flag, wherever it came from. Unchecked, a
    /// negative reconnect delay or an infinite grace period traps hours later.
    public func double(_ key: String, flag: Double?, default value: Double, in range: ClosedRange<Double>) throws -> Double {
        var number = value
        if let flag {
            number = flag
        } else if let text = values[key] {
            guard let parsed = Double(text) else {
                throw Error(description: "config file \(path): '\(key)' must be a number")
            }
            number = parsed
        }
        guard number.isFinite, range.contains(number) else {
            throw Error(description: "--\(key) must be between \(Self.format(range.lowerBound)) and \(Self.format(range.upperBound)), not \(number)")
        }
        return number
    }

    /// A timeout in seconds where 0 means never (nil): at least 1 s otherwise, so a typo
    /// like 0.001 cannot reset healthy connections at every pause; at most a day.
    public func secondsOrNever(_ key: String, flag: Double?, default value: Double) throws -> TimeAmount? {
        let seconds = try double(key, flag: flag, default: value, in: 0...86_400)
        guard seconds == 0 || seconds >= 1 else {
            throw Error(description: "--\(key) must be 0 (never) or at least 1 second, not \(seconds)")
        }
        return seconds > 0 ? .fractionalSeconds(seconds) : nil
    }

    /// `--threads`: the flag, else the file, else `default`; 1 to 1,024.
    public func threadCount(flag: Int?, default value: Int) throws -> Int {
        Int(try double("threads", flag: flag.map(Double.init), default: Double(value), in: 1...1024))
    }

    private static func format(_ number: Double) -> String {
        number == number.rounded() ? String(Int(number)) : String(number)
    }
}
