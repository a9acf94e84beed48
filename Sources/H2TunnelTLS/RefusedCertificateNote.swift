internal import COpenSSL
import Foundation

/// The certificate OpenSSL's chain check refused, so the log line can say which one
/// (subject, issuer) and not only why: "unable to get local issuer certificate" alone does
/// not tell an operator which of several agents holds a certificate from the wrong CA.
/// OpenSSL drops the peer's certificate when its verification fails, so the verify callback
/// notes it; the callback runs inside `SSL_do_handshake`, on the thread that reads the
/// note right after, so a per-thread slot is enough.
enum RefusedCertificateNote {
    private static let key = "h2tunnel.tls.refused-certificate"

    /// For `SSL_CTX_set_verify`: keeps OpenSSL's verdict, notes the first refused certificate.
    static let callback: @convention(c) (Int32, OpaquePointer?) -> Int32 = { ok, store in
        if ok == 0, let store, let certificate = X509_STORE_CTX_get_current_cert(store),
           Thread.current.threadDictionary[key] == nil {
            let summary = CertificateSummary(certificate)
            Thread.current.threadDictionary[key] = "subject \(summary.subject), issuer \(summary.issuer)"
        }
        return ok
    }

    /// The note of the handshake that just failed on this thread, cleared.
    static func take() -> String? {
        let dictionary = Thread.current.threadDictionary
        guard let note = dictionary[key] as? String else { return nil }
        dictionary.removeObject(forKey: key)
        return note
    }
}
