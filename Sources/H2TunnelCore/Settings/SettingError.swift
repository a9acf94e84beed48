/// A start-up refusal, one line naming the setting the way it was given (flag, variable or
/// file key) and its other spellings, so the operator finds it whichever they used.
public struct SettingError: Error, CustomStringConvertible, Sendable {
    public var description: String

    public init(description: String) { self.description = description }

    /// `problem` reads after the name: "must be between 0.1 and 3600, got -1".
    public init(_ spec: SettingSpec, from source: SettingSource, _ problem: String) {
        switch source {
        case .flag:
            description = "\(spec.flag) \(problem) (also \(spec.environmentVariable) or '\(spec.name)' in a config file)"
        case .environment:
            description = "\(spec.environmentVariable) \(problem) (also \(spec.flag) or '\(spec.name)' in a config file)"
        case .file(let path):
            description = "config file \(path): '\(spec.name)' \(problem) (also \(spec.flag) or \(spec.environmentVariable))"
        case .default:
            description = "\(spec.flag) \(problem)"
        }
    }

    /// A setting needed and given nowhere.
    public static func missing(_ spec: SettingSpec) -> SettingError {
        SettingError(description: "missing \(spec.flag) (or \(spec.environmentVariable), or '\(spec.name)' in a config file)")
    }
}

/// What a converter throws: the text after the setting's name; `SettingsTable` adds the name.
public struct SettingProblem: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension SettingError {
    /// Says why the start is refused: "Error: " and one line on stderr, without the usage
    /// text ArgumentParser adds to a `ValidationError`, so a log shows the reason alone.
    public static func report(_ error: any Error) {
        StandardStream.error.write("Error: \(error)\n")
    }
}
