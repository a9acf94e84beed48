/// What a setting is, apart from its Swift type: one name that is at once the flag
/// (`--ping-interval`), the config-file key (`ping-interval`) and, upper-cased behind
/// `H2TUNNEL_`, the environment variable (`H2TUNNEL_PING_INTERVAL`), so the four places a
/// setting used to be written (option, file key, configuration, README) come from one entry.
public struct SettingSpec: Sendable {
    /// How a value is read from a config file, and how often a flag may be given.
    public enum Shape: Sendable {
        /// One string; a repeated flag: the last one wins.
        case text
        /// One number (a number or a string holding one in a file).
        case number
        /// Repeatable flag; a list or a comma-separated string in a file; comma-separated in the environment.
        case list
    }

    public enum FileUse: Sendable {
        /// Not a file.
        case none
        /// A path; relative in a config file → from that file's folder.
        case path
        /// A path whose file must be readable at start (certificates, keys), so a typo or a
        /// permission fails the start with the setting named, not the first handshake.
        case readable
    }

    public let name: String
    public let shape: Shape
    public let file: FileUse
    /// The value's form in `--help`: `SECONDS`, `HOST:PORT`, `FILE`.
    public let placeholder: String
    public let help: String
    /// Default and range as `--help` shows them; nil: none.
    public let constraints: String?

    public var flag: String { "--\(name)" }
    /// `H2TUNNEL_` and the name upper-cased, `-` as `_`: what swift-configuration's
    /// `EnvironmentVariablesProvider` looks up for the key `h2tunnel.<name>`.
    public var environmentVariable: String {
        "H2TUNNEL_" + name.uppercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
    }
}
