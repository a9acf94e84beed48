import Foundation
import H2TunnelRelayWeb
import H2TunnelStore
import H2TunnelTickets
import Logging

/// Why the relay's site cannot start; `description` names the flag to fix.
struct RelaySiteError: Error, CustomStringConvertible {
    var description: String
}

extension Relay {
    /// The relay's own site: signed-in with a store (which then needs the ticket signing
    /// key), else a page saying sign-in is not configured.
    static func makeSite(configuration: RelayConfiguration, store: (any RelayStore)?,
                         presence: any TenantPresence, logger: Logger) async throws -> RelaySite {
        let settings = SiteSettings(hostname: configuration.hostname, tenantDomain: configuration.tenantDomain,
                                    publicPort: configuration.publicPort)
        guard let store else { return RelaySite(notConfigured: settings, logger: logger) }
        guard let keyPath = configuration.signingKeyPath else {
            throw RelaySiteError(description: "--store needs --signing-key (the Ed25519 key that signs sign-in tickets)")
        }
        let pem: String
        do {
            pem = try String(contentsOfFile: keyPath, encoding: .utf8)
        } catch {
            throw RelaySiteError(description: "--signing-key \(keyPath): cannot read (\(error.localizedDescription))")
        }
        let issuer: TicketIssuer
        do {
            issuer = try await TicketIssuer(privateKeyPEM: pem)
        } catch {
            throw RelaySiteError(description: "--signing-key \(keyPath): not an Ed25519 private key in PEM (\(error))")
        }
        return RelaySite(store: store, issuer: issuer, presence: presence, settings: settings, logger: logger)
    }
}
