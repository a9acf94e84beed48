#if canImport(Glibc)
import Glibc
#endif
import Foundation
import H2TunnelCore
import H2TunnelTLS
import Logging

/// Agent certificates the relay refuses, by SHA-256 fingerprint: `--agent-deny-fingerprint`
/// (repeatable) and `--agent-deny-file` (one a line, `#` comments), the file read again on
/// SIGHUP. Revoking one leaked certificate this way needs no new agent CA.
public struct AgentDenyList: Sendable {
    /// From the flags, normalised (`CertificateFingerprint.parse`).
    public var fingerprints: Set<String> = []
    public var file: String?

    public init() {}

    /// The flags' fingerprints; throws naming the flag and the bad value.
    public init(flags: [String], file: String?) throws {
        for text in flags {
            guard let fingerprint = CertificateFingerprint.parse(text) else {
                throw SettingError(description:
                    "--agent-deny-fingerprint '\(text.prefix(80))' is not a SHA-256 fingerprint (64 hex digits, colons allowed)")
            }
            fingerprints.insert(fingerprint)
        }
        self.file = file
    }

    /// The flags' fingerprints and the file's as it is now; throws naming the file.
    public func load() throws -> Set<String> {
        guard let file else { return fingerprints }
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            throw SettingError(description: "--agent-deny-file \(file): cannot read it (\(error.localizedDescription))")
        }
        do {
            return fingerprints.union(try CertificateFingerprint.parseList(text))
        } catch {
            throw SettingError(description: "--agent-deny-file \(file): \(error)")
        }
    }

    /// On each SIGHUP, reads the file again and applies it to `registry`: connections of a
    /// newly denied certificate are cut off at once. A file that cannot be read keeps the
    /// list in force and says why. Without a file, SIGHUP (a service manager's "reload")
    /// is logged instead of ending the relay, its default action.
    public func reloadOnHangup(registry: AgentRegistry, logger: Logger) {
        ProcessSignals.on(SIGHUP) {
            guard let file else {
                logger.info("SIGHUP: nothing to reload (no --agent-deny-file)")
                return
            }
            do {
                let denied = try load()
                let cut = registry.deny(denied)
                logger.info("agent deny list reloaded", metadata: [
                    "file": "\(file)", "fingerprints": "\(denied.count)", "cut_off": "\(cut)",
                ])
            } catch {
                logger.error("agent deny list not reloaded; the previous list stays", metadata: ["error": "\(error)"])
            }
        }
    }
}
