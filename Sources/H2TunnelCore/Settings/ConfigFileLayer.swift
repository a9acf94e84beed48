import Configuration
import Foundation
import NIOConcurrencyHelpers

/// The `--config` file, read through swift-configuration's `JSONSnapshot` or `YAMLSnapshot`
/// (by extension). Its keys are the settings' names at the top level; the key list comes
/// from the snapshot's per-key secrets callback, so an unknown key is refused by name
/// instead of being silently dropped.
struct ConfigFileLayer {
    let path: String
    let keys: [String]
    let snapshot: any ConfigSnapshot

    static func load(_ path: String) throws -> ConfigFileLayer {
        let lower = path.lowercased()
        let isYAML = lower.hasSuffix(".yaml") || lower.hasSuffix(".yml")
        guard isYAML || lower.hasSuffix(".json") else {
            throw SettingError(description: "config file \(path): must end in .json, .yaml or .yml (its format)")
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw SettingError(description: "cannot read config file \(path): no such file")
        }
        let bytes: [UInt8]
        do { bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path))) } catch {
            throw SettingError(description: "cannot read config file \(path): \(error.localizedDescription)")
        }
        let seen = NIOLockedValueBox<[String]>([])
        let snapshot: any ConfigSnapshot
        do {
            if isYAML {
                let options = YAMLSnapshot.ParsingOptions(secretsSpecifier: .dynamic { key, _ in
                    seen.withLockedValue { $0.append(key) }
                    return false
                })
                snapshot = try YAMLSnapshot(data: bytes.span.bytes, providerName: path, parsingOptions: options)
            } else {
                let options = JSONSnapshot.ParsingOptions(secretsSpecifier: .dynamic { key, _ in
                    seen.withLockedValue { $0.append(key) }
                    return false
                })
                snapshot = try JSONSnapshot(data: bytes.span.bytes, providerName: path, parsingOptions: options)
            }
        } catch {
            let format = isYAML ? "a YAML mapping" : "a JSON object"
            throw SettingError(description: "config file \(path) is not \(format) of settings: \(String(describing: error).prefix(200))")
        }
        return ConfigFileLayer(path: path, keys: seen.withLockedValue { $0 }, snapshot: snapshot)
    }

    /// Refuses the first key no setting has; a nested mapping under a setting's name is
    /// called the wrong type (its keys come back as `name.inner`).
    func checkKeys(against specs: [String: SettingSpec], command: String) throws {
        for key in keys.sorted() where specs[key] == nil {
            if let dot = key.firstIndex(of: "."), let spec = specs[String(key[..<dot])] {
                throw SettingError(spec, from: .file(path), "must be \(Self.expected(spec.shape)), not a mapping")
            }
            let hint = NearestName.suggestion(for: key, among: specs.keys)
            throw SettingError(description: "config file \(path): unknown key '\(key.prefix(80))' (\(hint)\(command) --help lists the keys)")
        }
    }

    /// The file's value for `spec`, as the types its shape accepts: a number or a string
    /// holding one; a string; a list or a comma-separated string.
    func input(for spec: SettingSpec) throws -> SettingInput? {
        let key = AbsoluteConfigKey([spec.name])
        let tries: [ConfigType] = switch spec.shape {
        case .number: [.double, .string]
        case .text: [.string, .double]
        case .list: [.stringArray, .string]
        }
        for type in tries {
            guard let result = try? snapshot.value(forKey: key, type: type) else { continue }
            guard let value = result.value else { return nil }
            switch value.content {
            case .string(let text): return .text(text)
            case .double(let number): return .number(number)
            case .stringArray(let list): return .list(list)
            default: continue
            }
        }
        throw SettingError(spec, from: .file(path), "must be \(Self.expected(spec.shape))")
    }

    private static func expected(_ shape: SettingSpec.Shape) -> String {
        switch shape {
        case .number: "a number"
        case .text: "a string"
        case .list: "a string or a list of strings"
        }
    }
}
