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
    ///
    /// Compares UTF-8 bytes: every public connection asks this once, and `host` is an
    /// SNI name already `normalize`d to lower-case LDH ASCII, where bytes and characters
    /// are the same thing. `String.hasSuffix` (Unicode canonical equivalence) and the
    /// `"." + domain` it needed cost the relay ~1.5 % of its CPU per new connection (perf).
    public static func tenant(of host: String, domain: String) -> String? {
        let name = host.utf8, zone = domain.utf8
        let labelCount = name.count - zone.count - 1
        guard labelCount > 0 else { return nil }
        let dot = name.index(name.startIndex, offsetBy: labelCount)
        guard name[dot] == UInt8(ascii: "."), name[name.index(after: dot)...].elementsEqual(zone) else { return nil }
        let label = name[..<dot]
        guard !label.contains(UInt8(ascii: ".")) else { return nil }
        return String(decoding: label, as: UTF8.self)
    }
}
