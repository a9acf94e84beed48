import Configuration

/// One binary's settings, one entry each (`Setting`: name, type, default, range, help, and
/// what it sets in `Root`, the binary's configuration). Flags, `H2TUNNEL_*` variables,
/// config-file keys and `--help` all come from here. A value is taken from the first of:
/// a flag, the environment, the `--config` file (JSON or YAML), the default; every value
/// given is checked at start, and a bad one stops the start with one line naming it.
public struct SettingsTable<Root>: Sendable {
    public struct Entry: Sendable {
        public let spec: SettingSpec
        let required: Bool
        let convert: @Sendable (SettingInput, SettingSource) throws -> any Sendable
        let apply: (@Sendable (inout Root, SettingValues) throws -> Void)?
    }

    /// `--config FILE` (or `H2TUNNEL_CONFIG`): where the file layer comes from.
    public static var config: Setting<String?> {
        .text("config", "FILE", help: "Settings file, JSON (.json) or YAML (.yaml, .yml), keyed by the names below; "
                                      + "flags and H2TUNNEL_* variables win over it.")
    }

    /// "relay run": named in errors and help.
    public let command: String
    public let entries: [Entry]

    public init(command: String, entries: [Entry]) {
        self.command = command
        self.entries = entries
    }

    /// Reads and checks every setting: `arguments` are `run`'s flags, `environment` the
    /// process's variables (only `H2TUNNEL_*` ones are looked at).
    public func resolve(arguments: [String], environment: [String: String]) throws -> SettingValues {
        let specs = [Self.config.spec] + entries.map(\.spec)
        let flags = try ArgumentScanner(known: Set(specs.map(\.name)), command: command).scan(arguments)
        let variables = EnvironmentVariablesProvider(environmentVariables: environment)
        var values = SettingValues(resolved: [:])
        let configPath = try Self.input(Self.config.spec, flags: flags, variables: variables, file: nil)
        var file: ConfigFileLayer? = nil
        if let (input, source) = configPath {
            let path = try Self.convert(Self.config.spec, input, source) { try Self.config.convert($0, $1) }
            if let path {
                let layer = try ConfigFileLayer.load(path)
                // "config" is no key of the file itself: a file naming another is not followed.
                try layer.checkKeys(against: Dictionary(entries.map { ($0.spec.name, $0.spec) }) { first, _ in first },
                                    command: command)
                values.resolved[Self.config.spec.name] = .init(value: path, source: source)
                file = layer
            }
        }
        // A wrong value is named before a missing one: it is what the operator just typed.
        var missing: SettingSpec? = nil
        for entry in entries {
            guard let (input, source) = try Self.input(entry.spec, flags: flags, variables: variables, file: file) else {
                if entry.required && missing == nil { missing = entry.spec }
                continue
            }
            let value = try Self.convert(entry.spec, input, source, entry.convert)
            values.resolved[entry.spec.name] = .init(value: value, source: source)
        }
        if let missing { throw SettingError.missing(missing) }
        return values
    }

    /// Sets `root` from `values`, entry by entry in table order.
    public func apply(_ values: SettingValues, to root: inout Root) throws {
        for entry in entries {
            guard let apply = entry.apply else { continue }
            let source = values.resolved[entry.spec.name]?.source ?? .default
            do {
                try apply(&root, values)
            } catch let error as SettingError {
                throw error
            } catch let problem as SettingProblem {
                throw SettingError(entry.spec, from: source, problem.description)
            } catch {
                throw SettingError(entry.spec, from: source, "is not valid: \(error)")
            }
        }
    }

    /// `--help`'s list: every setting with its variable, value form, default and range,
    /// wrapped to 80 columns (ArgumentParser re-wraps longer lines without the indent).
    public var help: String {
        var lines = Self.wrap("Every setting is a flag, an H2TUNNEL_* environment variable and a key of the --config "
                              + "file (JSON or YAML). A flag wins over the variable, the variable over the file, the file "
                              + "over the default. Relative paths in the file are taken from the file's folder.", indent: "")
        lines.append("")
        for spec in [Self.config.spec] + entries.map(\.spec) {
            let head = "  \(spec.flag) \(spec.placeholder)"
            let variable = "(\(spec.environmentVariable))"
            lines += head.count + variable.count + 2 <= Self.width ? ["\(head)  \(variable)"] : [head, "      \(variable)"]
            let required = entries.first { $0.spec.name == spec.name }?.required == true
            let notes = [required ? "required" : nil, spec.constraints].compactMap { $0 }
            lines += Self.wrap(spec.help + (notes.isEmpty ? "" : " (\(notes.joined(separator: "; ")))"), indent: "      ")
        }
        return lines.joined(separator: "\n")
    }

    private static var width: Int { 79 }

    private static func wrap(_ text: String, indent: String) -> [String] {
        var lines: [String] = []
        var line = indent
        for word in text.split(separator: " ") {
            if line.count > indent.count, line.count + 1 + word.count > width {
                lines.append(line)
                line = indent
            }
            line += (line.count > indent.count ? " " : "") + word
        }
        lines.append(line)
        return lines
    }

    private static func input(_ spec: SettingSpec, flags: [String: [String]], variables: EnvironmentVariablesProvider,
                              file: ConfigFileLayer?) throws -> (SettingInput, SettingSource)? {
        if let given = flags[spec.name], let last = given.last {
            return (spec.shape == .list ? .list(given) : .text(last), .flag)
        }
        let key = AbsoluteConfigKey(["h2tunnel", spec.name])
        if let found = try? variables.value(forKey: key, type: .string).value, case .string(let text) = found.content,
           !text.isEmpty {
            return (.text(text), .environment)
        }
        if let file, let input = try file.input(for: spec) {
            return (input, .file(file.path))
        }
        return nil
    }

    private static func convert<Value>(_ spec: SettingSpec, _ input: SettingInput, _ source: SettingSource,
                                       _ convert: (SettingInput, SettingSource) throws -> Value) throws -> Value {
        do {
            return try convert(input, source)
        } catch let problem as SettingProblem {
            throw SettingError(spec, from: source, problem.description)
        } catch {
            throw SettingError(spec, from: source, "is not valid: \(error)")
        }
    }
}

extension Setting {
    /// This setting as a table entry that sets `Root` with `apply`.
    public func sets<Root>(_ apply: @escaping @Sendable (inout Root, Value) throws -> Void) -> SettingsTable<Root>.Entry {
        let setting = self
        return entry(required: false) { root, values in try apply(&root, values[setting]) }
    }

    /// This setting as a table entry the command reads itself (threads, logging).
    public func readByCommand<Root>() -> SettingsTable<Root>.Entry {
        entry(required: false, apply: nil)
    }

    func entry<Root>(required: Bool, apply: (@Sendable (inout Root, SettingValues) throws -> Void)?) -> SettingsTable<Root>.Entry {
        let convert = self.convert
        return .init(spec: spec, required: required, convert: { try convert($0, $1) }, apply: apply)
    }
}

extension Setting {
    /// A setting every start needs (no default): missing everywhere stops the start.
    public func setsRequired<Root, Wrapped>(_ apply: @escaping @Sendable (inout Root, Wrapped) throws -> Void)
        -> SettingsTable<Root>.Entry where Value == Wrapped? {
        let setting = self
        return entry(required: true) { root, values in try apply(&root, try values.required(setting)) }
    }
}
