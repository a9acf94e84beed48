internal import COpenSSL

/// What an operator wants to see of a certificate (h2probe's TLS summary).
public struct CertificateSummary: Sendable, Equatable {
    public var subject: String
    public var issuer: String
    public var names: CertificateNames
    public var notAfter: String
    /// SHA-256 of the DER encoding, lower-case hex.
    public var sha256: String

    init(_ certificate: OpaquePointer) {
        subject = Self.text(X509_get_subject_name(certificate))
        issuer = Self.text(X509_get_issuer_name(certificate))
        names = CertificateNames(certificate)
        notAfter = Self.withMemoryBIO { bio in _ = ASN1_TIME_print(bio, X509_get0_notAfter(certificate)) }
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        _ = X509_digest(certificate, EVP_sha256(), &digest, &length)
        let hex = Array("0123456789abcdef")
        sha256 = String(digest.prefix(Int(length)).flatMap { [hex[Int($0 >> 4)], hex[Int($0 & 15)]] })
    }

    private static func text(_ name: OpaquePointer?) -> String {
        withMemoryBIO { bio in _ = X509_NAME_print_ex(bio, name, 0, h2t_XN_FLAG_RFC2253()) }
    }

    private static func withMemoryBIO(_ body: (OpaquePointer) -> Void) -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        body(bio)
        var data: UnsafeMutablePointer<CChar>? = nil
        let length = h2t_BIO_get_mem_data(bio, &data)
        guard let data, length > 0 else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    }
}

extension TLSConnection {
    /// The chain the peer sent, leaf first (for a server's view of a client, without the leaf: OpenSSL's rule).
    public var peerChain: [CertificateSummary] {
        (0..<h2t_peer_chain_count(ssl)).compactMap { index in
            h2t_peer_chain_at(ssl, index).map(CertificateSummary.init)
        }
    }

    public var cipherName: String {
        guard let cipher = SSL_get_current_cipher(ssl) else { return "none" }
        return String(cString: SSL_CIPHER_get_name(cipher))
    }
}

extension TLSConnection {
    /// The peer's own (leaf) certificate, verified or not.
    public var peerLeaf: CertificateSummary? {
        SSL_get0_peer_certificate(ssl).map(CertificateSummary.init)
    }
}
