import NIOCore
import NIOPosix

/// Turns why a dial to the relay failed into a line that names the flag to check: the raw
/// NIO and OpenSSL texts ("ALPN h2 not negotiated", a connection-error dump) point nowhere.
enum RelayDialHint {
    /// The TCP connect failed (nothing listening, no route, a name that does not resolve).
    static func unreachable(_ error: Error, relay: String) -> String {
        var cause = "\(error)"
        if let failure = error as? NIOConnectionError {
            if let dns = failure.dnsAError ?? failure.dnsAAAAError {
                return "cannot resolve the relay's name in \(relay): \(dns) — is --relay right?"
            }
            if let first = failure.connectionErrors.first { cause = describe(first.error) }
        } else {
            cause = describe(error)
        }
        return "cannot reach the relay at \(relay): \(cause) — is it running, is --relay right?"
    }

    /// The TLS handshake or its ALPN check failed: which side refused what, and the flag.
    static func refused(_ reason: String, relay: String, hostname: String) -> String {
        let text = reason.lowercased()
        if text.contains("unknown ca") || text.contains("bad certificate") || text.contains("certificate required")
            || text.contains("certificate unknown") || text.contains("access denied") {
            return "the relay at \(relay) refused this agent's certificate (\(reason)): check --cert/--key "
                + "and that the relay's --agent-ca signed it"
        }
        if text.contains("certificate verify failed") {
            return "the certificate of the relay at \(relay) is not trusted for '\(hostname)' (\(reason)): "
                + "check --relay-ca and --relay-hostname (the relay's --agent-hostname)"
        }
        if text.contains("alpn") || text.contains("unrecognized name") || text.contains("internal error")
            || text.contains("http2") || text.contains("protocol") {
            return "the relay at \(relay) did not answer as its agent endpoint for '\(hostname)' (\(reason)): "
                + "check --relay-hostname (the relay's --agent-hostname)"
        }
        return "TLS with the relay at \(relay) failed (\(reason)): check --relay-hostname, --relay-ca, --cert and --key"
    }

    private static func describe(_ error: Error) -> String {
        if let io = error as? IOError {
            return String(cString: strerror(io.errnoCode)).lowercased()
        }
        if case ChannelError.connectTimeout(let after) = error {
            return "no answer in \(after.nanoseconds / 1_000_000_000) s"
        }
        return "\(error)"
    }
}
