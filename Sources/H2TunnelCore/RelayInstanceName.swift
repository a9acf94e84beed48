import Foundation

/// The name a relay instance gives itself (`relay run --instance-name`, default its host
/// name) and sends to agents (`TunnelProtocol.relayInstanceHeader`). Behind an L4 load
/// balancer every instance has the balancer's address, so only this name tells them apart.
///
/// Why a hello stream carries it and not something cheaper: the agent must know the name
/// when the connection comes up, before any browser. The relay is the HTTP/2 client
/// (wire contract §2), so it cannot be told in a response; a PING carries 8 bytes, SETTINGS
/// only numbers; a private extension frame (RFC 9113 §5.5) would need nghttp2's extension
/// callbacks at both ends. One ordinary request (`GET /.h2tunnel/hello`, answered 204) needs
/// nothing new in the HTTP/2 layer, and the same header on each CONNECT costs a byte or two
/// once HPACK has indexed it (RFC 7541 §2.3.2).
public enum RelayInstanceName {
    /// Longest name accepted, so one header, a log line and `/status` stay short.
    public static let maxLength = 64

    /// A short printable token: 1 to 64 of `A-Z a-z 0-9 . _ -`.
    public static func isValid(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= maxLength && text.utf8.allSatisfy(isAllowed)
    }

    /// This machine's host name (gethostname), with any other byte as `-` and cut to
    /// `maxLength`: the default of `--instance-name`. "relay" when it has none.
    public static var local: String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "relay" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return sanitized(name) ?? "relay"
    }

    /// `text` with every byte outside the token set as `-`, cut to `maxLength`; nil when empty.
    public static func sanitized(_ text: String) -> String? {
        let bytes = text.utf8.prefix(maxLength).map { isAllowed($0) ? $0 : UInt8(ascii: "-") }
        return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)
    }

    private static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }
}
