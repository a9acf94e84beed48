/// The agent refuses to start with a tenant certificate that is not for its tenant: the
/// relay routes `<tenant>.<tenant-domain>` to this agent (the tenant id from the client
/// certificate's URI SAN), so a certificate for another tenant's names could never serve
/// a browser, and would fail every handshake far from the mistake.
///
/// The rule: at least one DNS name of the tenant certificate is `<tenant>.<suffix>` (first
/// label equal to the tenant id, ASCII case-insensitive, non-empty suffix) or a wildcard
/// `*.<suffix>`, which covers `<tenant>.<suffix>` (RFC 6125 §6.4.3). The tenant domain is
/// the relay's setting and unknown here, so the suffix is not checked.
enum TenantCertificateCheck {
    /// Nil when `names` fit `tenant`; else the message that says what to fix.
    static func mismatch(names: [String], tenant: String, tenantCertificatePath: String,
                         clientCertificatePath: String) -> String? {
        let id = tenant.lowercased()
        let fits = names.contains { name in
            let lowered = name.lowercased()
            guard let dot = lowered.firstIndex(of: "."), lowered.index(after: dot) < lowered.endIndex else { return false }
            let first = lowered[..<dot]
            return first == id || first == "*"
        }
        guard !fits else { return nil }
        let shown = names.isEmpty ? "no DNS names" : "DNS names \(names.joined(separator: ", "))"
        return "--tenant-cert \(tenantCertificatePath) is not for tenant '\(tenant)' (from --cert \(clientCertificatePath)): "
            + "it has \(shown), none of them \(tenant).<tenant-domain>; give this tenant's certificate, "
            + "or the --cert of the tenant it is for"
    }
}
