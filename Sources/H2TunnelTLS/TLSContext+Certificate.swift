internal import COpenSSL

extension TLSContext {
    /// SHA-256 fingerprint of the certificate this context presents (lower-case hex, as
    /// `CertificateFingerprint`), nil when it has none: what a reload logs, so an operator
    /// can tell which certificate a process now serves.
    public var certificateSHA256: String? {
        guard let certificate = SSL_CTX_get0_certificate(context) else { return nil }
        return CertificateFingerprint.sha256(certificate)
    }
}
