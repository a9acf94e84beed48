import Foundation
import NIOCore

/// A value as a source gave it, before the setting's converter checks it: flags and
/// variables give text (lists for repeatable settings), a JSON or YAML file also numbers.
public enum SettingInput: Sendable, Equatable {
    case text(String)
    case number(Double)
    case list([String])
}

/// One typed entry of a settings table (`SettingsTable`): what it is (`spec`), its value
/// when no source gives one, and how a source's text becomes a `Value`, range and all.
public struct Setting<Value: Sendable>: Sendable {
    public let spec: SettingSpec
    let fallback: Value
    let convert: @Sendable (SettingInput, SettingSource) throws -> Value

    public init(spec: SettingSpec, fallback: Value,
                convert: @escaping @Sendable (SettingInput, SettingSource) throws -> Value) {
        self.spec = spec
        self.fallback = fallback
        self.convert = convert
    }
}

extension Setting where Value == String {
    /// A string with a default, checked by `check` (which throws a `SettingProblem`).
    public static func text(_ name: String, _ placeholder: String, default value: String, help: String,
                            check: @escaping @Sendable (String) throws -> Void = { _ in }) -> Setting {
        Setting(spec: SettingSpec(name: name, shape: .text, file: .none, placeholder: placeholder, help: help,
                                  constraints: "default \(value)"),
                fallback: value) { input, _ in
            let text = try SettingParse.text(input)
            try check(text)
            return text
        }
    }

    /// One of `choices`.
    public static func choice(_ name: String, _ choices: [String], default value: String, help: String) -> Setting {
        let listed = SettingParse.alternatives(choices)
        return Setting(spec: SettingSpec(name: name, shape: .text, file: .none, placeholder: choices.joined(separator: "|"),
                                         help: help, constraints: "default \(value)"),
                       fallback: value) { input, _ in
            let text = try SettingParse.text(input)
            guard choices.contains(text) else { throw SettingProblem("must be \(listed), got '\(text.prefix(80))'") }
            return text
        }
    }
}

extension Setting where Value == String? {
    /// A string with no default (nil when no source gives one).
    public static func text(_ name: String, _ placeholder: String, help: String,
                            check: @escaping @Sendable (String) throws -> Void = { _ in }) -> Setting {
        Setting(spec: SettingSpec(name: name, shape: .text, file: .none, placeholder: placeholder, help: help,
                                  constraints: nil),
                fallback: nil) { input, _ in
            let text = try SettingParse.text(input)
            try check(text)
            return text
        }
    }

    /// A file path. Relative in a config file, it is taken from the file's folder (as nginx
    /// and systemd do with their includes), so a config and its certificates move together;
    /// from a flag or a variable it stays relative to the working directory. With
    /// `readable`, the file must open and read at start.
    public static func path(_ name: String, readable: Bool, help: String) -> Setting {
        Setting(spec: SettingSpec(name: name, shape: .text, file: readable ? .readable : .path,
                                  placeholder: "FILE", help: help, constraints: nil),
                fallback: nil) { input, source in
            var path = try SettingParse.text(input)
            if case .file(let config) = source, !path.hasPrefix("/") {
                path = URL(fileURLWithPath: config).deletingLastPathComponent().appendingPathComponent(path).path
            }
            if readable { try SettingParse.checkReadable(path) }
            return path
        }
    }
}

extension Setting where Value == Double {
    /// A number in `range` (seconds unless `placeholder` says otherwise).
    public static func number(_ name: String, _ placeholder: String = "SECONDS", default value: Double,
                              in range: ClosedRange<Double>, help: String) -> Setting {
        Setting(spec: SettingSpec(name: name, shape: .number, file: .none, placeholder: placeholder, help: help,
                                  constraints: "default \(SettingParse.format(value)); \(SettingParse.describe(range))"),
                fallback: value) { input, _ in
            try SettingParse.number(input, in: range)
        }
    }
}

extension Setting where Value == Int {
    /// A whole number in `range`; `defaultNote` replaces the default in `--help` where it
    /// is computed (threads: half the cores).
    public static func count(_ name: String, _ placeholder: String = "N", default value: Int, in range: ClosedRange<Int>,
                             defaultNote: String? = nil, help: String) -> Setting {
        let bounds = Double(range.lowerBound)...Double(range.upperBound)
        return Setting(spec: SettingSpec(name: name, shape: .number, file: .none, placeholder: placeholder, help: help,
                                         constraints: "default \(defaultNote ?? String(value)); \(SettingParse.describe(bounds))"),
                       fallback: value) { input, _ in
            try SettingParse.whole(input, in: bounds)
        }
    }
}

extension Setting where Value == Int? {
    /// A whole number in `range`, nil when no source gives one.
    public static func count(_ name: String, _ placeholder: String = "N", in range: ClosedRange<Int>,
                             defaultNote: String, help: String) -> Setting {
        let bounds = Double(range.lowerBound)...Double(range.upperBound)
        return Setting(spec: SettingSpec(name: name, shape: .number, file: .none, placeholder: placeholder, help: help,
                                         constraints: "default \(defaultNote); \(SettingParse.describe(bounds))"),
                       fallback: nil) { input, _ in
            try SettingParse.whole(input, in: bounds)
        }
    }
}

extension Setting where Value == TimeAmount? {
    /// A timeout in seconds where 0 means never (nil): at least 1 s otherwise, so a typo
    /// like 0.001 cannot reset healthy connections at every pause; at most a day.
    public static func secondsOrNever(_ name: String, default value: Double, help: String) -> Setting {
        Setting(spec: SettingSpec(name: name, shape: .number, file: .none, placeholder: "SECONDS", help: help,
                                  constraints: "default \(SettingParse.format(value)); 0: never, else 1 to 86400"),
                fallback: value > 0 ? .fractionalSeconds(value) : nil) { input, _ in
            let seconds = try SettingParse.number(input, in: 0...86_400)
            guard seconds == 0 || seconds >= 1 else {
                throw SettingProblem("must be 0 (never) or at least 1 second, got \(SettingParse.format(seconds))")
            }
            return seconds > 0 ? .fractionalSeconds(seconds) : nil
        }
    }
}

extension Setting where Value == [String] {
    /// A repeatable setting: the flag given several times, or values separated by commas;
    /// a list or a comma-separated string in a file. Each item is trimmed and checked.
    public static func list(_ name: String, _ placeholder: String, help: String,
                            check: @escaping @Sendable (String) throws -> Void = { _ in }) -> Setting {
        Setting(spec: SettingSpec(name: name, shape: .list, file: .none, placeholder: placeholder, help: help,
                                  constraints: "repeatable; comma-separated in a variable"),
                fallback: []) { input, _ in
            let items: [String]
            switch input {
            case .list(let list): items = list
            case .text(let text): items = [text]
            case .number: throw SettingProblem("must be a string or a list of strings")
            }
            let values = items.flatMap { $0.split(separator: ",") }
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            for value in values { try check(value) }
            return values
        }
    }
}
