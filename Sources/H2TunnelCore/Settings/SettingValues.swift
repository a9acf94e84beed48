/// The settings of one start, each checked and typed, with where it came from.
public struct SettingValues: Sendable {
    struct Resolved: Sendable {
        var value: any Sendable
        var source: SettingSource
    }

    var resolved: [String: Resolved]

    /// The value of `setting`: from the winning source, else its default.
    public subscript<Value>(_ setting: Setting<Value>) -> Value {
        // Unwrapped first: for an optional `Value`, a missing entry cast `as? Value` would
        // succeed as nil and hide a non-nil default (send-timeout's 60 s).
        guard let found = resolved[setting.spec.name] else { return setting.fallback }
        return found.value as? Value ?? setting.fallback
    }

    /// Which source won for `setting` (`.default` when none gave it).
    public func source<Value>(of setting: Setting<Value>) -> SettingSource {
        resolved[setting.spec.name]?.source ?? .default
    }

    /// The value, or an error naming every spelling of the setting when no source gave it.
    public func required<Value>(_ setting: Setting<Value?>) throws -> Value {
        guard let value = self[setting] else { throw SettingError.missing(setting.spec) }
        return value
    }
}
