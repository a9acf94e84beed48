/// The settings and checks `relay run` and `agent run` have in common, defined once so the
/// two commands cannot drift apart in their names, choices or messages.
public enum SharedSettings {
    public static let logLevel = Setting<String>.choice(
        "log-level", ["trace", "debug", "info", "notice", "warning", "error", "critical"], default: "info",
        help: "Lowest level logged.")
    public static let logFormat = Setting<String>.choice(
        "log-format", ["logfmt", "json"], default: "logfmt",
        help: "logfmt (key=value lines) or json (one JSON object a line).")

    /// The admin listener: HOST:PORT, or `off` for none.
    public static func adminListen(default value: String, help: String) -> Setting<String> {
        .text("admin-listen", "HOST:PORT|off", default: value, help: help) { _ = try adminAddress($0) }
    }

    /// An `--admin-listen` value as the configurations hold it: no host and port 0 for `off`.
    public static func adminAddress(_ text: String) throws -> (host: String?, port: Int) {
        guard text != "off" else { return (nil, 0) }
        let address = try HostPort.parse(text)
        return (address.host, address.port)
    }

    /// The check of a setting that names a DNS host.
    @Sendable public static func dnsName(_ text: String) throws {
        guard HostName.normalize(text) != nil else { throw SettingProblem("must be a DNS name, got '\(text.prefix(80))'") }
    }
}
