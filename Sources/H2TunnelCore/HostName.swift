/// Host names as they appear in SNI and `:authority`.
public enum HostName {
    /// Lower-cases a DNS host name and drops one trailing dot; nil unless it is a plausible
    /// LDH name (RFC 1123 §2.1), so nothing odd ever reaches a log line or a lookup.
    ///
    /// One pass that checks each label as its dot arrives: every public connection's SNI
    /// comes through here, and splitting the name into an array of labels to check them
    /// afterwards cost ~2,000 instructions a connection (callgrind). Inlinable, so callers
    /// in other modules get it specialised to their bytes: the generic one costs ~8,000.
    @inlinable
    public static func normalize<S: Sequence>(_ bytes: S) -> String? where S.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount)
        var label = 0
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"):
                out.append(byte)
                label += 1
            case UInt8(ascii: "A")...UInt8(ascii: "Z"):
                out.append(byte + 32)
                label += 1
            case UInt8(ascii: "."):
                guard label > 0 else { return nil }   // a leading dot, or two in a row
                out.append(byte)
                label = 0
            default:
                return nil
            }
            guard label <= 63 else { return nil }
        }
        if label == 0, out.last == UInt8(ascii: ".") { out.removeLast() }
        guard !out.isEmpty, out.count <= 253 else { return nil }
        return String(decoding: out, as: UTF8.self)
    }

    public static func normalize(_ string: String) -> String? { normalize(Array(string.utf8)) }

    /// The tenant id of `<id>.<domain>`, or nil when `host` is not directly below `domain`.
    ///
    /// Compares UTF-8 bytes in place: every public connection asks this once, and `host`
    /// is an SNI name already `normalize`d to lower-case LDH ASCII, where bytes and
    /// characters are the same thing. `String.hasSuffix` (Unicode canonical equivalence)
    /// cost the relay ~1.5 % of its CPU per new connection (perf), and walking the views'
    /// indices ~2,800 instructions (callgrind).
    public static func tenant(of host: String, domain: String) -> String? {
        var host = host, domain = domain
        return host.withUTF8 { name in
            domain.withUTF8 { zone -> String? in
                let labelCount = name.count - zone.count - 1
                guard labelCount > 0, name[labelCount] == UInt8(ascii: "."),
                      name[(labelCount + 1)...].elementsEqual(zone) else { return nil }
                let label = UnsafeBufferPointer(rebasing: name[..<labelCount])
                guard !label.contains(UInt8(ascii: ".")) else { return nil }
                return String(decoding: label, as: UTF8.self)
            }
        }
    }
}
