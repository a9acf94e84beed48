/// Host names as they appear in SNI and `:authority`.
public enum HostName {
    /// Lower-cases a DNS host name and drops one trailing dot; nil unless it is a plausible
    /// LDH name (RFC 1123 §2.1), so nothing odd ever reaches a log line or a lookup.
    public static func normalize<S: Sequence>(_ bytes: S) -> String? where S.Element == UInt8 {
        var out: [UInt8] = []
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."):
                out.append(byte)
            case UInt8(ascii: "A")...UInt8(ascii: "Z"):
                out.append(byte + 32)
            default:
                return nil
            }
        }
        if out.last == UInt8(ascii: ".") { out.removeLast() }
        guard !out.isEmpty, out.count <= 253, out.first != UInt8(ascii: "."),
              !out.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).contains(where: { $0.isEmpty || $0.count > 63 })
        else { return nil }
        return String(decoding: out, as: UTF8.self)
    }

    public static func normalize(_ string: String) -> String? { normalize(Array(string.utf8)) }

    /// The tenant id of `<id>.<domain>`, or nil when `host` is not directly below `domain`.
    public static func tenant(of host: String, domain: String) -> String? {
        let suffix = "." + domain
        guard host.hasSuffix(suffix) else { return nil }
        let label = host.dropLast(suffix.count)
        guard !label.isEmpty, !label.contains(".") else { return nil }
        return String(label)
    }
}
