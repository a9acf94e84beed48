/// Where a setting's value came from, in the order they win: a flag, an `H2TUNNEL_*`
/// variable, the config file, the table's default.
public enum SettingSource: Sendable, Equatable {
    case flag
    case environment
    case file(String)
    case `default`
}
