/// Reads `run`'s flags strictly against the settings table: `--name VALUE` or
/// `--name=VALUE`; a repeated flag keeps every value (the last wins for single values, all
/// count for lists); an unknown flag or a stray word is an error, never ignored — a
/// misspelt setting silently left at its default is the mistake this exists to catch.
/// (swift-configuration's `CommandLineArgumentsProvider` ignores unknown flags and splits
/// every value at commas, which would cut a path that has one.)
struct ArgumentScanner {
    let known: Set<String>
    let command: String

    func scan(_ arguments: [String]) throws -> [String: [String]] {
        var values: [String: [String]] = [:]
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let argument = arguments[index]
            index += 1
            guard argument.hasPrefix("--"), argument.count > 2 else {
                throw SettingError(description: "unexpected argument '\(argument.prefix(80))' (\(command) --help lists the settings)")
            }
            var name = String(argument.dropFirst(2))
            var value: String
            if let equals = name.firstIndex(of: "=") {
                value = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            } else {
                guard index < arguments.endIndex, !arguments[index].hasPrefix("--") else {
                    throw SettingError(description: "--\(name.prefix(80)) needs a value")
                }
                value = arguments[index]
                index += 1
            }
            guard known.contains(name) else {
                let hint = NearestName.suggestion(for: name, among: known, prefix: "--")
                throw SettingError(description: "unknown option '--\(name.prefix(80))' (\(hint)\(command) --help lists the settings)")
            }
            values[name, default: []].append(value)
        }
        return values
    }
}
