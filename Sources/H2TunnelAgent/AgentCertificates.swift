import H2TunnelCore
import H2TunnelTLS
import NIOConcurrencyHelpers

/// The agent's two TLS identities, read from their files at start and again by `reload()`
/// (SIGHUP): the client certificate it shows the relay (`--cert/--key`) and the tenant
/// certificate it shows browsers (`--tenant-cert/--tenant-key`).
///
/// A connection takes the context current when it starts and keeps it (its `SSL` holds
/// the `SSL_CTX`), so a swap changes only the next browser handshake and the next relay
/// connection; open tunnels and the relay connection carry on untouched.
final class AgentCertificates: Sendable {
    /// One consistent set, swapped whole.
    struct Loaded: Sendable {
        let relay: TLSContext
        /// nil with tls://, where the app holds the tenant key.
        let tenant: TLSContext?
        /// From the client certificate's URI SAN: what the relay routes by.
        let tenantID: String
        /// The tenant certificate's DNS names (empty without `--tenant-cert`).
        let tenantDNSNames: [String]
    }

    private let configuration: AgentConfiguration
    private let current: NIOLockedValueBox<Loaded>

    init(configuration: AgentConfiguration) throws {
        self.configuration = configuration
        current = NIOLockedValueBox(try Self.load(configuration))
    }

    var loaded: Loaded { current.withLockedValue { $0 } }
    var relay: TLSContext { current.withLockedValue { $0.relay } }
    var tenant: TLSContext? { current.withLockedValue { $0.tenant } }

    /// Reads every file again and swaps the set in only if all of it loads, the keys
    /// match their certificates, the client certificate names the same tenant and the
    /// tenant certificate is for it; otherwise throws (the message names the file) and
    /// the previous set stays.
    @discardableResult
    func reload() throws -> Loaded {
        let fresh = try Self.load(configuration)
        let tenantID = loaded.tenantID
        guard fresh.tenantID == tenantID else {
            throw TLSError("--cert \(configuration.certificatePath) is for tenant '\(fresh.tenantID)', not '\(tenantID)': "
                + "a reload cannot move the agent to another tenant; restart it")
        }
        current.withLockedValue { $0 = fresh }
        return fresh
    }

    private static func load(_ configuration: AgentConfiguration) throws -> Loaded {
        var relayTLS = TLSConfiguration(
            role: .client, certificateChainPath: configuration.certificatePath,
            privateKeyPath: configuration.privateKeyPath, trustRootsPath: configuration.relayCAPath,
            alpnProtocols: [TunnelProtocol.alpn])
        relayTLS.keepsRecordBuffers = true   // the one connection, busy with every request
        let relay = try TLSContext(relayTLS)
        let tenantContext: TLSContext?
        if configuration.upstream.terminatesTLS {
            guard let cert = configuration.tenantCertificatePath, let key = configuration.tenantKeyPath else {
                throw TLSError("--tenant-cert and --tenant-key are required with a tcp:// or http:// upstream")
            }
            // http:// serves HTTP/2 itself; tcp:// hands plaintext to an app that may speak
            // only HTTP/1.1, so it offers nothing else.
            let alpn = if case .http = configuration.upstream { ["h2", "http/1.1"] } else { ["http/1.1"] }
            tenantContext = try TLSContext(TLSConfiguration(role: .server, certificateChainPath: cert,
                                                            privateKeyPath: key, alpnProtocols: alpn))
        } else {
            tenantContext = nil
        }
        let identity = try CertificateNames.load(pemPath: configuration.certificatePath)
        guard let uri = identity.uris.first(where: { $0.hasPrefix(TunnelProtocol.tenantURIPrefix) }) else {
            throw TLSError("\(configuration.certificatePath) has no \(TunnelProtocol.tenantURIPrefix)<id> URI SAN")
        }
        let tenantID = String(uri.dropFirst(TunnelProtocol.tenantURIPrefix.count))
        let dnsNames = try configuration.tenantCertificatePath.map { try CertificateNames.load(pemPath: $0).dnsNames } ?? []
        if let path = configuration.tenantCertificatePath,
           let mismatch = TenantCertificateCheck.mismatch(names: dnsNames, tenant: tenantID, tenantCertificatePath: path,
                                                          clientCertificatePath: configuration.certificatePath) {
            throw TLSError(mismatch)
        }
        return Loaded(relay: relay, tenant: tenantContext, tenantID: tenantID, tenantDNSNames: dnsNames)
    }
}
