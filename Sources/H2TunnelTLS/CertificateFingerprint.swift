internal import COpenSSL
import Foundation

/// A certificate's identity for an operator: SHA-256 of its DER encoding, 64 lower-case
/// hex digits (what `openssl x509 -fingerprint -sha256` prints, without the colons).
public enum CertificateFingerprint {
    /// The fingerprint of `certificate`.
    static func sha256(_ certificate: OpaquePointer) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        _ = X509_digest(certificate, EVP_sha256(), &digest, &length)
        let hex = Array("0123456789abcdef")
        return String(digest.prefix(Int(length)).flatMap { [hex[Int($0 >> 4)], hex[Int($0 & 15)]] })
    }

    /// `text` as a fingerprint: 64 hex digits, any case, colons between them allowed
    /// (OpenSSL prints `AB:CD:…`). nil for anything else.
    public static func parse(_ text: String) -> String? {
        let digits = text.trimmingCharacters(in: .whitespaces).filter { $0 != ":" }.lowercased()
        guard digits.count == 64, digits.allSatisfy({ $0.isASCII && $0.isHexDigit }) else { return nil }
        return digits
    }

    /// A list of fingerprints, one a line; `#` starts a comment, blank lines are skipped.
    /// Throws naming the first line that is not a fingerprint.
    public static func parseList(_ text: String) throws -> Set<String> {
        var result = Set<String>()
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.prefix { $0 != "#" }.trimmingCharacters(in: .whitespaces.union(["\r"]))
            guard !line.isEmpty else { continue }
            guard let fingerprint = parse(line) else {
                throw TLSError("line \(index + 1): '\(line.prefix(80))' is not a SHA-256 fingerprint (64 hex digits, colons allowed)")
            }
            result.insert(fingerprint)
        }
        return result
    }
}

extension TLSConnection {
    /// The fingerprint of the peer's leaf certificate, or nil when it sent none.
    public var peerCertificateSHA256: String? {
        SSL_get0_peer_certificate(ssl).map(CertificateFingerprint.sha256)
    }
}
