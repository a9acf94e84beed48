internal import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// The subject alternative names of a certificate: what the relay reads a tenant id from
/// (URI `urn:h2tunnel:tenant:<id>`) and what the agent checks an `:authority` against (DNS).
public struct CertificateNames: Sendable, Equatable {
    public var dnsNames: [String] = []
    public var uris: [String] = []

    init(_ certificate: OpaquePointer) {
        var names = CertificateNames(dnsNames: [], uris: [])
        withUnsafeMutablePointer(to: &names) { pointer in
            _ = h2t_X509_visit_sans(certificate, pointer) { context, kind, bytes, length in
                guard let context, let bytes else { return }
                let names = context.assumingMemoryBound(to: CertificateNames.self)
                let text = String(decoding: UnsafeBufferPointer(start: bytes, count: Int(length)), as: UTF8.self)
                if kind == 1 { names.pointee.dnsNames.append(text) } else { names.pointee.uris.append(text) }
            }
        }
        self = names
    }

    public init(dnsNames: [String], uris: [String]) {
        self.dnsNames = dnsNames
        self.uris = uris
    }

    /// Reads the first certificate of a PEM file.
    public static func load(pemPath: String) throws -> CertificateNames {
        guard let file = fopen(pemPath, "r") else { throw TLSError("cannot open \(pemPath)") }
        defer { fclose(file) }
        guard let certificate = PEM_read_X509(file, nil, nil, nil) else {
            throw TLSError.fromQueue("no certificate in \(pemPath)")
        }
        defer { X509_free(certificate) }
        return CertificateNames(certificate)
    }
}
